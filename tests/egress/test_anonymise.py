"""The anonymiser: small counts suppressed, counts rounded, percentages that would give them back removed."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from egress_gate import DEFAULT_POLICY, EgressError, check_file
from egress_gate.anonymise import anonymise_table

# A count column not called "count", a percentage beside it, a year that is not a count.
TABLE = """region,year,patients,pct
A,2020,3,1.4
B,2020,12,5.7
C,2021,0,0.0
D,2021,47,22.4
E,2022,138,65.7
F,2022,8,3.8
"""


def read(path):
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter="\t" if path.suffix == ".tsv" else ","))


def test_small_counts_are_suppressed_and_the_rest_rounded(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(TABLE)
    summary = anonymise_table(src, tmp_path / "out.csv", DEFAULT_POLICY)
    assert summary.count_columns == ("patients",)
    assert (summary.cells_suppressed, summary.cells_rounded) == (2, 3)
    assert (summary.percent_cells_suppressed, summary.zeros_kept) == (2, 1)
    assert summary.policy_version == DEFAULT_POLICY.version
    out = read(tmp_path / "out.csv").to_pydict()
    assert out["patients"] == [None, 10, 0, 45, 140, None]
    assert out["pct"] == [None, 5.7, 0.0, 22.4, 65.7, None]
    assert out["year"] == [2020, 2020, 2021, 2021, 2022, 2022]  # a dimension is left alone
    assert out["_suppressed"] == ["patients,pct", "", "", "", "", "patients,pct"]
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "region,year,patients,pct,_suppressed"  # the header as the researcher wrote it, unquoted
    assert lines[1].startswith('"A",2020,,')  # empty cell


def test_the_output_passes_the_small_count_and_rounding_checks(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(TABLE)
    anonymise_table(src, tmp_path / "out.csv", DEFAULT_POLICY)
    outcomes = {f.check: f.outcome.value for f in check_file(tmp_path / "out.csv", DEFAULT_POLICY)}
    assert outcomes["small_counts"] == "pass"
    assert outcomes["rounding"] == "pass"
    assert outcomes.get("implied_counts", "pass") == "pass"


def test_a_count_that_would_round_under_the_threshold_is_suppressed(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("g,n\na,12\nb,13\nc,30\n")
    policy = DEFAULT_POLICY.with_overrides(threshold=12)
    summary = anonymise_table(src, tmp_path / "out.csv", policy)
    assert read(tmp_path / "out.csv").column("n").to_pylist() == [None, 15, 30]
    assert (summary.cells_suppressed, summary.cells_rounded) == (1, 1)


def test_parquet_keeps_column_types_and_nulls(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"dep": ["01", "02", "03", "04"], "n": pa.array([5, 11, None, 100], pa.int32())}), src)
    summary = anonymise_table(src, tmp_path / "out.parquet", DEFAULT_POLICY)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.field("n").type == pa.int32()
    assert out.column("n").to_pylist() == [None, 10, None, 100]
    assert out.column("_suppressed").to_pylist() == ["n", "", "", ""]
    assert (summary.cells_suppressed, summary.cells_rounded) == (1, 1)


def test_tsv_in_and_out(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("g\tn\na\t7\nb\t21\n")
    anonymise_table(src, tmp_path / "out.tsv", DEFAULT_POLICY)
    assert read(tmp_path / "out.tsv").column("n").to_pylist() == [None, 20]
    assert "\t" in (tmp_path / "out.tsv").read_text()


def test_nothing_to_suppress_adds_no_marker(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("g,n\na,20\nb,33\n")
    summary = anonymise_table(src, tmp_path / "out.csv", DEFAULT_POLICY)
    assert summary.marker_column is None and summary.cells_rounded == 1
    assert read(tmp_path / "out.csv").column_names == ["g", "n"]


def test_a_marker_name_already_taken_is_not_overwritten(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("_suppressed,n\nx,2\ny,40\n")
    summary = anonymise_table(src, tmp_path / "out.csv", DEFAULT_POLICY)
    out = read(tmp_path / "out.csv")
    assert summary.marker_column == "__suppressed"
    assert out.column("_suppressed").to_pylist() == ["x", "y"]


def test_the_output_is_deterministic(tmp_path):
    for kind in ("csv", "parquet"):
        src = tmp_path / f"in.{kind}"
        if kind == "csv":
            src.write_text(TABLE)
        else:
            pq.write_table(pacsv.read_csv(pa.py_buffer(TABLE.encode())), src)
        anonymise_table(src, tmp_path / f"a.{kind}", DEFAULT_POLICY)
        anonymise_table(src, tmp_path / f"b.{kind}", DEFAULT_POLICY)
        assert (tmp_path / f"a.{kind}").read_bytes() == (tmp_path / f"b.{kind}").read_bytes()


def test_a_corrupt_input_leaves_the_output_untouched(tmp_path):
    src = tmp_path / "in.parquet"
    src.write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous")
    with pytest.raises(EgressError, match="in.parquet: cannot be read as PARQUET"):
        anonymise_table(src, out, DEFAULT_POLICY)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_other_types_are_refused(tmp_path):
    src = tmp_path / "in.xlsx"
    src.write_bytes(b"PK\x03\x04")
    with pytest.raises(EgressError, match="in.xlsx: the anonymiser handles csv, tsv, parquet"):
        anonymise_table(src, tmp_path / "out.csv", DEFAULT_POLICY)
    (tmp_path / "in.csv").write_text(TABLE)
    with pytest.raises(EgressError, match="out.json"):
        anonymise_table(tmp_path / "in.csv", tmp_path / "out.json", DEFAULT_POLICY)
