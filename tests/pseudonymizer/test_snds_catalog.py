"""The whole SNDS in the catalog: `enclave catalog init` and the shipped catalog it wrote.

Every table of the shared SNDS Table Schemas gets synthetic rows generated here from its schema
(foreign keys drawn from the referenced table's rows, year-suffixed families written as one year's
files, e.g. T_MCO22C.csv for T_MCOaaC), is read with its own schema and the shipped catalog, and is
pseudonymised with every foreign key between tables preserved. Skipped when the shared folder is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import Catalog, load_catalog
from pseudonymizer.catalog_init import family_name
from pseudonymizer.extract import extract

from ..conftest import REPO, SHARED_SNDS, run_enclave

SCHEMAS = SHARED_SNDS / "schemas"
SHIPPED = REPO / "pseudonymizer" / "catalogs" / "snds"
ROWS = 12
PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")

pytestmark = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"the shared synthetic SNDS folder is absent ({SHARED_SNDS})")


def member(name: str) -> str:
    """The file name of one year of a family: T_MCOaaC -> T_MCO22C, CT_IDE_AAAA_GN -> CT_IDE_2022_GN."""
    return name.replace("AAAA", "2022").replace("aa", "22") if family_name(name) == name and ("aa" in name or "AAAA" in name) else name


def _value(rng: random.Random, column, pool: list[str]) -> str:
    if column.role == "linkage":
        return rng.choice(pool)
    day = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(8000))
    fmt = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "yearmonth": "%Y%m"}.get(column.type)
    if column.type in ("date", "datetime", "yearmonth"):
        if column.format == "%m":
            return f"{day.month:02d}"
        moment = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)))
        return moment.strftime(fmt if column.format == "default" else column.format)
    return {
        "integer": lambda: str(rng.randrange(10)),
        "number": lambda: f"{rng.uniform(0, 100):.2f}",
        "boolean": lambda: rng.choice(["true", "false"]),
        "year": lambda: str(rng.randrange(1930, 2024)),
    }.get(column.type, lambda: rng.choice(["75", "2A", "971", "13055", "I21", "C34"]) + str(rng.randrange(100)))()


def _order(catalog: Catalog) -> list[str]:
    """Tables, each after the tables its foreign keys reference."""
    done, order = set(), []

    def visit(name, stack=()):
        if name in done or name in stack:
            return
        for fk in catalog.tables[name].foreign_keys:
            parent = fk["reference"]["resource"]
            if parent in catalog.tables and parent != name:
                visit(parent, stack + (name,))
        done.add(name)
        order.append(name)

    for name in sorted(catalog.tables):
        visit(name)
    return order


def _fields(value) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(catalog, sources folder, {table: rows}) for every table of the shipped catalog."""
    catalog = load_catalog(SHIPPED / "catalog.toml", schema_dir=SCHEMAS)
    rng = random.Random(12)
    folder = tmp_path_factory.mktemp("snds-export")
    rows: dict[str, list[dict]] = {}
    pools = {d: ["".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(17)) for _ in range(6)] for d in catalog.domains}
    for name in _order(catalog):
        table = catalog.tables[name]
        codes = {f.column: [*f.valid, *f.no_one_codes] for f in table.flags}  # a flag holds its own codes
        out = [{c.name: ("" if rng.random() < 0.05 and c.role != "linkage" else rng.choice(codes[c.name]) if c.name in codes
                         else _value(rng, c, pools.get(c.domain, []))) for c in table.columns} for _ in range(ROWS)]
        for fk in table.foreign_keys:
            parent = fk["reference"]["resource"]
            if parent not in rows:
                continue
            for row in out:
                source = rng.choice(rows[parent])
                for child_col, parent_col in zip(_fields(fk["fields"]), _fields(fk["reference"]["fields"])):
                    row[child_col] = source[parent_col]
        rows[name] = out
        with open(folder / f"{member(name)}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, table.names)
            writer.writeheader()
            writer.writerows(out)
    return catalog, folder, rows


def _pairs(child, ccols, parent, pcols) -> set[tuple[int, int]]:
    index = defaultdict(list)
    for j, row in enumerate(parent):
        key = tuple(row[c] for c in pcols)
        if None not in key and "" not in key:
            index[key].append(j)
    return {(i, j) for i, row in enumerate(child) for j in index.get(tuple(row[c] for c in ccols), ())}


def test_every_table_pseudonymises_with_foreign_keys_preserved(generated, tmp_path, master_key):
    catalog, folder, rows = generated
    assert len(rows) == len(list(SCHEMAS.rglob("*.json"))) > 180
    out = tmp_path / "extract"
    # keep: the generator's flags are random codes, and this test follows every link it made
    manifest = extract(catalog, folder, "alpha", out, master_key, progress=False, fictive_policy="keep")
    assert manifest["tables_without_source"] == []
    names = {member(n) for n in catalog.tables}
    assert set(manifest["tables"]) == names and "T_MCO22C" in names  # families read from one year's files
    extracted = {n: pq.read_table(out / f"{member(n)}.parquet").to_pylist() for n in catalog.tables}
    checked = skipped = 0
    for name, table in catalog.tables.items():
        assert len(extracted[name]) == ROWS, name
        linkage = [c.name for c in table.columns if c.role == "linkage"]
        for row in extracted[name]:
            assert all(row[c] is None or PSEUDONYM.match(row[c]) for c in linkage), name
        for fk in table.foreign_keys:
            parent = fk["reference"]["resource"]
            if parent not in catalog.tables:
                continue  # a nomenclature, not a table
            ccols, pcols = _fields(fk["fields"]), _fields(fk["reference"]["fields"])
            kept_child = set(extracted[name][0]) if extracted[name] else set()
            kept_parent = set(extracted[parent][0]) if extracted[parent] else set()
            if not (set(ccols) <= kept_child and set(pcols) <= kept_parent):
                skipped += 1  # a key column is a direct identifier: the link is deliberately gone
                continue
            want = _pairs(rows[name], ccols, rows[parent], pcols)
            got = _pairs(extracted[name], ccols, extracted[parent], pcols)
            assert want, f"{name}{ccols} -> {parent}{pcols}: the generator made no link"
            assert got == want, f"{name}{ccols} -> {parent}{pcols}"
            checked += 1
    assert checked > 150 and skipped < 10, (checked, skipped)


def test_init_writes_the_shipped_catalog_with_nothing_left_to_review(tmp_path):
    out = tmp_path / "catalog"
    result = run_enclave("catalog", "init", "--schemas", SCHEMAS, "--out", out, check=True)
    assert "191 tables" in result.stdout and "0 proposal(s) marked REVIEW" in result.stdout
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in SHIPPED.iterdir()) and len(written) > 10
    for name in written:
        text = (out / name).read_text(encoding="utf-8")
        text = re.sub(r'^schema_dir = ".*"\n', "", text, flags=re.M)  # where this run's schemas are
        assert text == (SHIPPED / name).read_text(encoding="utf-8"), f"{name}: the shipped catalog was edited by hand, or the rules changed"
    again = run_enclave("catalog", "init", "--schemas", SCHEMAS, "--out", out)
    assert again.returncode == 2 and "--force" in again.stderr


def test_init_proposes_from_rules_and_foreign_keys_and_marks_the_rest(tmp_path):
    schemas = tmp_path / "schemas" / "PMSI"
    schemas.mkdir(parents=True)
    person = {"name": "IR_BEN_R", "fields": [{"name": "BEN_IDT_ANO", "type": "string"}, {"name": "BEN_NIR_PSA", "type": "string"}, {"name": "BEN_CDI_NIR", "type": "string"}]}
    (tmp_path / "schemas" / "IR_BEN_R.json").write_text(json.dumps(person))
    for year in ("19", "22"):  # one family, described once
        stay = {
            "name": f"T_MCO{year}X",
            "fields": [
                {"name": "MY_PATIENT", "type": "integer", "description": "clé"},
                {"name": "PAT_NOM", "type": "string", "description": "Nom du patient"},
                {"name": "AGE_ANN", "type": "number"},
                {"name": "BDI_COD", "type": "string"},
                {"name": "RSA_NUM", "type": "integer"},
            ],
            "foreignKeys": [{"fields": "MY_PATIENT", "reference": {"resource": "IR_BEN_R", "fields": "BEN_IDT_ANO"}}],
        }
        (schemas / f"T_MCO{year}X.json").write_text(json.dumps(stay))
    out = tmp_path / "catalog"
    result = run_enclave("catalog", "init", "--schemas", tmp_path / "schemas", "--out", out, check=True)
    assert "2 tables" in result.stdout and "1 proposal(s) marked REVIEW" in result.stdout
    text = (out / "pmsi.toml").read_text(encoding="utf-8")
    assert "[tables.T_MCOaaX]" in text and "[tables.T_MCO19X" not in text and "[tables.T_MCO22X" not in text
    assert re.search(r'^PAT_NOM += "attribute"  # REVIEW \(name or description looks like an identifier', text, re.M)
    catalog = load_catalog(out / "catalog.toml")
    stay = catalog.table("T_MCO22X")  # a member resolves to its family
    assert stay.name == "T_MCOaaX"
    assert stay.column("MY_PATIENT").role == "linkage" and stay.column("MY_PATIENT").domain == "BEN_IDT_ANO"
    assert stay.column("MY_PATIENT").type == "string"  # the foreign key joins it to a string
    assert stay.column("AGE_ANN").rule == "age_band5" and stay.column("BDI_COD").rule == "department"
    assert stay.column("RSA_NUM").domain == "RSA_NUM"
    ben = catalog.table("IR_BEN_R")
    assert [(f.column, f.valid, f.applies_to) for f in ben.flags] == [("BEN_CDI_NIR", ("00",), ("BEN_NIR_PSA",))]
    assert catalog.domains["BEN_IDT_ANO"].nir is False and catalog.domains["BEN_NIR_PSA"].nir is True
