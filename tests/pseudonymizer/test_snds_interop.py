"""Interop with the real SNDS Table Schemas (Health Data Hub's public synthetic SNDS).

Reads the shared, read-only folder ../shared/data/synthetic-snds (from the repository root) with
the shipped catalog pseudonymizer/catalogs/snds/ (every table of the schemas), and writes only under
pytest's tmp paths. The synthetic BEN_CDI_NIR codes are random: most rows hold a fictive NIR code.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import Catalog, load_catalog
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import extract
from pseudonymizer.reading import arrow_type, find_source, iter_batches

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "synthetic-snds"
SCHEMAS = SHARED / "schemas"
CATALOG = REPO / "pseudonymizer" / "catalogs" / "snds" / "catalog.toml"

pytestmark = pytest.mark.skipif(
    not SCHEMAS.is_dir(),
    reason=f"the shared synthetic SNDS folder is absent ({SHARED}; expected at ../shared/data/synthetic-snds "
    "from the repository root)",
)

TABLES = ["IR_BEN_R", "ER_PRS_F", "T_MCOaaC", "KI_CCI_R", "T_MCOaaB"]
# (child table, child columns, parent table, parent columns, NIR-derived): the links between these
# tables that their Table Schemas declare.
FOREIGN_KEYS = [
    ("ER_PRS_F", ("BEN_NIR_PSA", "BEN_RNG_GEM"), "IR_BEN_R", ("BEN_NIR_PSA", "BEN_RNG_GEM"), True),
    ("T_MCOaaC", ("NIR_ANO_17",), "IR_BEN_R", ("BEN_NIR_PSA",), True),
    ("KI_CCI_R", ("BEN_IDT_ANO",), "IR_BEN_R", ("BEN_IDT_ANO",), False),
    ("T_MCOaaC", ("ETA_NUM", "RSA_NUM"), "T_MCOaaB", ("ETA_NUM", "RSA_NUM"), False),
]
PROJECTS = ("alpha", "beta")
POLICIES = ("keep", "random", "null")  # keep: the shipped catalog's
PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")
# Source ids shorter than this ("k", "Ah" in the synthetic KI_CCI_R.BEN_NIR_ANO) occur by chance
# inside unrelated values, so only longer ones are searched for as substrings.
MIN_SEARCHED = 5


# --- helpers -----------------------------------------------------------------------------------


def read_source(catalog: Catalog, name: str) -> pa.Table:
    """Every column of a source table, typed by its Table Schema (and the role file's overrides)."""
    table = catalog.table(name)
    batches = list(iter_batches(find_source(SCHEMAS, table), list(table.columns), 1 << 16))
    return pa.Table.from_batches(batches)


def csv_rows(catalog: Catalog, name: str) -> list[dict[str, str]]:
    with open(find_source(SCHEMAS, catalog.table(name)).path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def edit_section(text: str, table: str, old: str, new: str) -> str:
    """Replace `old` (exactly once) inside the [tables.TABLE...] sections of a role file."""
    start = text.index(f"[tables.{table}]")
    following = [m.start() for m in re.finditer(r"^\[tables\.(\w+)\]", text, re.M) if m.start() > start and m.group(1) != table]
    end = following[0] if following else len(text)
    section = text[start:end]
    assert section.count(old) == 1, f"{old!r} occurs {section.count(old)} times in [tables.{table}]"
    return text[:start] + section.replace(old, new) + text[end:]


def edited_catalog(tmp_path: Path, file: str, table: str, old: str, new: str) -> Path:
    """A copy of the shipped catalog folder with `old` replaced by `new` in [tables.TABLE] of `file`."""
    folder = tmp_path / "snds-catalog"
    shutil.copytree(CATALOG.parent, folder)
    path = folder / file
    path.write_text(edit_section(path.read_text(encoding="utf-8"), table, old, new), encoding="utf-8")
    return folder / "catalog.toml"


def section_line(file: str, table: str, name: str) -> str:
    """The line of column `name` in [tables.TABLE.columns] of one role file of the shipped catalog."""
    text = (CATALOG.parent / file).read_text(encoding="utf-8")
    section = text[text.index(f"[tables.{table}.columns]"):]
    return re.search(rf"^{name} +=[^\n]*$", section, re.M).group(0)


def joined_pairs(child: list[dict], ccols, parent: list[dict], pcols) -> set[tuple[int, int]]:
    """(child row, parent row) positions whose keys are equal (and not null)."""
    index = defaultdict(list)
    for j, row in enumerate(parent):
        key = tuple(row[c] for c in pcols)
        if None not in key:
            index[key].append(j)
    return {(i, j) for i, row in enumerate(child) for j in index.get(tuple(row[c] for c in ccols), ())}


def untrusted_rows(catalog: Catalog, name: str, rows: list[dict], columns: list[str] | tuple[str, ...] | None = None) -> set[int]:
    """Source rows where one of `columns` (default: the NIR-derived linkage columns) holds an id of no
    one: a fictive flag that applies to that column says so, or the value is a declared placeholder."""
    table = catalog.table(name)
    linkage = [c for c in table.columns if c.role == "linkage" and (c.name in columns if columns else catalog.domains[c.domain].nir)]
    out = set()
    for i, row in enumerate(rows):
        for column in linkage:
            flagged = any(column.name in f.applies_to and row[f.column] not in f.valid_forms for f in table.flags)
            if flagged or row[column.name] in column.placeholders:
                out.add(i)
    return out


@dataclass
class Extract:
    catalog: Catalog
    folder: Path
    manifest: dict
    tables: dict[str, list[dict]]

    def pseudonyms(self) -> list[str]:
        values = []
        for name, rows in self.tables.items():
            for column in self.catalog.table(name).columns:
                if column.role == "linkage":
                    values += [row[column.name] for row in rows if row[column.name] is not None]
        return values


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG, schema_dir=SCHEMAS)


@pytest.fixture(scope="module")
def sources(catalog) -> dict[str, list[dict]]:
    return {name: read_source(catalog, name).to_pylist() for name in TABLES}


@pytest.fixture(scope="module")
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, master_key, catalog):
    """extracted(policy, project) -> Extract of TABLES with the shipped catalog and that fictive policy."""
    cache: dict[tuple[str, str], Extract] = {}

    def run(policy: str, project: str) -> Extract:
        variant = policy
        if (variant, project) not in cache:
            base = tmp_path_factory.mktemp(f"{variant}-{project}")
            out = base / "extract"
            manifest = extract(catalog, SCHEMAS, project, out, master_key, tables=TABLES, fictive_policy=policy, progress=False)
            tables = {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in TABLES}
            cache[variant, project] = Extract(catalog, out, manifest, tables)
        return cache[variant, project]

    return run


# --- the four tables load with their own Table Schemas -----------------------------------------


def test_catalog_covers_the_schemas_and_explains_its_choices(catalog):
    schemas = sorted(p.stem for p in SCHEMAS.rglob("*.json"))
    assert len(schemas) > 180 and sorted(catalog.tables) == schemas
    assert len({t.product for t in catalog.tables.values()}) >= 10  # one role file per product
    for name in catalog.tables:
        table = catalog.table(name)
        schema = json.loads(table.schema_path.read_text(encoding="utf-8"))
        assert table.names == [f["name"] for f in schema["fields"]]  # load_catalog checked the roles
        for column, field in zip(table.columns, schema["fields"]):
            if column.role != "attribute":
                assert column.note, f"{name}.{column.name}: role {column.role} without a note"
            if column.type != field["type"]:
                assert column.note, f"{name}.{column.name}: type override without a note"
    overrides = {(n, c.name) for n in TABLES for c in catalog.table(n).columns if c.note and "read as string" in c.note}
    assert {("T_MCOaaC", "ETA_NUM"), ("T_MCOaaB", "ETA_NUM"), ("T_MCOaaC", "SEJ_RET")} <= overrides


@pytest.mark.parametrize("name", sorted(p.stem for p in SCHEMAS.rglob("*.json")) if SCHEMAS.is_dir() else TABLES)
def test_table_loads_with_its_schema(catalog, name):
    table = catalog.table(name)
    source = find_source(SCHEMAS, table)
    assert source.kind == "csv"
    data = read_source(catalog, name)
    assert data.num_rows == len(csv_rows(catalog, name)) == 10
    assert data.schema.names == table.names
    for column in table.columns:
        assert data.schema.field(column.name).type == arrow_type(column), column.name


def test_mixed_date_formats_parse_to_the_right_values(catalog, sources):
    mco = sources["T_MCOaaC"][0]
    assert mco["EXE_SOI_DTD"] == dt.datetime(2007, 1, 2, 22, 12, 17)  # SAS-style "02Jan2007:22:12:17"
    assert mco["EXE_SOI_DTF"] == dt.datetime(2010, 1, 25, 5, 23, 10)  # "25Jan2010:05:23:10"
    assert mco["ENT_DAT"] == dt.date(1902, 4, 11)  # %d%m%Y "11041902"
    assert mco["SOR_DAT"] == dt.date(2019, 6, 28)  # "28062019"
    assert mco["EXE_SOI_AMD"] == dt.date(1964, 5, 1)  # yearmonth "196405"
    assert mco["SOR_MOI"] == 4  # month-only "04", an int8
    assert sources["T_MCOaaC"][4]["EXE_SOI_DTF"] == dt.datetime(1976, 2, 29, 9, 29, 25)  # a leap day
    ben = sources["IR_BEN_R"][0]
    assert ben["BEN_DCD_DTE"] == dt.date(1947, 6, 20)  # ISO
    assert ben["BEN_DCD_AME"] == dt.date(2020, 3, 1)  # "202003"
    assert ben["BEN_NAI_MOI"] == 5 and ben["BEN_NAI_ANN"] == 2028
    assert ben["BEN_CDI_NIR"] == "05"  # codes keep their leading zero
    # empty strings are missing values
    assert sources["KI_CCI_R"][1]["BEN_NIR_ANO"] is None
    assert sources["T_MCOaaC"][4]["ORG_CPL_NUM"] is None
    # the per-column overrides: FINESS numbers with letters, a "boolean" holding 9
    assert mco["ETA_NUM"] == "ylhHSI" and mco["RSA_NUM"] == "2694770682"
    assert sources["T_MCOaaC"][1]["SEJ_RET"] == "9"


@pytest.mark.parametrize("name", TABLES)
def test_every_date_matches_python_strptime(catalog, sources, name):
    """Each date, datetime and yearmonth cell equals Python's reading of the raw CSV text."""
    raw = csv_rows(catalog, name)
    checked = 0
    for column in catalog.table(name).columns:
        if column.type not in ("date", "datetime", "yearmonth"):
            continue
        fmt = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "yearmonth": "%Y%m"}[column.type]
        fmt = fmt if column.format == "default" else column.format
        for row, parsed in zip(raw, sources[name]):
            text = row[column.name]
            if text == "":
                expected = None
            elif fmt == "%m":
                expected = int(text)
            else:
                expected = dt.datetime.strptime(text, fmt)
                expected = expected if column.type == "datetime" else expected.date()
            assert parsed[column.name] == expected, (column.name, text)
            checked += 1
    assert checked or name == "T_MCOaaB"


# --- extraction ----------------------------------------------------------------------------------


@pytest.mark.parametrize("project", PROJECTS)
def test_extract_keeps_every_row_in_source_order(catalog, sources, extracted, project):
    result = extracted("keep", project)
    for name in TABLES:
        entry = result.manifest["tables"][name]
        assert entry["rows_in"] == entry["rows_out"] == len(sources[name]) == len(result.tables[name])
        assert sum(entry["rows_dropped"].values()) == 0
        # Rows are matched by position below: the attribute columns, as in the source, prove it.
        for column in catalog.table(name).columns:
            if column.role == "attribute":
                got = [row[column.name] for row in result.tables[name]]
                assert got == [row[column.name] for row in sources[name]], f"{name}.{column.name}"


def test_direct_identifiers_dropped_and_quasi_coarsened(catalog, sources, extracted):
    result = extracted("keep", "alpha")
    for name in TABLES:
        direct = {c.name for c in catalog.table(name).columns if c.role == "direct"}
        assert direct and not direct & set(result.tables[name][0])
    assert result.tables["IR_BEN_R"][0]["BEN_DCD_DTE"] == dt.date(1947, 6, 1)
    assert result.tables["KI_CCI_R"][0]["BEN_DCD_DTE"] == dt.date(2019, 6, 1)
    ages = [row["AGE_ANN"] for row in result.tables["T_MCOaaB"]]
    assert ages[:4] == ["45-49", "90+", "10-14", "90+"]


@pytest.mark.parametrize("policy", POLICIES)
def test_foreign_keys_are_preserved(catalog, sources, extracted, policy):
    """For each FK, the (child row, parent row) pairs that join in the source join in the extract,
    and no others. The shipped policy (keep) keeps them all; random and null keep every link that is
    not NIR-derived, and the NIR-derived links between rows whose NIR code is normal."""
    for child, ccols, parent, pcols, _ in FOREIGN_KEYS:
        declared = [
            (fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]], fk["reference"])
            for fk in catalog.table(child).foreign_keys
        ]
        assert any(
            tuple(f) == ccols and ref["resource"] == parent and tuple(ref["fields"] if isinstance(ref["fields"], list) else [ref["fields"]]) == pcols
            for f, ref in declared
        ), f"{child}{ccols} -> {parent}{pcols} is not declared in the Table Schema"

    for project in PROJECTS:
        result = extracted(policy, project)
        kept = 0
        for child, ccols, parent, pcols, nir in FOREIGN_KEYS:
            source_pairs = joined_pairs(sources[child], ccols, sources[parent], pcols)
            assert source_pairs, f"{child} -> {parent}: no link in the source"
            expected = source_pairs
            if policy != "keep" and nir:
                bad_child = untrusted_rows(catalog, child, sources[child], ccols)
                bad_parent = untrusted_rows(catalog, parent, sources[parent], pcols)
                expected = {(i, j) for i, j in source_pairs if i not in bad_child and j not in bad_parent}
                assert expected != source_pairs, "the sample's fictive codes should matter here"
            got = joined_pairs(result.tables[child], ccols, result.tables[parent], pcols)
            assert got == expected, f"{policy}: {child}{ccols} -> {parent}{pcols}"
            kept += len(got)
        assert kept, "no link survives: the test would prove nothing"


@pytest.mark.parametrize("policy", POLICIES)
def test_ids_of_no_one_are_marked_and_counted(catalog, sources, extracted, policy):
    result = extracted(policy, "alpha")
    counts = defaultdict(int)
    for value in result.pseudonyms():
        counts[value] += 1
    for name in TABLES:
        bad = untrusted_rows(catalog, name, sources[name])
        entry = result.manifest["tables"][name]
        assert entry["rows_with_ids_of_no_one"]["fictive_id"] + entry["rows_with_ids_of_no_one"]["placeholder_id"] >= len(bad)
        assert entry["rows_with_random_pseudonym"] == (len(bad) if policy == "random" else 0)
        status = [row["ID_STATUS"] for row in result.tables[name]]
        assert {i for i, s in enumerate(status) if s != "ok"} >= bad
        nir_columns = [c for c in catalog.table(name).columns if c.role == "linkage" and catalog.domains[c.domain].nir]
        for column in nir_columns:  # each column's own ids of no one: a flag speaks only of the columns it applies to
            for i in untrusted_rows(catalog, name, sources[name], [column.name]):
                value = result.tables[name][i][column.name]
                if policy == "null":
                    assert value is None
                elif policy == "random" and value is not None:
                    assert counts[value] == 1, (name, i, column.name)
    # the synthetic codes are random: one IR_BEN_R row of ten is a normal NIR ("00"), no ER_PRS_F row
    assert len(untrusted_rows(catalog, "IR_BEN_R", sources["IR_BEN_R"])) == 9
    assert len(untrusted_rows(catalog, "ER_PRS_F", sources["ER_PRS_F"])) == 10
    dictionary = (result.folder / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "Identifiers that are no one, by column: `BEN_NIR_PSA` fictive 9" in dictionary
    assert f"policy `{policy}`" in dictionary


def test_random_policy_is_byte_identical_across_runs(catalog, extracted, master_key, tmp_path):
    first = extracted("random", "alpha")
    out = tmp_path / "again"
    extract(catalog, SCHEMAS, "alpha", out, master_key, tables=TABLES, fictive_policy="random", progress=False)
    for path in sorted(first.folder.iterdir()):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("variant", POLICIES)
def test_no_source_linkage_value_appears_in_the_extracts(catalog, sources, extracted, variant):
    secrets = set()
    for name in TABLES:
        for column in catalog.table(name).columns:
            if column.role == "linkage":
                secrets |= {row[column.name] for row in sources[name] if row[column.name] is not None}
    assert len(secrets) > 50
    searched = sorted(s for s in secrets if len(s) >= MIN_SEARCHED)
    for project in PROJECTS:
        result = extracted(variant, project)
        for name, rows in result.tables.items():
            linkage = {c.name for c in catalog.table(name).columns if c.role == "linkage"}
            for row in rows:
                for column, value in row.items():
                    if column in linkage:
                        assert value is None or PSEUDONYM.match(value), (name, column, value)
                    elif value is not None:
                        text = str(value)
                        assert text not in secrets, (name, column, text)
                        assert not any(s in text for s in searched), (name, column, text)
        files = sorted(p for p in result.folder.iterdir() if p.is_file())
        assert {p.name for p in files} >= {f"{n}.parquet" for n in TABLES} | {"manifest.json", "DATA_DICTIONARY.md"}
        for path in files:
            data = path.read_bytes()
            leaked = [s for s in searched if s.encode() in data]
            assert not leaked, f"{path.name} holds source ids {leaked[:3]}"


def test_projects_share_no_pseudonym(extracted):
    for variant in POLICIES:
        alpha = set(extracted(variant, "alpha").pseudonyms())
        beta = set(extracted(variant, "beta").pseudonyms())
        assert len(alpha) > 30 and len(beta) > 30
        assert not alpha & beta, variant
        assert extracted(variant, "alpha").manifest["key_fingerprint"] != extracted(variant, "beta").manifest["key_fingerprint"]


# --- errors ------------------------------------------------------------------------------------


def test_a_column_without_a_role_is_an_error_naming_it(tmp_path):
    line = section_line("beneficiaire.toml", "IR_BEN_R", "BEN_TOP_CNS")
    path = edited_catalog(tmp_path, "beneficiaire.toml", "IR_BEN_R", line, "")
    with pytest.raises(PseudonymizerError) as err:
        load_catalog(path, schema_dir=SCHEMAS)
    message = str(err.value)
    assert "BEN_TOP_CNS" in message and "IR_BEN_R" in message and "without a role" in message


def test_eta_num_without_its_type_override_fails_clearly(tmp_path, master_key):
    line = section_line("pmsi_pmsi_mco.toml", "T_MCOaaC", "ETA_NUM")
    assert 'type = "string"' in line
    path = edited_catalog(tmp_path, "pmsi_pmsi_mco.toml", "T_MCOaaC", line, 'ETA_NUM = "attribute"')
    catalog = load_catalog(path, schema_dir=SCHEMAS)
    assert catalog.table("T_MCOaaC").column("ETA_NUM").type == "integer"
    assert catalog.table("T_MCOaaB").column("ETA_NUM").type == "string"  # only T_MCOaaC was edited
    out = tmp_path / "extract"
    with pytest.raises(PseudonymizerError) as err:
        extract(catalog, SCHEMAS, "alpha", out, master_key, tables=["T_MCOaaC"], progress=False)
    message = str(err.value)
    assert str(SCHEMAS / "PMSI" / "PMSI MCO" / "T_MCOaaC.csv") in message
    assert "column ETA_NUM" in message and "row 1:" in message and "'ylhHSI'" in message
    assert "integer" in message and "type =" in message  # and what to do about it
    assert not out.exists()  # nothing half-written
    assert not list(tmp_path.glob(".extract*"))  # no lock or partial folder left


def test_sej_ret_without_its_type_override_fails_clearly(tmp_path):
    line = section_line("pmsi_pmsi_mco.toml", "T_MCOaaC", "SEJ_RET")
    path = edited_catalog(tmp_path, "pmsi_pmsi_mco.toml", "T_MCOaaC", line, 'SEJ_RET = "attribute"')
    with pytest.raises(PseudonymizerError, match=r"column SEJ_RET, row 2: '9' is not a valid boolean"):
        read_source(load_catalog(path, schema_dir=SCHEMAS), "T_MCOaaC")


def test_catalog_needs_the_schema_folder():
    with pytest.raises(PseudonymizerError, match="IR_BEN_R.json does not exist"):
        load_catalog(CATALOG)  # the schemas are not in the repository


def test_placeholders_are_declared_values_never_digit_patterns(catalog, sources, extracted):
    """RSA_NUM values made of 9s or 0s are real stay numbers: only declared placeholders are no one."""
    assert catalog.table("T_MCOaaC").column("RSA_NUM").placeholders == ()
    assert catalog.table("T_MCOaaC").column("NIR_ANO_17").placeholders == ("XXXXXXXXXXXXXXXXX", "xxxxxxxxxxxxxxxxx")
    result = extracted("null", "alpha")
    for name in TABLES:
        for column in catalog.table(name).columns:
            if column.role == "linkage" and not catalog.domains[column.domain].nir:
                got = [row[column.name] is None for row in result.tables[name]]
                assert got == [row[column.name] is None for row in sources[name]], (name, column.name)


def test_data_dictionary_explains_links_drops_and_codes(catalog, master_key, tmp_path):
    out = tmp_path / "extract"
    extract(
        catalog, SCHEMAS, "alpha", out, master_key, tables=TABLES, progress=False,
        columns={"ER_PRS_F": ["BEN_NIR_PSA", "BEN_RNG_GEM", "EXE_SOI_DTD"]}, nomenclatures=SHARED / "nomenclatures",
    )
    text = (out / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "## Links between the tables" in text
    assert "- `ER_PRS_F`(BEN_NIR_PSA, BEN_RNG_GEM) → `IR_BEN_R`(BEN_NIR_PSA, BEN_RNG_GEM)" in text
    assert "- `KI_CCI_R`(BEN_IDT_ANO) → `IR_BEN_R`(BEN_IDT_ANO)" in text
    assert "`BEN_RES_COM` (direct identifier: commune code" in text  # dropped, and why
    assert "`BSE_REM_MNT` (not requested by the project)" in text
    assert "codes (IR_NIR_V): 00 NIR NORMAL (ni fictif ni provisoire); 01 NIR FICTIF IVG" in text
    assert "Note: PMSI validity codes (*_RET" in text  # a usage note on T_MCOaaC
    assert "Identifiers that are no one, by column: `BEN_NIR_PSA` fictive 9" in text
