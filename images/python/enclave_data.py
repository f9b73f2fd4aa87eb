"""Read the project's extracts: the Parquet files mounted read-only in ~/data.

    >>> from enclave_data import list_extracts, read_extract
    >>> list_extracts()
    ['ER_PRS_F', 'IR_BEN_R']
    >>> df = read_extract("IR_BEN_R")          # a pandas DataFrame

A large extract is queried without loading it: open_dataset() gives a lazy pyarrow
dataset (filters and column choices are pushed down, row groups are read one batch at
a time), and in the stack image duckdb_connect() gives a DuckDB connection where every
extract is a view:

    >>> import pyarrow.compute as pc
    >>> care = open_dataset("ER_PRS_F")
    >>> care.count_rows(filter=pc.field("PRS_NAT_REF") == 1111)
    >>> care.to_table(columns=["BEN_NIR_PSA", "PRS_PAI_MNT"], filter=pc.field("EXE_SOI_DTD") >= date(2020, 1, 1))
    >>> duckdb_connect().sql("SELECT PRS_NAT_REF, sum(PRS_PAI_MNT) FROM ER_PRS_F GROUP BY 1").df()

R's read_extract() (package 'enclave') calls r_columns() through reticulate:
Debian has no R arrow package, so pyarrow reads and R gets plain vectors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["data_dir", "duckdb_connect", "extract_path", "julia_columns", "list_extracts", "open_dataset", "r_columns",
           "r_query", "read_extract", "read_table"]

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


def open_dataset(name: str) -> ds.Dataset:
    """Extract `name` as a lazy pyarrow Dataset: nothing is read until it is scanned.

    Scan it with a filter and the columns needed (``to_table(columns=..., filter=...)``,
    ``count_rows(filter=...)``, ``to_batches(...)`` for a loop over bounded batches), or hand it
    to DuckDB (``duckdb.sql("SELECT ... FROM dataset")``) or polars (``pl.scan_pyarrow_dataset``):
    memory stays bounded by the batches, whatever the extract's size.
    """
    return ds.dataset(extract_path(name), format="parquet")


def duckdb_connect(memory_limit: str = "1GB", threads: int | None = None):
    """A DuckDB connection (in memory) where every extract is a view of its name: SQL over
    the Parquet files, read lazily, with DuckDB's memory capped at `memory_limit`.

    DuckDB is in the stack image (enclave/notebook-stack); the slim image has open_dataset().
    """
    try:
        import duckdb
    except ImportError:
        raise ImportError("DuckDB is in the stack image, not in this one: use open_dataset(), or ask ops to set "
                          'image = "stack" in the project\'s manifest ([resources])') from None
    # Nothing is fetched: no extension downloads in an enclave (there is no network).
    connection = duckdb.connect(config={"memory_limit": memory_limit, "autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False})
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    for name in list_extracts():
        path = str(extract_path(name)).replace("'", "''")
        connection.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{path}')")
    return connection


def r_columns(name: str, columns: list[str] | None = None) -> dict:
    """Extract `name` as column payloads for R's read_extract() (package 'enclave').

    Debian's reticulate (1.28) cannot convert NumPy 2 arrays, so numbers travel as
    little-endian bytes (a bytearray becomes an R raw vector, read back with readBin)
    and text as Python lists of str (an R character vector). Returns {"nrows": n,
    "columns": [{"name", "kind", "values", "valid", ...}]}: `kind` is the R type to
    build (integer, double, logical, character, factor, Date, POSIXct), `valid` one
    byte per row, 0 where the value is null (NA in R), or None without nulls.
    """
    return _r_payload(read_table(name, columns))


def r_query(sql: str, memory_limit: str = "1GB") -> dict:
    """The result of `sql` over the extracts (duckdb_connect()), as r_columns() gives an extract:
    R's query_extracts() (package 'enclave'). Only the result is materialised."""
    connection = duckdb_connect(memory_limit=memory_limit)
    try:
        return _r_payload(connection.sql(sql).to_arrow_table())
    finally:
        connection.close()


def _r_payload(table: pa.Table) -> dict:
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


# --- Julia: read_extract() of the module Enclave (images/julia/Enclave.jl) runs
#     `python -m enclave_data julia NAME [--columns a,b]` and reads this on its stdout. ---

JULIA_MAGIC = b"ENCLAVE-COLUMNS-1\n"


def julia_columns(name: str, stream: BinaryIO, columns: list[str] | None = None) -> None:
    """Write extract `name` to `stream` for Julia: a header line, the row and column counts,
    then per column one line ``name<TAB>kind<TAB>len(values)<TAB>len(valid)`` and those bytes.
    Kinds: Int64, Float64, Bool, Date (int32 days), DateTime (int64 ms, UTC), String (n+1
    int64 offsets, then the UTF-8 text); `valid` is one byte per row, 0 where null, or empty."""
    table = read_table(name, columns)
    stream.write(JULIA_MAGIC + f"{table.num_rows}\n{table.num_columns}\n".encode())
    for column_name in table.column_names:
        column = table.column(column_name)
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        kind, values = _julia_values(array)
        valid = bytes(_bytes(array.is_valid(), "u1")) if array.null_count else b""
        safe = column_name.replace("\t", " ").replace("\n", " ")
        stream.write(f"{safe}\t{kind}\t{len(values)}\t{len(valid)}\n".encode())
        stream.write(values)
        stream.write(valid)
    stream.flush()


def _julia_values(array: pa.Array) -> tuple[str, bytes]:
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _julia_values(array.cast(kind.value_type))
    if pa.types.is_boolean(kind):
        return "Bool", bytes(_bytes(array, "u1"))
    if pa.types.is_integer(kind):
        return "Int64", bytes(_bytes(array, "<i8"))
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "Float64", bytes(_bytes(pc.cast(array, pa.float64()), "<f8"))
    if pa.types.is_date(kind):
        return "Date", bytes(_bytes(pc.cast(pc.cast(array, pa.date32()), pa.int32()), "<i4"))
    if pa.types.is_timestamp(kind):
        as_ms = pc.cast(array, pa.timestamp("ms", tz=kind.tz), safe=False)  # Julia's DateTime: milliseconds
        return "DateTime", bytes(_bytes(pc.cast(as_ms, pa.int64()), "<i8"))
    text = pc.fill_null(array if pa.types.is_large_string(kind) else pc.cast(array, pa.large_string()), "")
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    _, offsets, data = text.buffers()
    start, end = text.offset, text.offset + len(text) + 1
    offsets = pa.Array.from_buffers(pa.int64(), len(text) + 1, [None, offsets]).to_numpy()[start:end]
    base = int(offsets[0])
    text_bytes = data.to_pybytes()[base:int(offsets[-1])] if data is not None else b""
    return "String", (offsets - base).astype("<i8").tobytes() + text_bytes


def _main(argv: list[str]) -> int:
    """`python -m enclave_data list` or `julia NAME [--columns a,b]` (for Julia's module Enclave)."""
    if argv[:1] == ["list"]:
        print("\n".join(list_extracts()))
        return 0
    if len(argv) in (2, 4) and argv[0] == "julia" and (len(argv) == 2 or argv[2] == "--columns"):
        columns = argv[3].split(",") if len(argv) == 4 else None
        julia_columns(argv[1], sys.stdout.buffer, columns)
        return 0
    print("usage: python -m enclave_data list | julia NAME [--columns a,b]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
