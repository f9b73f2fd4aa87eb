"""Read the project's extracts: the Parquet files mounted read-only in ~/data.

    >>> from enclave_data import list_extracts, read_extract
    >>> list_extracts()
    ['ER_PRS_F', 'IR_BEN_R']
    >>> df = read_extract("IR_BEN_R")          # a pandas DataFrame

R's read_extract() (package 'enclave') calls r_columns() through reticulate:
Debian has no R arrow package, so pyarrow reads and R gets plain vectors.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["data_dir", "extract_path", "list_extracts", "r_columns", "read_extract", "read_table"]

SUFFIX = ".parquet"
_R_INT_MIN, _R_INT_MAX = -(2**31) + 1, 2**31 - 1  # -2^31 is R's NA_integer_


def data_dir() -> Path:
    """The folder of the project's extracts ($ENCLAVE_DATA_DIR, default ~/data)."""
    return Path(os.environ.get("ENCLAVE_DATA_DIR") or Path.home() / "data")


def list_extracts() -> list[str]:
    """Names of the extracts that read_extract() accepts, sorted."""
    folder = data_dir()
    return sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def extract_path(name: str) -> Path:
    """The file of extract `name` ("ER_PRS_F" or "ER_PRS_F.parquet"), checked to exist."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"extract name {name!r}: give the name of a file in {data_dir()}, like 'ER_PRS_F'")
    stem = name.removesuffix(SUFFIX)
    path = data_dir() / f"{stem}{SUFFIX}"
    if not path.is_file():
        available = ", ".join(list_extracts()) or "none"
        raise FileNotFoundError(f"no extract {stem!r} in {data_dir()} (extracts there: {available})")
    return path


def read_table(name: str, columns: list[str] | None = None) -> pa.Table:
    """Extract `name` as a pyarrow Table (all columns, or only `columns`)."""
    return pq.read_table(extract_path(name), columns=columns)


def read_extract(name: str, columns: list[str] | None = None):
    """Extract `name` as a pandas DataFrame (all columns, or only `columns`); dates as datetime64."""
    return read_table(name, columns).to_pandas(date_as_object=False)


def r_columns(name: str, columns: list[str] | None = None) -> dict:
    """Extract `name` as column payloads for R's read_extract() (package 'enclave').

    Debian's reticulate (1.28) cannot convert NumPy 2 arrays, so numbers travel as
    little-endian bytes (a bytearray becomes an R raw vector, read back with readBin)
    and text as Python lists of str (an R character vector). Returns {"nrows": n,
    "columns": [{"name", "kind", "values", "valid", ...}]}: `kind` is the R type to
    build (integer, double, logical, character, factor, Date, POSIXct), `valid` one
    byte per row, 0 where the value is null (NA in R), or None without nulls.
    """
    table = read_table(name, columns)
    return {"nrows": table.num_rows, "columns": [_r_column(n, table.column(n)) for n in table.column_names]}


def _r_column(name: str, column: pa.ChunkedArray) -> dict:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    valid = _bytes(array.is_valid(), "u1") if array.null_count else None
    kind, values, extra = _r_values(array)
    return {"name": name, "kind": kind, "values": values, "valid": valid, **extra}


def _r_values(array: pa.Array) -> tuple[str, bytearray | list, dict]:
    kind = array.type
    if pa.types.is_dictionary(kind):
        codes = pc.add(pc.cast(array.indices, pa.int32()), 1)  # R factor codes start at 1
        return "factor", _bytes(codes, "<i4"), {"levels": _strings(array.dictionary)}
    if pa.types.is_boolean(kind):
        return "logical", _bytes(array, "u1"), {}
    if pa.types.is_integer(kind):
        bounds = pc.min_max(array)
        low, high = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
        if _R_INT_MIN <= low and high <= _R_INT_MAX:
            return "integer", _bytes(array, "<i4"), {}
        return "double", _bytes(array, "<f8"), {}
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "double", _bytes(pc.cast(array, pa.float64()), "<f8"), {}
    if pa.types.is_date(kind):
        return "Date", _bytes(pc.cast(pc.cast(array, pa.date32()), pa.int32()), "<f8"), {}
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[kind.unit]
        ticks = pc.cast(array, pa.int64()).fill_null(0).to_numpy()
        return "POSIXct", bytearray((ticks / per_second).astype("<f8").tobytes()), {"tz": kind.tz or "UTC"}
    return "character", _strings(array), {}


def _bytes(array: pa.Array, dtype: str) -> bytearray:
    """The values of a numeric or boolean array (nulls as 0) as bytes of `dtype`."""
    filled = pc.fill_null(array, False if pa.types.is_boolean(array.type) else 0)
    return bytearray(filled.to_numpy(zero_copy_only=False).astype(dtype).tobytes())


def _strings(array: pa.Array) -> list[str]:
    text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
    return pc.fill_null(text, "").to_pylist()
