"""Columns known, not guessed: the gate types an output's columns from what the project's extracts
declare, then from values; findings cover no more cells than exist; the anonymiser touches only
the cells the findings name.

The specialty-by-age table is made as a researcher would: from a real extract the pseudonymizer
wrote from the synthetic generator's sources, grouped by specialty code (``PSE_SPE_COD``,
nomenclature IR_SPE_V, codes 1–50) and age band, counting acts.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from egress_gate import DEFAULT_POLICY, CheckContext, EgressError, Outcome, check_file, load_declared
from egress_gate.anonymise import anonymise_table
from egress_gate.check_worker import Budget, check_in_worker
from egress_gate.column_types import ColumnType, denominator_for
from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import extract
from pseudonymizer.synth import generate

from ..conftest import REPO

CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
ROWS = 333


@pytest.fixture(scope="module")
def extracts(tmp_path_factory, master_key):
    root = tmp_path_factory.mktemp("columns")
    generate(root / "sources", people=3000, seed=22, progress=False)
    extract(load_catalog(CATALOG), root / "sources", "columns-test", root / "extracts", master_key,
            tables=["ER_PRS_F"], progress=False)
    return root / "extracts"


@pytest.fixture(scope="module")
def context(extracts):
    return CheckContext(declared=load_declared(extracts))


@pytest.fixture(scope="module")
def specialty_table(extracts, tmp_path_factory):
    """acts_by_specialty_age.csv: 333 (specialty, age band) groups with their number of acts."""
    acts = pq.read_table(extracts / "ER_PRS_F.parquet", columns=["PSE_SPE_COD", "BEN_AMA_COD"])
    groups = (acts.group_by(["PSE_SPE_COD", "BEN_AMA_COD"]).aggregate([([], "count_all")])
              .rename_columns(["PSE_SPE_COD", "age_band", "n_actes"])
              .sort_by([("PSE_SPE_COD", "ascending"), ("age_band", "ascending")]))
    assert groups.num_rows >= ROWS, "the generator gives fewer groups than the table needs"
    table = groups.slice(0, ROWS)
    path = tmp_path_factory.mktemp("outputs") / "acts_by_specialty_age.csv"
    pacsv.write_csv(table, path)
    return path, table


def test_the_extract_declares_the_specialty_a_nomenclature_code(extracts, context):
    manifest = json.loads((extracts / "manifest.json").read_text())
    spec = next(c for c in manifest["tables"]["ER_PRS_F"]["columns"] if c["name"] == "PSE_SPE_COD")
    assert spec["nomenclature"] == "IR_SPE_V"
    declared = context.declared["PSE_SPE_COD"]
    assert declared.type is ColumnType.code and "IR_SPE_V" in declared.source
    assert set(declared.values) <= set(range(1, 81)) and len(declared.values) > 10
    assert context.declared["BEN_NIR_PSA"].type is ColumnType.identifier
    assert context.declared["BSE_REM_MNT"].type is ColumnType.magnitude


def test_specialty_by_age_codes_kept_real_small_counts_found(specialty_table, context):
    path, table = specialty_table
    counts = table.column("n_actes").to_numpy()
    small_rows = set(np.flatnonzero((counts > 0) & (counts < DEFAULT_POLICY.threshold)).tolist())
    assert 0 < len(small_rows) < ROWS
    findings = check_file(path, DEFAULT_POLICY, context)
    by = {f.check: f for f in findings}

    small = by["small_counts"]
    assert small.outcome is Outcome.FAIL
    assert small.cell_count == small.row_count == len(small_rows)
    assert {c.column for c in small.cells} == {"n_actes"}, "a specialty code was taken for a count"
    assert {c.row for c in small.cells} == small_rows  # every small count listed (fewer than max_cells_listed)
    assert f"{len(small_rows)} cells in {len(small_rows)} rows of column n_actes" in small.message
    types = by["column_types"]
    assert types.outcome is Outcome.PASS
    assert "PSE_SPE_COD: code (declared by extract ER_PRS_F.PSE_SPE_COD (nomenclature IR_SPE_V))" in types.message
    assert "n_actes: count" in types.message
    for f in findings:  # no finding covers more than the table holds
        assert f.cell_count <= ROWS * table.num_columns, f
        assert f.row_count is None or f.row_count <= ROWS, f
        assert all(c.row is None or 0 <= c.row < ROWS for c in f.cells), f
        assert all(c.column != "PSE_SPE_COD" for c in f.cells if f.check in ("small_counts", "rounding", "zeros")), f


def test_without_the_extracts_the_code_was_guessed_a_count(specialty_table):
    """The control: the same file checked knowing nothing of the project (the gate before)."""
    path, _ = specialty_table
    small = next(f for f in check_file(path, DEFAULT_POLICY, CheckContext()) if f.check == "small_counts")
    assert "PSE_SPE_COD" in {c.column for c in small.cells}


def test_a_count_renamed_like_a_code_is_still_a_count(specialty_table, context, tmp_path):
    """Breaking it: a count column given the specialty's name. Its values are not specialty codes
    the extracts hold, so the declaration is set aside, a steward is told, and small counts fail."""
    _, table = specialty_table
    counts = table.column("n_actes")
    disguised = pa.table({"age_band": table.column("age_band"), "PSE_SPE_COD": counts})
    path = tmp_path / "disguised.csv"
    pacsv.write_csv(disguised, path)
    by = {f.check: f for f in check_file(path, DEFAULT_POLICY, context)}
    assert by["column_types"].outcome is Outcome.REVIEW
    assert "declared a code by extract ER_PRS_F.PSE_SPE_COD" in by["column_types"].message
    assert by["small_counts"].outcome is Outcome.FAIL
    assert {c.column for c in by["small_counts"].cells} == {"PSE_SPE_COD"}


def test_the_anonymised_specialty_table_changes_only_the_named_cells(specialty_table, context, tmp_path):
    path, table = specialty_table
    policy = DEFAULT_POLICY.with_overrides(max_cells_listed=ROWS)  # every named cell listed, to compare
    findings = {f.check: f for f in check_file(path, policy, context)}
    named = {(c.row, c.column) for check in ("small_counts", "rounding") for c in findings[check].cells}
    assert findings["rounding"].cell_count == len(findings["rounding"].cells)
    out = tmp_path / "anonymised.csv"
    summary = anonymise_table(path, out, policy, context.declared)
    assert summary.count_columns == ("n_actes",)
    result = pacsv.read_csv(out)
    for name in ("PSE_SPE_COD", "age_band"):
        assert result.column(name).to_pylist() == table.column(name).to_pylist(), f"{name} was touched"
    before, after = table.column("n_actes").to_pylist(), result.column("n_actes").to_pylist()
    changed = {(r, "n_actes") for r in range(ROWS) if before[r] != after[r]}
    assert changed and changed <= named
    assert {r for r, _ in changed} >= {c.row for c in findings["small_counts"].cells}
    assert summary.cells_suppressed == findings["small_counts"].cell_count


SHARES = [("denominateur", "pct_deces"), ("effectif", "taux_deces"), ("denominator", "pct_deaths"),
          ("population", "percent_deaths"), ("n", "rate_deaths")]
DENOMINATORS = [190, 2400, 37, 812, 1500, 64, 930, 2750]
DEATHS = [4, 300, 2, 120, 7, 40, 95, 400]  # 4, 2 and 7 are small


def _share_table(folder, denominator: str, share: str, deaths=DEATHS):
    pct = [round(100 * d / n, 1) for d, n in zip(deaths, DENOMINATORS)]  # rounded as a report rounds them
    path = folder / f"{share}.csv"
    pacsv.write_csv(pa.table({"departement": ["75", "13", "48", "33", "69", "23", "59", "92"],
                              denominator: DENOMINATORS, share: pct}), path)
    return path


@pytest.mark.parametrize("denominator,share", SHARES)
def test_percentages_beside_french_and_english_denominators_imply_counts(tmp_path, lenient, denominator, share):
    assert denominator_for(share, ["autre", denominator]) == denominator
    path = _share_table(tmp_path, denominator, share)
    implied = next(f for f in check_file(path, lenient, CheckContext()) if f.check == "implied_counts")
    assert implied.outcome is Outcome.FAIL, implied.message
    assert {c.row for c in implied.cells} == {0, 2, 4}
    assert implied.cell_count == implied.row_count == 3
    assert f"denominator {denominator} (named as one)" in implied.message and "3 cells in 3 rows" in implied.message

    out = tmp_path / "anonymised.csv"
    anonymise_table(path, out, lenient)
    result = pacsv.read_csv(out)
    assert result.column(denominator).to_pylist() == DENOMINATORS
    before = pacsv.read_csv(path).column(share).to_pylist()
    after = result.column(share).to_pylist()
    assert [r for r in range(len(before)) if before[r] != after[r]] == [0, 2, 4]


def test_percentages_with_no_small_implied_count_pass(tmp_path, lenient):
    """The positive control: the same shapes with every implied count at least the threshold."""
    path = _share_table(tmp_path, "denominateur", "pct_deces", deaths=[40, 300, 12, 120, 70, 40, 95, 400])
    implied = next(f for f in check_file(path, lenient, CheckContext()) if f.check == "implied_counts")
    assert implied.outcome is Outcome.PASS, implied.message


def test_the_declarations_reach_the_budgeted_worker(specialty_table, context, tmp_path):
    path, _ = specialty_table
    found = {f["check"]: f for f in check_in_worker(path, DEFAULT_POLICY, context, Budget(), tmp_path)}
    assert {c["column"] for c in found["small_counts"]["cells"]} == {"n_actes"}
    assert "declared by extract ER_PRS_F.PSE_SPE_COD" in found["column_types"]["message"]


def test_a_malformed_manifest_is_named(tmp_path):
    folder = tmp_path / "extracts"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"tables": {"T": {"columns": [{"role": "attribute",
                                                                                     "nomenclature": "X"}],
                                                                        "output": {"file": "T.parquet"}}}}))
    with pytest.raises(EgressError, match="manifest.json"):
        load_declared(folder)


def test_declared_values_are_the_extracts_own(extracts, context):
    spec = pq.read_table(extracts / "ER_PRS_F.parquet", columns=["PSE_SPE_COD"]).column(0)
    assert sorted(context.declared["PSE_SPE_COD"].values) == sorted(pc.unique(spec).to_pylist())
