"""What each column of an output table is: first what the project's extracts declare, then its values.

Types (:class:`ColumnType`): ``count``, ``magnitude``, ``percentage`` (a share or a rate, with its
denominator column when the table has one), ``code`` (from a nomenclature), ``category`` (another
dimension: an age band, a year, a sex), ``date``, ``identifier`` (a pseudonym, a linkage key, a
value unique on every row) and ``text``. The disclosure checks take their columns by type: only
counts are checked for small cells, so a code is never a count.

The rules, each in one place:

1. **Declared** (:func:`declared_types`): the extract manifest says what every extract column is
   (its role, the nomenclature of its codes, its Arrow type, the coarsening rule of a
   quasi-identifier). A column of the output whose name is kept from an extract (``PSE_SPE_COD``,
   any case) carries that declaration: see :data:`DECLARED_BY_ROLE`, :data:`DECLARED_BY_RULE`.
2. **A declaration is believed only when the values agree** (:func:`_agrees`): it may only make a
   column *less* suspicious when its values fit. A numeric column named like a code must hold
   only values that column holds in the extracts; named like an amount it must not be all whole
   numbers. Otherwise a count renamed ``PSE_SPE_COD`` would hide its small cells. A declaration
   the values contradict is set aside, said so in :attr:`TypedColumn.note`, and the values decide.
3. **From values** (:func:`_from_values`): what the gate did before it knew the extracts: integer
   frequencies are counts, decimals in 0–100 or percent-like names are percentages, integer
   dimensions (years, ages, names such as ``age`` or ``code``) are categories, text unique on
   every row is an identifier.
4. **Denominators** (:func:`denominator_for`): a percentage's denominator is the count column
   named like one (:data:`DENOMINATOR_TOKENS`, English and French), the one sharing most words
   with the percentage when there are several.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .hexkeys import distinct_count


class ColumnType(StrEnum):
    count = "count"
    magnitude = "magnitude"
    percentage = "percentage"
    code = "code"
    category = "category"
    date = "date"
    identifier = "identifier"
    text = "text"


LABELS = (ColumnType.code, ColumnType.category, ColumnType.text)  # what a row is about, not a figure
NUMBERS = (ColumnType.count, ColumnType.magnitude)

SAMPLE = 10_000  # rows looked at before paying for a full distinct count
TEXT_MEAN_LENGTH = 40  # strings longer than this on average are free text, not labels

# --- rule 1: what an extract's declaration makes a column --------------------------------------------------

DECLARED_BY_ROLE = {"linkage": ColumnType.identifier}  # keyed pseudonyms
DECLARED_BY_RULE = {  # a coarsened quasi-identifier is what its rule makes of it
    "month": ColumnType.date, "year": ColumnType.date, "department": ColumnType.code, "age_band5": ColumnType.category,
}
NO_NOMENCLATURE = ("", "-")  # how a Table Schema says a column has no code list


@dataclass(frozen=True)
class Declaration:
    """What the extracts declare about one column name, and where they say it."""

    type: ColumnType
    source: str  # "ER_PRS_F.PSE_SPE_COD (nomenclature IR_SPE_V)", for findings
    values: tuple | None = None  # the distinct values the extracts hold, for a numeric code (rule 2)

    def to_dict(self) -> dict:
        return {"type": str(self.type), "source": self.source,
                "values": list(self.values) if self.values is not None else None}

    @classmethod
    def from_dict(cls, data: dict) -> "Declaration":
        values = data.get("values")
        return cls(ColumnType(data["type"]), data["source"], tuple(values) if values is not None else None)


def declared_type(column: dict) -> ColumnType | None:
    """The type one manifest column entry declares, or None when it declares none (the values decide)."""
    if column.get("role") in DECLARED_BY_ROLE:
        return DECLARED_BY_ROLE[column["role"]]
    if column.get("rule") in DECLARED_BY_RULE:
        return DECLARED_BY_RULE[column["rule"]]
    arrow = str(column.get("type", ""))
    if arrow.startswith(("date", "timestamp")):
        return ColumnType.date
    if str(column.get("nomenclature") or "") not in NO_NOMENCLATURE:
        return ColumnType.code
    if arrow in ("double", "float", "halffloat") or arrow.startswith("decimal"):
        return ColumnType.magnitude  # amounts, quantities measured: a sum of them is no frequency
    return None


def declared_types(manifest: dict) -> dict[str, Declaration]:
    """``{COLUMN NAME (upper case): Declaration}`` of every column an extract manifest declares.

    A name declared differently by two tables (rare: the SNDS names a column the same wherever it
    means the same) keeps no declaration: the values decide."""
    found: dict[str, Declaration] = {}
    conflicting: set[str] = set()
    for table, entry in sorted(manifest.get("tables", {}).items()):
        for column in entry.get("columns", []):
            kind = declared_type(column)
            if kind is None:
                continue
            name = str(column["name"]).upper()
            nomenclature = str(column.get("nomenclature") or "")
            why = f"nomenclature {nomenclature}" if nomenclature not in NO_NOMENCLATURE else (
                f"role {column.get('role')}" + (f", rule {column['rule']}" if column.get("rule") else ""))
            if name in found and found[name].type is not kind:
                conflicting.add(name)
            found.setdefault(name, Declaration(kind, f"extract {table}.{column['name']} ({why})"))
    return {name: d for name, d in found.items() if name not in conflicting}


# --- rule 3: from values (names only break ties) ------------------------------------------------------------

# Integer columns with these name tokens are dimensions, however their values look.
DIMENSION_TOKENS = {
    "id", "code", "year", "annee", "an", "age", "mois", "month", "week", "semaine", "dep", "departement",
    "region", "reg", "cp", "zip", "insee", "depcom", "commune", "rank", "rang", "index", "idx", "sexe", "sex",
    "classe", "group", "groupe", "cat", "categorie", "category", "level", "niveau", "version", "num", "numero",
    "department", "dept", "district", "county", "state", "area", "zone", "city", "town", "postcode", "zipcode",
    "cause", "diagnosis", "diag", "icd", "cim", "gender", "quarter", "trimestre", "day", "jour",
}
CODE_TOKENS = {"code", "icd", "cim", "diag", "diagnosis", "insee", "depcom", "cp", "zip", "postcode", "zipcode"}
# Integer columns with these name tokens are statistics (magnitudes), even when they look like codes.
STATISTIC_TOKENS = {"mean", "avg", "average", "median", "moyenne", "mediane", "sd", "std", "stddev", "variance", "iqr"}
PERCENT_TOKENS = {"pct", "percent", "percentage", "pourcent", "pourcentage", "taux", "rate", "share", "part", "prop",
                  "proportion", "ratio", "prevalence", "incidence", "frequence"}
# --- rule 4: the count column a percentage is a share of ----------------------------------------------------
DENOMINATOR_TOKENS = {"denominator", "denominateur", "denom", "total", "effectif", "effectifs", "n", "population",
                      "pop", "eligible", "exposed", "exposes"}
STRONG_DENOMINATOR_TOKENS = {"denominator", "denominateur", "denom", "effectif", "effectifs", "population", "total"}


def name_tokens(name: str) -> set[str]:
    """The words of a column name: 'nbPatients_2023' -> {'nb', 'patients', '2023'}."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return {t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t} | ({"pct"} if "%" in str(name) else set())


@dataclass(frozen=True)
class TypedColumn:
    """A column's type, and why: ``source`` is the declaration believed (None: from values)."""

    type: ColumnType
    source: str | None = None
    note: str | None = None  # a declaration the values contradict, for the steward


def type_column(name: str, array: pa.Array, values: np.ndarray | None, min_key_rows: int,
                declaration: Declaration | None = None, hexed=None, sorted_hi=None) -> TypedColumn:
    """The type of one column (``values``: its float64 view when numeric), by rules 1–3."""
    guessed = _from_values(name, array, values, min_key_rows, hexed, sorted_hi)
    if declaration is None or declaration.type is guessed:
        return TypedColumn(guessed, declaration.source if declaration else None)
    why_not = _agrees(declaration, array, values)
    if why_not is None:
        return TypedColumn(declaration.type, declaration.source)
    return TypedColumn(guessed, None, f"{name} is declared a {declaration.type} by {declaration.source}, but {why_not}: "
                                      f"typed {guessed} from its values")


def _agrees(declaration: Declaration, array: pa.Array, values: np.ndarray | None) -> str | None:
    """None when the values fit the declaration, else why not (rule 2)."""
    if values is None:
        return None  # text, dates, booleans are never counts: a declaration cannot hide one
    present = values[~np.isnan(values)]
    if declaration.type is ColumnType.magnitude:
        return "its values are all whole numbers" if len(present) and np.all(present == np.floor(present)) else None
    if declaration.type in (ColumnType.code, ColumnType.category) and declaration.values is not None:
        known = np.asarray([v for v in declaration.values if isinstance(v, (int, float))], dtype=float)
        outside = present[~np.isin(present, known)]
        return f"it holds {len(outside)} value(s) the extracts do not (e.g. {outside[0]:g})" if len(outside) else None
    return f"a number cannot be shown to be a {declaration.type} without the extracts' values"


def _from_values(name: str, array: pa.Array, values: np.ndarray | None, min_key_rows: int,
                 hexed=None, sorted_hi=None) -> ColumnType:
    t = array.type
    if pa.types.is_temporal(t):
        return ColumnType.date
    if values is None:
        n = len(array) - array.null_count
        if n >= min_key_rows and pa.types.is_string(t) and _all_distinct(array, hexed, sorted_hi):
            return ColumnType.identifier
        if pa.types.is_string(t) and n and _mean_length(array) > TEXT_MEAN_LENGTH:
            return ColumnType.text
        return ColumnType.code if name_tokens(name) & CODE_TOKENS else ColumnType.category
    present = values[~np.isnan(values)]
    tokens = name_tokens(name)
    if not len(present):
        return ColumnType.magnitude
    lo, hi = float(present.min()), float(present.max())
    integral = bool(np.all(present == np.floor(present)))
    if tokens & STATISTIC_TOKENS and not tokens & PERCENT_TOKENS:
        return ColumnType.magnitude
    if integral and lo >= 0 and not (tokens & PERCENT_TOKENS and hi <= 100 and pa.types.is_floating(t)):
        if tokens & DIMENSION_TOKENS or (lo >= 1900 and hi <= 2100 and pc.count_distinct(array).as_py() <= 200):
            return ColumnType.code if tokens & CODE_TOKENS else ColumnType.category
        if len(present) >= min_key_rows and pa.types.is_integer(t) and _all_distinct(array, None):
            return ColumnType.identifier
        return ColumnType.count
    if lo >= 0 and hi <= 100 and (tokens & PERCENT_TOKENS or not integral):
        return ColumnType.percentage
    return ColumnType.magnitude


def is_numeric(array: pa.Array) -> bool:
    t = array.type
    return not pa.types.is_boolean(t) and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _mean_length(array: pa.Array) -> float:
    head = array.slice(0, SAMPLE)
    lengths = pc.utf8_length(head)
    return float(pc.mean(lengths).as_py() or 0.0)


def _all_distinct(array: pa.Array, hexed, sorted_hi=None) -> bool:
    n = len(array) - array.null_count
    if hexed is not None and len(hexed[0]) == n:
        return distinct_count(hexed[1], hexed[2], sorted_hi) == n
    head = array.slice(0, SAMPLE).drop_null()
    if pc.count_distinct(head).as_py() < len(head):
        return False
    if pa.types.is_integer(array.type):
        values = np.sort(array.drop_null().to_numpy())
        return bool(np.all(np.diff(values) != 0))
    return pc.count_distinct(array).as_py() == n


def denominator_for(name: str, counts: list[str]) -> str | None:
    """The count column (of ``counts``) a percentage column ``name`` is a share of, by their names (rule 4).

    A count column is a denominator when its name has a denominator word (``denominateur``,
    ``effectif``, ``total``, ``n``…); among several, the one sharing most words with the
    percentage's name (``pct_deces_hommes`` → ``effectif_hommes``), a strong word
    (``denominateur``, ``population``…) breaking ties. None when no count is named like one."""
    own = name_tokens(name) - PERCENT_TOKENS
    scored = []
    for count in counts:
        tokens = name_tokens(count)
        if not tokens & DENOMINATOR_TOKENS or count == name:
            continue
        scored.append((len((tokens - DENOMINATOR_TOKENS) & own), bool(tokens & STRONG_DENOMINATOR_TOKENS), count))
    return max(scored)[2] if scored else None
