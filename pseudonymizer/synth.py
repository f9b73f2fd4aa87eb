"""Synthetic *identifying* SNDS-like sources, for demos, tests and benchmarks.

:func:`generate` writes five Parquet tables into a folder, ``<TABLE>.parquet``:

- ``IR_BEN_R``: the beneficiaries (one row per person), with direct identifiers (NIR, name,
  address, phone, e-mail) and the SNDS pseudonyms ``BEN_NIR_PSA``, ``BEN_NIR_ANO``, ``BEN_IDT_ANO``;
- ``ER_PRS_F``: care sheets (DCIR), joined to ``IR_BEN_R`` on ``(BEN_NIR_PSA, BEN_RNG_GEM)``;
- ``T_MCOaaB`` / ``T_MCOaaC``: hospital stays (PMSI MCO) and their patient link ``NIR_ANO_17``;
- ``KI_CCI_R``: causes of death, joined on ``BEN_IDT_ANO``.

Their Table Schemas and roles are in ``pseudonymizer/catalogs/synthetic``. Every foreign key
resolves to a person of ``IR_BEN_R``, and the data carry the traps of the real SNDS:

- about 1% of people have a fictive or temporary NIR (``BEN_CDI_NIR`` not ``"00"``): they share a
  handful of ``BEN_NIR_PSA`` values, so hashing ``BEN_NIR_PSA`` naively merges them into a few
  "people". Their ``BEN_IDT_ANO`` stays unique. The PMSI has no ``BEN_CDI_NIR``: their hospital
  stays fail the NIR check instead (``NIR_RET = "1"``, placeholder ``NIR_ANO_17``);
- twins (``BEN_RNG_GEM = 2``) share their sibling's ``BEN_NIR_PSA``: only the pair
  ``(BEN_NIR_PSA, BEN_RNG_GEM)`` tells them apart;
- besides those, about 1% of ``T_MCOaaC`` rows failed the NIR check (``NIR_RET = "1"``) and carry
  the placeholder ``XXXXXXXXXXXXXXXXX``: every ``NIR_RET = "0"`` row links one real person (or twins).

Everything is vectorised (numpy + pyarrow compute; loops run only over small fixed tables and over
chunks), deterministic for a seed (same arguments -> byte-identical files) and bounded in memory:
care sheets are made and written by chunks of :data:`CHUNK_ROWS` rows, each from its own seeded
generator. Files are written under temporary names and renamed only once all of them are complete.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from .errors import PseudonymizerError

CHUNK_ROWS = 1_000_000  # care-sheet rows per chunk (and per Parquet row group)
MAX_PEOPLE = 100_000_000  # phone numbers are unique up to 10**8 people
COMPRESSION = "zstd"

# The tables' columns and types are those of their Table Schemas in the synthetic catalog (one
# place for the fact), in the Arrow types the pseudonymizer reads them as.
CATALOG = Path(__file__).resolve().parent / "catalogs" / "synthetic" / "catalog.toml"
TABLES = ("IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC", "KI_CCI_R")


def _schemas() -> dict[str, pa.Schema]:
    from .catalog import load_catalog
    from .reading import arrow_type

    catalog = load_catalog(CATALOG)
    return {name: pa.schema([(c.name, arrow_type(c)) for c in catalog.table(name).columns]) for name in TABLES}


SCHEMAS: dict[str, pa.Schema] = _schemas()

# --- the population -------------------------------------------------------------------------
CARE_START = np.datetime64("2015-01-01", "D")
CARE_END = np.datetime64("2023-12-31", "D")  # also the "today" of the ages
END_YEAR = 2023
MAX_AGE = END_YEAR - 1920  # born 1920..2023
FICTIVE_SHARE = 0.01
FICTIVE_CODES = ("01", "03", "04", "05", "06", "08", "09", "11")
FICTIVE_PSA_COUNT = 5
TWIN_SHARE = 0.008
STAYS_PER_PERSON = 0.15
NIR_RET_FAILED_SHARE = 0.01
PLACEHOLDER_NIR = "X" * 17
DCT_ORD_BASE = 1_000_000_000

# Metropolitan departments (no Corsica): code, population in thousands (about 2020), prefecture.
DEPARTMENTS: tuple[tuple[int, int, str], ...] = (
    (1, 650, "Bourg-en-Bresse"), (2, 530, "Laon"), (3, 335, "Moulins"), (4, 165, "Digne-les-Bains"),
    (5, 141, "Gap"), (6, 1090, "Nice"), (7, 328, "Privas"), (8, 270, "Charleville-Mézières"),
    (9, 153, "Foix"), (10, 310, "Troyes"), (11, 375, "Carcassonne"), (12, 279, "Rodez"),
    (13, 2040, "Marseille"), (14, 695, "Caen"), (15, 144, "Aurillac"), (16, 352, "Angoulême"),
    (17, 650, "La Rochelle"), (18, 302, "Bourges"), (19, 240, "Tulle"), (21, 534, "Dijon"),
    (22, 600, "Saint-Brieuc"), (23, 116, "Guéret"), (24, 413, "Périgueux"), (25, 540, "Besançon"),
    (26, 516, "Valence"), (27, 600, "Évreux"), (28, 431, "Chartres"), (29, 915, "Quimper"),
    (30, 748, "Nîmes"), (31, 1400, "Toulouse"), (32, 191, "Auch"), (33, 1620, "Bordeaux"),
    (34, 1175, "Montpellier"), (35, 1080, "Rennes"), (36, 219, "Châteauroux"), (37, 610, "Tours"),
    (38, 1270, "Grenoble"), (39, 259, "Lons-le-Saunier"), (40, 413, "Mont-de-Marsan"), (41, 330, "Blois"),
    (42, 765, "Saint-Étienne"), (43, 227, "Le Puy-en-Velay"), (44, 1430, "Nantes"), (45, 680, "Orléans"),
    (46, 174, "Cahors"), (47, 331, "Agen"), (48, 76, "Mende"), (49, 820, "Angers"),
    (50, 495, "Saint-Lô"), (51, 567, "Châlons-en-Champagne"), (52, 172, "Chaumont"), (53, 307, "Laval"),
    (54, 733, "Nancy"), (55, 184, "Bar-le-Duc"), (56, 760, "Vannes"), (57, 1045, "Metz"),
    (58, 204, "Nevers"), (59, 2610, "Lille"), (60, 830, "Beauvais"), (61, 280, "Alençon"),
    (62, 1465, "Arras"), (63, 662, "Clermont-Ferrand"), (64, 683, "Pau"), (65, 229, "Tarbes"),
    (66, 480, "Perpignan"), (67, 1140, "Strasbourg"), (68, 765, "Colmar"), (69, 1875, "Lyon"),
    (70, 235, "Vesoul"), (71, 552, "Mâcon"), (72, 566, "Le Mans"), (73, 436, "Chambéry"),
    (74, 826, "Annecy"), (75, 2165, "Paris"), (76, 1255, "Rouen"), (77, 1420, "Melun"),
    (78, 1450, "Versailles"), (79, 375, "Niort"), (80, 570, "Amiens"), (81, 389, "Albi"),
    (82, 260, "Montauban"), (83, 1075, "Toulon"), (84, 561, "Avignon"), (85, 685, "La Roche-sur-Yon"),
    (86, 438, "Poitiers"), (87, 373, "Limoges"), (88, 365, "Épinal"), (89, 335, "Auxerre"),
    (90, 141, "Belfort"), (91, 1300, "Évry-Courcouronnes"), (92, 1625, "Nanterre"), (93, 1650, "Bobigny"),
    (94, 1400, "Créteil"), (95, 1250, "Cergy"),
)
COMMUNES_PER_DEPARTMENT = 30
COMMUNE_BASES = (
    "Saint-Martin", "Saint-Germain", "Saint-Pierre", "Saint-Jean", "Sainte-Marie", "Saint-Laurent",
    "Saint-Denis", "Sainte-Croix", "Villeneuve", "Villiers", "Villers", "Montigny", "Beaumont",
    "Fontaine", "Neuville", "Châteauneuf", "Bellevue", "Belleville", "Chaumont", "Clermont",
    "Rochefort", "Montreuil", "Bourg", "Champigny", "Marcilly", "Vaux", "Auberive", "Boissy", "Brie",
    "Chambly", "Cormeilles", "Dampierre", "Fresnes", "Givry", "Juvigny", "Lagny", "Longeville",
    "Mareuil", "Le Mesnil", "Noisy", "Quincy", "Romilly", "Savigny", "Varennes", "Verneuil", "Les Granges",
)
COMMUNE_SUFFIXES = (
    "", "", "", "", "-sur-Mer", "-sur-Loire", "-sur-Seine", "-sur-Marne", "-sur-Saône", "-les-Bains",
    "-le-Château", "-la-Forêt", "-le-Vieux", "-le-Grand", "-le-Petit", "-sous-Bois", "-en-Vallée",
    "-la-Rivière", "-les-Vignes", "-du-Lac",
)
MALE_FIRST_NAMES = (
    "Jean", "Pierre", "Michel", "André", "Philippe", "Alain", "Jacques", "Bernard", "Daniel", "Patrick",
    "Nicolas", "Christophe", "Stéphane", "Laurent", "Frédéric", "Éric", "Thierry", "Olivier", "Julien",
    "Sébastien", "David", "Guillaume", "Thomas", "Alexandre", "Antoine", "Maxime", "Hugo", "Lucas",
    "Louis", "Gabriel", "Raphaël", "Arthur", "Jules", "Léo", "Paul", "Adam", "Nathan", "Théo", "Mathis",
    "Enzo", "Noah", "Mohamed", "Karim", "Yanis", "François", "Gérard", "Claude", "René", "Marcel",
    "Henri", "Jean-Pierre", "Jean-Claude",
)
FEMALE_FIRST_NAMES = (
    "Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie", "Isabelle", "Sylvie", "Anne",
    "Martine", "Christine", "Valérie", "Sandrine", "Céline", "Stéphanie", "Sophie", "Aurélie", "Julie",
    "Émilie", "Camille", "Laura", "Manon", "Léa", "Chloé", "Emma", "Jade", "Louise", "Alice", "Lina",
    "Inès", "Sarah", "Clara", "Zoé", "Lucie", "Juliette", "Pauline", "Marion", "Mathilde", "Élise",
    "Hélène", "Nicole", "Jacqueline", "Simone", "Yvette", "Denise", "Odette", "Fatima", "Amina",
    "Yasmine", "Chantal", "Brigitte", "Michèle",
)
LAST_NAMES = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure",
    "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand",
    "Gauthier", "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel",
    "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël",
    "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet",
    "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy",
    "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud",
    "Dumas", "Lacroix", "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc",
    "Payet", "Rolland", "Le Gall", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuis", "Guillot",
    "Hubert", "Berger", "Carpentier", "Sanchez", "Moulin", "Le Goff", "N'Diaye", "Nguyen", "Haddad",
)
STREET_TYPES = (("rue", 60), ("avenue", 12), ("boulevard", 5), ("place", 4), ("impasse", 7), ("chemin", 6), ("allée", 6))
STREET_NAMES = (
    "de la République", "Victor Hugo", "Jean Jaurès", "de la Gare", "du Général de Gaulle", "Pasteur",
    "des Écoles", "de l'Église", "du Moulin", "Gambetta", "de la Liberté", "Jules Ferry", "du Château",
    "de Verdun", "de la Paix", "Nationale", "des Lilas", "du Stade", "de Paris", "Émile Zola", "Voltaire",
    "Carnot", "du Maréchal Foch", "des Tilleuls", "de la Mairie", "du Commerce", "Saint-Michel",
    "des Acacias", "du 8 Mai 1945", "du 11 Novembre", "Jean Moulin", "Anatole France", "de la Fontaine",
    "des Peupliers", "du Port", "Lamartine", "Aristide Briand", "des Rosiers", "de la Poste", "des Vignes",
)
MAIL_DOMAINS = (
    ("gmail.com", 35), ("orange.fr", 18), ("free.fr", 10), ("laposte.net", 8), ("hotmail.fr", 10),
    ("sfr.fr", 6), ("yahoo.fr", 7), ("wanadoo.fr", 6),
)

# --- care sheets: act code, weight, base price (EUR), reimbursement rate, max quantity,
# price dispersion (log-normal sigma), share with an extra fee and its mean, executing specialties.
ACTS: tuple[tuple[int, float, float, float, int, float, float, float, tuple[int, ...]], ...] = (
    (1111, 30.0, 25.00, 0.70, 1, 0.00, 0.05, 0.30, (1,)),  # consultation (GP)
    (1112, 10.0, 30.00, 0.70, 1, 0.10, 0.40, 0.50, (3, 5, 7, 8, 11, 12, 13, 14, 15, 33)),  # specialist
    (1211, 3.0, 35.00, 0.70, 1, 0.00, 0.05, 0.20, (1,)),  # home visit
    (1318, 0.3, 40.00, 0.70, 1, 0.20, 0.20, 0.30, (11,)),
    (1321, 1.5, 120.0, 0.70, 1, 0.60, 0.40, 0.60, (4, 41, 43)),  # surgery
    (1331, 3.0, 40.00, 0.70, 1, 0.40, 0.10, 0.20, (6,)),  # radiology
    (1351, 2.0, 70.00, 0.70, 1, 0.50, 0.10, 0.20, (6,)),  # imaging
    (3111, 8.0, 3.15, 0.60, 6, 0.00, 0.00, 0.00, (24,)),  # nursing
    (3211, 12.0, 25.00, 0.60, 1, 0.60, 0.00, 0.00, (38,)),  # biology
    (3313, 28.0, 12.00, 0.65, 4, 0.80, 0.00, 0.00, (50,)),  # pharmacy 65%
    (3317, 1.2, 150.0, 1.00, 2, 1.00, 0.00, 0.00, (50,)),  # hospital pharmacy 100%
)
# ICD-10, SNDS style (no dot).
STAY_DIAGNOSES = (
    "I210", "I214", "I500", "I480", "I639", "I64", "I269", "I110", "I839", "J189", "J440", "J441",
    "J960", "J181", "K359", "K800", "K802", "K564", "K409", "K429", "K570", "N390", "N179", "N200",
    "S720", "S721", "S062", "S525", "C349", "C509", "C187", "C61", "C679", "O800", "O820", "Z380",
    "Z511", "Z491", "E119", "E871", "F101", "F329", "G409", "G459", "R55", "R074", "H251", "M170",
    "M161", "L031", "A419", "D500", "R100", "T814",
)
DEATH_CAUSES = (
    "I219", "I64", "I251", "I500", "I709", "C349", "C509", "C189", "C61", "C259", "C169", "C220",
    "J449", "J189", "G309", "F03", "E149", "N189", "K746", "A419", "X59", "X70", "W19", "V892", "R99",
)


# --- small vectorised helpers ---------------------------------------------------------------
def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, as an (n, width) uint8 ASCII matrix."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.astype(np.int64)  # a copy
    for j in range(width - 1, -1, -1):  # a loop over the digits, not the rows
        out[:, j] = rest % 10 + ord("0")
        rest //= 10
    return out


def _fixed(chars: np.ndarray) -> pa.Array:
    """An (n, width) uint8 ASCII matrix as an Arrow string array, without a Python loop."""
    n, width = chars.shape
    data = np.ascontiguousarray(chars).reshape(-1)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)


def _random_ids(rng: np.random.Generator, n: int, width: int = 17) -> np.ndarray:
    return _ALNUM[rng.integers(0, len(_ALNUM), size=(n, width), dtype=np.uint8)]


def _weighted(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _age(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Age in completed years at a date (both as days since 1970-01-01)."""
    by, bm, bd = _ymd(birth)
    ay, am, ad = _ymd(at)
    return ay - by - ((am * 100 + ad) < (bm * 100 + bd)).astype(np.int64)


def _date(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), type=pa.date32(), mask=mask)


def _pick(values, idx: np.ndarray) -> pa.Array:
    return pa.array(list(values), type=pa.string()).take(pa.array(idx))


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum() or c == "-")


def _table(name: str, arrays: dict[str, pa.Array | np.ndarray]) -> pa.Table:
    schema = SCHEMAS[name]
    cols = [pa.array(arrays[f.name], type=f.type) if isinstance(arrays[f.name], np.ndarray) else arrays[f.name]
            for f in schema]
    for f, col in zip(schema, cols):
        if col.type != f.type:  # a bug, not an input problem
            raise TypeError(f"{name}.{f.name}: {col.type} != {f.type}")
    return pa.Table.from_arrays(cols, schema=schema)


# --- geography ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geography:
    dept: np.ndarray  # (D,) department numbers
    dept_weight: np.ndarray  # (D,) population shares
    commune_weight: np.ndarray  # (K,) shares of the communes within a department
    insee: pa.Array  # (D*K,) INSEE commune codes, dept-major
    insee3: np.ndarray  # (D, K) the 3 commune digits
    postcode: pa.Array  # (D*K,)
    name: pa.Array  # (D*K,)
    hospitals: pa.Array  # (H,) FINESS numbers
    hospital_dept: np.ndarray  # (H,) department index of each hospital
    dept_hospitals: np.ndarray  # (D, max) hospital indices of each department, padded
    dept_hospital_count: np.ndarray  # (D,)


def _geography(rng: np.random.Generator) -> _Geography:
    n_dept, k = len(DEPARTMENTS), COMMUNES_PER_DEPARTMENT
    dept = np.array([d for d, _, _ in DEPARTMENTS], dtype=np.int64)
    pop = np.array([p for _, p, _ in DEPARTMENTS], dtype=np.float64)
    # commune 0 is the prefecture (postcode DD000), the others are smaller towns
    insee3 = np.stack([np.sort(rng.choice(np.arange(1, 700), size=k, replace=False)) for _ in range(n_dept)])
    insee3 = np.take_along_axis(insee3, np.argsort(rng.random((n_dept, k)), axis=1), axis=1)
    post3 = np.concatenate([np.zeros((n_dept, 1), np.int64), 10 * rng.integers(1, 100, size=(n_dept, k - 1))], axis=1)
    insee = _fixed(np.concatenate([_digits(np.repeat(dept, k), 2), _digits(insee3.reshape(-1), 3)], axis=1))
    postcode = _fixed(_digits(np.repeat(dept, k) * 1000 + post3.reshape(-1), 5))
    base = rng.integers(0, len(COMMUNE_BASES), size=(n_dept, k))
    suffix = rng.integers(0, len(COMMUNE_SUFFIXES), size=(n_dept, k))
    names = [
        [DEPARTMENTS[d][2] if j == 0 else COMMUNE_BASES[base[d, j]] + COMMUNE_SUFFIXES[suffix[d, j]] for j in range(k)]
        for d in range(n_dept)
    ]
    # hospitals: about one per 300,000 inhabitants, at least one per department
    per_dept = 1 + np.round(pop / 300).astype(np.int64)
    hospital_dept = np.repeat(np.arange(n_dept), per_dept)
    finess_tail = rng.choice(1_000_000, size=len(hospital_dept), replace=False)
    hospitals = _fixed(np.concatenate(
        [_digits(dept[hospital_dept], 2), np.full((len(hospital_dept), 1), ord("0"), np.uint8), _digits(finess_tail, 6)],
        axis=1,
    ))
    dept_hospitals = np.zeros((n_dept, per_dept.max()), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(per_dept)[:-1]])
    for d in range(n_dept):
        dept_hospitals[d, : per_dept[d]] = starts[d] + np.arange(per_dept[d])
    return _Geography(
        dept=dept,
        dept_weight=pop / pop.sum(),
        commune_weight=1.0 / (np.arange(k) + 1.0) ** 1.1,
        insee=insee,
        insee3=insee3,
        postcode=postcode,
        name=pa.array([n for row in names for n in row], type=pa.string()),
        hospitals=hospitals,
        hospital_dept=hospital_dept,
        dept_hospitals=dept_hospitals,
        dept_hospital_count=per_dept,
    )


# --- people ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _People:
    n: int
    table: pa.Table  # IR_BEN_R
    psa: pa.Array
    gem: np.ndarray
    cdi: pa.Array
    sex: np.ndarray
    birth: np.ndarray  # days since epoch
    death: np.ndarray  # days since epoch, -1 when alive
    res_dept: np.ndarray  # department index
    res_commune: np.ndarray  # flat commune index in the geography
    postcode: pa.Array
    lo: np.ndarray  # first day of the care window
    span: np.ndarray  # days in the care window (>= 1)
    care_cdf: np.ndarray  # who gets care sheets
    stay_cdf: np.ndarray  # who gets hospital stays


def _age_weights() -> np.ndarray:
    ages = np.arange(MAX_AGE + 1, dtype=np.float64)
    return np.where(ages < 60, 1.0, np.exp(-(((ages - 60) / 22.0) ** 2)))


def _nir13(sex, birth, dept_num, commune3, order) -> np.ndarray:
    year, month, _ = _ymd(birth)
    return (sex * 10**12 + (year % 100) * 10**10 + month * 10**8 + dept_num * 10**6 + commune3 * 10**3 + order).astype(np.int64)


def _people(rng: np.random.Generator, n: int, geo: _Geography) -> _People:
    k = COMMUNES_PER_DEPARTMENT
    sex = np.where(rng.random(n) < 0.515, 2, 1).astype(np.int64)
    age = _weighted(rng, _age_weights(), n)
    year = END_YEAR - age
    jan1 = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    year_len = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    birth = jan1 + (rng.random(n) * year_len).astype(np.int64)
    birth_dept = _weighted(rng, geo.dept_weight, n)
    birth_commune = _weighted(rng, geo.commune_weight, n)
    moved = rng.random(n) < 0.3
    res_dept = np.where(moved, _weighted(rng, geo.dept_weight, n), birth_dept)
    res_commune = res_dept * k + _weighted(rng, geo.commune_weight, n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    street_no = 1 + (150 * rng.random(n) ** 2).astype(np.int64)
    street_type = _weighted(rng, [w for _, w in STREET_TYPES], n)
    street_name = rng.integers(0, len(STREET_NAMES), size=n)

    fictive = rng.random(n) < FICTIVE_SHARE
    gem = np.ones(n, dtype=np.int64)
    # twins: rank 2, same birth date, sex, family and home as their rank-1 sibling, same BEN_NIR_PSA
    candidates = rng.permutation(np.flatnonzero(~fictive))
    n_twins = int(round(TWIN_SHARE * len(candidates)))
    twins, siblings = candidates[:n_twins], candidates[n_twins : 2 * n_twins]
    gem[twins] = 2
    for arr in (sex, birth, birth_dept, birth_commune, res_dept, res_commune, last, street_no, street_type, street_name):
        arr[twins] = arr[siblings]

    # NIR: sex, YY, MM, birth department, birth commune, order number (unique), then the key
    dept_num = geo.dept[birth_dept]
    commune3 = geo.insee3[birth_dept, birth_commune]
    order = rng.integers(1, 1000, size=n)
    nir13 = _nir13(sex, birth, dept_num, commune3, order)
    while True:  # redraw the order number of duplicates (a handful of rounds at most)
        srt = np.argsort(nir13, kind="stable")
        dup = np.zeros(n, dtype=bool)
        dup[srt[1:]] = nir13[srt[1:]] == nir13[srt[:-1]]
        if not dup.any():
            break
        order[dup] = rng.integers(1, 1000, size=int(dup.sum()))
        nir13 = _nir13(sex, birth, dept_num, commune3, order)
    key = 97 - nir13 % 97
    nir = _fixed(np.concatenate([_digits(nir13, 13), _digits(key, 2)], axis=1))

    psa = _random_ids(rng, n)
    psa[twins] = psa[siblings]
    fictive_psa = _random_ids(rng, FICTIVE_PSA_COUNT)
    psa[fictive] = fictive_psa[rng.integers(0, FICTIVE_PSA_COUNT, size=int(fictive.sum()))]
    cdi_idx = np.zeros(n, dtype=np.int64)
    cdi_idx[fictive] = 1 + rng.integers(0, len(FICTIVE_CODES), size=int(fictive.sum()))
    cdi = _pick(("00",) + FICTIVE_CODES, cdi_idx)
    nir_ano = _random_ids(rng, n)
    idt_ano = _random_ids(rng, n)

    # names, contact
    first_m = rng.integers(0, len(MALE_FIRST_NAMES), size=n)
    first_f = rng.integers(0, len(FEMALE_FIRST_NAMES), size=n)
    first_idx = np.where(sex == 1, first_m, len(MALE_FIRST_NAMES) + first_f)
    first_names = MALE_FIRST_NAMES + FEMALE_FIRST_NAMES
    first = _pick(first_names, first_idx)
    last_arr = _pick(LAST_NAMES, last)
    address = pc.binary_join_element_wise(
        pc.cast(pa.array(street_no), pa.string()),
        _pick([t for t, _ in STREET_TYPES], street_type),
        _pick(STREET_NAMES, street_name),
        " ",
    )
    a = 7_919_113  # coprime with 10**8: i -> a*i + b (mod 10**8) is a bijection, so phones are unique
    tail = (a * rng.permutation(n).astype(np.int64) + int(rng.integers(0, 10**8))) % 10**8
    prefix = np.where(rng.random(n) < 0.7, 6, 7)
    phone = _fixed(np.concatenate([_digits(prefix, 2), _digits(tail, 8)], axis=1))
    mail_no = pc.cast(pa.array(rng.integers(1, 1000, size=n)), pa.string())
    mail_no = pc.if_else(pa.array(rng.random(n) < 0.35), pa.scalar(""), mail_no)
    domain = _weighted(rng, [w for _, w in MAIL_DOMAINS], n)
    mail = pc.binary_join_element_wise(
        _pick([_ascii(x) for x in first_names], first_idx),
        ".",
        _pick([_ascii(x) for x in LAST_NAMES], last),
        mail_no,
        "@",
        _pick([d for d, _ in MAIL_DOMAINS], domain),
        "",
    )

    # deaths, between 2015 and 2023, more likely with age (about 5% of people)
    age_end = _age(birth, np.full(n, CARE_END.astype(np.int64)))
    dead = rng.random(n) < 0.004 + 0.35 * (np.maximum(age_end, 0) / MAX_AGE) ** 3
    lo = np.maximum(birth, CARE_START.astype(np.int64))
    death_day = lo + (rng.random(n) * (CARE_END.astype(np.int64) - lo + 1)).astype(np.int64)
    death = np.where(dead, death_day, -1)
    hi = np.where(dead, death, CARE_END.astype(np.int64))
    span = hi - lo + 1
    full = float(CARE_END.astype(np.int64) - CARE_START.astype(np.int64) + 1)
    # care sheets: heterogeneous activity, growing with age, over the days the person is alive
    activity = rng.gamma(0.8, 1.0, size=n) * (1.0 + (age_end / 40.0) ** 2) * (span / full)
    stay_risk = rng.gamma(1.5, 1.0, size=n) * (0.3 + (age_end / 35.0) ** 2) * (span / full)
    stay_risk[(age_end >= 20) & (age_end < 45) & (sex == 2)] *= 2.0  # births

    postcode = geo.postcode.take(pa.array(res_commune))
    table = _table("IR_BEN_R", {
        "BEN_NIR": nir,
        "BEN_NIR_PSA": _fixed(psa),
        "BEN_RNG_GEM": gem,
        "BEN_NIR_ANO": _fixed(nir_ano),
        "BEN_IDT_ANO": _fixed(idt_ano),
        "BEN_CDI_NIR": cdi,
        "BEN_PRN": first,
        "BEN_NOM": last_arr,
        "BEN_ADR": address,
        "BEN_CP": postcode,
        "BEN_RES_COM": geo.insee.take(pa.array(res_commune)),
        "BEN_COM_LIB": geo.name.take(pa.array(res_commune)),
        "BEN_TEL": phone,
        "BEN_MEL": mail,
        "BEN_NAI_DTE": _date(birth),
        "BEN_NAI_ANN": _ymd(birth)[0],
        "BEN_SEX_COD": sex,
        "BEN_DCD_DTE": _date(np.where(dead, death, 0), mask=~dead),
    })
    return _People(
        n=n, table=table, psa=table.column("BEN_NIR_PSA").combine_chunks(), gem=gem, cdi=cdi, sex=sex,
        birth=birth, death=death, res_dept=res_dept, res_commune=res_commune, postcode=postcode,
        lo=lo, span=span, care_cdf=_cdf(activity), stay_cdf=_cdf(stay_risk),
    )


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=np.float64)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _draw_people(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


# --- care sheets ----------------------------------------------------------------------------
def _care_chunk(rng: np.random.Generator, people: _People, start: int, size: int) -> pa.Table:
    who = _draw_people(rng, people.care_cdf, size)
    soi = people.lo[who] + (rng.random(size) * people.span[who]).astype(np.int64)
    dis = soi + 1 + rng.gamma(2.0, 8.0, size=size).astype(np.int64)
    act = _weighted(rng, [a[1] for a in ACTS], size)
    base = np.array([a[2] for a in ACTS])[act]
    rate = np.array([a[3] for a in ACTS])[act]
    qty_max = np.array([a[4] for a in ACTS])[act]
    sigma = np.array([a[5] for a in ACTS])[act]
    fee_share = np.array([a[6] for a in ACTS])[act]
    fee_mean = np.array([a[7] for a in ACTS])[act]
    spe_opts = np.zeros((len(ACTS), max(len(a[8]) for a in ACTS)), dtype=np.int64)
    for i, a in enumerate(ACTS):
        spe_opts[i, : len(a[8])] = a[8]
    spe_count = np.array([len(a[8]) for a in ACTS])[act]
    spe = spe_opts[act, (rng.random(size) * spe_count).astype(np.int64)]
    qty = 1 + (rng.random(size) ** 2 * qty_max).astype(np.int64)
    tariff = base * qty * np.exp(sigma * rng.standard_normal(size) - sigma**2 / 2)
    fee = np.where(rng.random(size) < fee_share, rng.exponential(1.0, size=size) * fee_mean, 0.0)
    rem_cents = np.floor(tariff * rate * 100.0)
    paid_cents = np.maximum(np.rint(tariff * (1.0 + fee) * 100.0), rem_cents)
    who_arr = pa.array(who)
    return _table("ER_PRS_F", {
        "BEN_NIR_PSA": people.psa.take(who_arr),
        "BEN_RNG_GEM": people.gem[who],
        "BEN_CDI_NIR": people.cdi.take(who_arr),
        "DCT_ORD_NUM": DCT_ORD_BASE + start + np.arange(size, dtype=np.int64),
        "EXE_SOI_DTD": _date(soi),
        "FLX_DIS_DTD": _date(dis),
        "PRS_NAT_REF": np.array([a[0] for a in ACTS], dtype=np.int64)[act],
        "PRS_ACT_QTE": qty,
        "PSE_SPE_COD": spe,
        "BSE_REM_MNT": rem_cents / 100.0,
        "PRS_PAI_MNT": paid_cents / 100.0,
        "BEN_AMA_COD": _age(people.birth[who], soi),
    })


# --- hospital stays and deaths --------------------------------------------------------------
def _stays(rng: np.random.Generator, people: _People, geo: _Geography) -> tuple[pa.Table, pa.Table]:
    size = int(round(STAYS_PER_PERSON * people.n))
    who = _draw_people(rng, people.stay_cdf, size)
    # hospital: one of the home department's 85% of the time, else any
    dept = people.res_dept[who]
    local = geo.dept_hospitals[dept, (rng.random(size) * geo.dept_hospital_count[dept]).astype(np.int64)]
    anywhere = rng.integers(0, len(geo.hospital_dept), size=size)
    hospital = np.where(rng.random(size) < 0.85, local, anywhere)
    # RSA_NUM: 1..n within each hospital, in random order
    order = np.lexsort((rng.random(size), hospital))
    sorted_h = hospital[order]
    group_start = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
    group_len = np.diff(np.r_[group_start, size])
    rank = np.arange(size) - np.repeat(group_start, group_len)
    rsa = np.empty(size, dtype=np.int64)
    rsa[order] = rank + 1
    # length of stay: a third are day cases, else geometric; inside the alive window
    nbj = np.where(rng.random(size) < 0.35, 0, rng.geometric(0.18, size=size)).astype(np.int64)
    span = people.span[who]
    nbj = np.minimum(nbj, span - 1)
    entry = people.lo[who] + (rng.random(size) * (span - nbj)).astype(np.int64)
    exit_ = entry + nbj
    exit_year, exit_month, _ = _ymd(exit_)
    eta = geo.hospitals.take(pa.array(hospital))
    who_arr = pa.array(who)
    diag = _weighted(rng, 1.0 / (np.arange(len(STAY_DIAGNOSES)) + 3.0), size)
    b = _table("T_MCOaaB", {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "DGN_PAL": _pick(STAY_DIAGNOSES, diag),
        "SEJ_NBJ": nbj,
        "AGE_ANN": _age(people.birth[who], entry),
        "COD_SEX": _pick(("1", "2"), people.sex[who] - 1),
        "BDI_COD": people.postcode.take(who_arr),
        "SOR_ANN": exit_year,
        "SOR_MOI": exit_month,
    })
    fictive = pc.not_equal(people.cdi.take(who_arr), "00").to_numpy(zero_copy_only=False)
    failed = (rng.random(size) < NIR_RET_FAILED_SHARE) | fictive
    nir17 = pc.if_else(pa.array(failed), pa.scalar(PLACEHOLDER_NIR), people.psa.take(who_arr))
    c = _table("T_MCOaaC", {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "NIR_ANO_17": nir17,
        "NIR_RET": _pick(("0", "1"), failed.astype(np.int64)),
        "EXE_SOI_DTD": _date(entry),
        "EXE_SOI_DTF": _date(exit_),
    })
    return b, c.take(pa.array(rng.permutation(size)))  # the link table is in its own order


def _deaths(rng: np.random.Generator, people: _People, geo: _Geography) -> pa.Table:
    dead = rng.permutation(np.flatnonzero(people.death >= 0))
    size = len(dead)
    # place of death: home commune 70% of the time, else a commune of the home department
    k = COMMUNES_PER_DEPARTMENT
    elsewhere = people.res_dept[dead] * k + _weighted(rng, geo.commune_weight, size)
    commune = np.where(rng.random(size) < 0.7, people.res_commune[dead], elsewhere)
    cause = _weighted(rng, 1.0 / (np.arange(len(DEATH_CAUSES)) + 2.0), size)
    return _table("KI_CCI_R", {
        "BEN_IDT_ANO": people.table.column("BEN_IDT_ANO").take(pa.array(dead)),
        "BEN_DCD_DTE": _date(people.death[dead]),
        "DCD_CIM_COD": _pick(DEATH_CAUSES, cause),
        "DCD_COM_COD": geo.insee.take(pa.array(commune)),
        "BEN_NAI_ANN": _ymd(people.birth[dead])[0],
    })


# --- entry point ----------------------------------------------------------------------------
def generate(
    out_dir: Path,
    people: int,
    seed: int,
    care_rows_per_person: float = 10.0,
    progress: bool = True,
) -> dict[str, int]:
    """Write the synthetic identifying sources as ``out_dir/<TABLE>.parquet``; return rows per table.

    The same arguments give byte-identical files. All tables are written under temporary names
    and renamed at the end: a failed run leaves the folder as it was.
    """
    if isinstance(people, bool) or not isinstance(people, (int, np.integer)) or not 1 <= people <= MAX_PEOPLE:
        raise PseudonymizerError(f"people = {people!r} is out of range", f"give a whole number from 1 to {MAX_PEOPLE:,}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PseudonymizerError(f"seed = {seed!r} is not a non-negative whole number", "give e.g. --seed 42")
    if (isinstance(care_rows_per_person, bool) or not isinstance(care_rows_per_person, (int, float, np.number))
            or not np.isfinite(care_rows_per_person) or care_rows_per_person < 0):
        raise PseudonymizerError(
            f"care_rows_per_person = {care_rows_per_person!r} is not a non-negative number", "give e.g. 10"
        )
    people, seed = int(people), int(seed)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PseudonymizerError(f"cannot create the output folder {out_dir}: {exc}", "pick a writable path") from None
    care_rows = int(round(people * care_rows_per_person))
    n_chunks = -(-care_rows // CHUNK_ROWS)
    temp = {t: out_dir / f".{t}.parquet.{os.getpid()}.partial" for t in TABLES}
    counts: dict[str, int] = {}
    steps = tqdm(total=len(TABLES), desc="synthetic sources", unit="table", file=sys.stderr, disable=not progress)
    try:
        geo = _geography(np.random.default_rng([seed, 4]))
        pop = _people(np.random.default_rng([seed, 0]), people, geo)
        pq.write_table(pop.table, temp["IR_BEN_R"], compression=COMPRESSION)
        counts["IR_BEN_R"] = pop.table.num_rows
        steps.update()

        rows = tqdm(total=care_rows, desc="ER_PRS_F", unit="row", unit_scale=True, file=sys.stderr,
                    disable=not progress, leave=False)
        with rows, pq.ParquetWriter(str(temp["ER_PRS_F"]), SCHEMAS["ER_PRS_F"], compression=COMPRESSION) as writer:
            for i in range(n_chunks):
                start = i * CHUNK_ROWS
                size = min(CHUNK_ROWS, care_rows - start)
                writer.write_table(_care_chunk(np.random.default_rng([seed, 1, i]), pop, start, size))
                rows.update(size)
        counts["ER_PRS_F"] = care_rows
        steps.update()

        stays_b, stays_c = _stays(np.random.default_rng([seed, 2]), pop, geo)
        pq.write_table(stays_b, temp["T_MCOaaB"], compression=COMPRESSION)
        pq.write_table(stays_c, temp["T_MCOaaC"], compression=COMPRESSION)
        counts["T_MCOaaB"], counts["T_MCOaaC"] = stays_b.num_rows, stays_c.num_rows
        steps.update(2)

        deaths = _deaths(np.random.default_rng([seed, 3]), pop, geo)
        pq.write_table(deaths, temp["KI_CCI_R"], compression=COMPRESSION)
        counts["KI_CCI_R"] = deaths.num_rows
        steps.update()

        for table, path in temp.items():
            os.replace(path, out_dir / f"{table}.parquet")
    except BaseException:
        for path in temp.values():
            path.unlink(missing_ok=True)
        raise
    finally:
        steps.close()
    return counts
