"""enclave_data (images/python), on the host's pyarrow: open_dataset() is lazy and pushes filters
down; the columns Julia's read_extract() decodes are the extract's, nulls included."""

from __future__ import annotations

import importlib.util
import io
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def enclave_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("enclave_data", REPO / "images" / "python" / "enclave_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixed_table(rows: int = 1000) -> pa.Table:
    i = np.arange(rows)
    return pa.table({
        "patient": pa.array([f"p{n:04d}é" if n % 5 else None for n in i]),
        "band": pa.array(["30-34", "35-39", "40-44", "45-49"] * (rows // 4)).dictionary_encode(),
        "count": pa.array([None if n % 7 == 0 else int(n) - 500 for n in i], pa.int32()),
        "amount": pa.array(i * 0.25),
        "flag": pa.array(i % 3 == 0),
        "day": pa.array([None if n % 11 == 0 else 18000 + int(n) for n in i], pa.date32()),
        "seen": pa.array(i * 1_000_000_007, pa.timestamp("us", tz="UTC")),
    })


def test_open_dataset_is_lazy_and_filters_without_reading_everything(enclave_data, tmp_path):
    table = pa.table({"year": pa.array(np.repeat(np.arange(2015, 2025), 10_000)), "amount": pa.array(np.ones(100_000))})
    pq.write_table(table, tmp_path / "ER_PRS_F.parquet", row_group_size=10_000)
    dataset = enclave_data.open_dataset("ER_PRS_F")
    assert isinstance(dataset, ds.Dataset)
    assert dataset.count_rows() == 100_000
    # Statistics prune the row groups of other years: one group of ten is read.
    fragments = list(dataset.get_fragments(filter=pc.field("year") == 2020))
    groups = [g for fragment in fragments for g in fragment.split_by_row_group(filter=pc.field("year") == 2020)]
    assert len(groups) == 1
    assert dataset.to_table(columns=["amount"], filter=pc.field("year") == 2020).num_rows == 10_000
    assert enclave_data.open_dataset("ER_PRS_F.parquet").count_rows() == 100_000


def test_open_dataset_names_the_extracts_there_are(enclave_data, tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "IR_BEN_R.parquet")
    with pytest.raises(FileNotFoundError, match=r"no extract 'ER_XYZ_F' in .* \(extracts there: IR_BEN_R\)"):
        enclave_data.open_dataset("ER_XYZ_F")
    with pytest.raises(ValueError, match="give the name of a file"):
        enclave_data.open_dataset("../secrets")


def test_duckdb_connect_in_the_slim_image_says_where_duckdb_is(enclave_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as in the slim image: not installed
    with pytest.raises(ImportError, match='DuckDB is in the stack image.*image = "stack"'):
        enclave_data.duckdb_connect()


def decode_julia_payload(payload: bytes) -> dict[str, list]:
    """What images/julia/Enclave.jl does with the payload, in Python: the format's reference reader."""
    stream = io.BytesIO(payload)
    assert stream.readline() == b"ENCLAVE-COLUMNS-1\n"
    rows, columns = int(stream.readline()), int(stream.readline())
    out = {}
    for _ in range(columns):
        name, kind, nvalues, nvalid = stream.readline().decode().rstrip("\n").split("\t")
        values, valid = stream.read(int(nvalues)), stream.read(int(nvalid))
        if kind == "String":
            offsets = np.frombuffer(values[:8 * (rows + 1)], "<i8")
            text = values[8 * (rows + 1):]
            decoded = [text[offsets[k]:offsets[k + 1]].decode() for k in range(rows)]
        else:
            dtype = {"Int64": "<i8", "Float64": "<f8", "Bool": "u1", "Date": "<i4", "DateTime": "<i8"}[kind]
            raw = np.frombuffer(values, dtype)
            assert len(raw) == rows, (name, kind)
            convert = {"Bool": bool, "Date": lambda d: date.fromordinal(date(1970, 1, 1).toordinal() + int(d)),
                       "DateTime": lambda ms: datetime.fromtimestamp(int(ms) / 1000, timezone.utc)}.get(kind, lambda v: v.item())
            decoded = [convert(v) for v in raw]
        if valid:
            decoded = [v if ok else None for v, ok in zip(decoded, valid, strict=True)]
        out[name] = (kind, decoded)
    assert stream.read() == b""
    return out


def test_the_julia_payload_carries_every_column_and_its_nulls(enclave_data, tmp_path):
    table = mixed_table()
    pq.write_table(table, tmp_path / "mixed.parquet", row_group_size=300)  # several chunks
    payload = io.BytesIO()
    enclave_data.julia_columns("mixed", payload)
    decoded = decode_julia_payload(payload.getvalue())
    kinds = {name: kind for name, (kind, _) in decoded.items()}
    assert kinds == {"patient": "String", "band": "String", "count": "Int64", "amount": "Float64", "flag": "Bool",
                     "day": "Date", "seen": "DateTime"}
    expected = table.to_pydict()
    expected["band"] = [str(v) for v in expected["band"]]
    expected["seen"] = [v.replace(microsecond=v.microsecond // 1000 * 1000) for v in expected["seen"]]  # milliseconds
    for name, (_, values) in decoded.items():
        assert values == expected[name], name


def test_the_julia_payload_of_chosen_columns_and_the_command_line(enclave_data, tmp_path, monkeypatch, capsysbinary):
    pq.write_table(mixed_table(8), tmp_path / "mixed.parquet")
    assert enclave_data._main(["julia", "mixed", "--columns", "amount,flag"]) == 0
    decoded = decode_julia_payload(capsysbinary.readouterr().out)
    assert list(decoded) == ["amount", "flag"]
    assert enclave_data._main(["list"]) == 0
    assert capsysbinary.readouterr().out == b"mixed\n"
    assert enclave_data._main(["julia"]) == 2
