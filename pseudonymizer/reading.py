"""Read a source table, Parquet or CSV, as record batches typed by its Table Schema.

Strict: a missing or unexpected column, a value that does not parse as its declared type, or a
corrupt file is a PseudonymizerError naming the file, column, row and value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .catalog import Column, Table
from .errors import PseudonymizerError

SOURCE_SUFFIXES = (".parquet", ".csv")
TRUE_VALUES = ["true", "True", "TRUE", "1"]
FALSE_VALUES = ["false", "False", "FALSE", "0"]
# Table Schema "default" formats, written as strptime patterns.
DEFAULT_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "yearmonth": "%Y%m"}


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type a column's values have once read (before any coarsening)."""
    if column.type == "date" and column.format == "%m":
        return pa.int8()  # SNDS month-only "dates" are month numbers
    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("s"),
        "year": pa.int64(),
        "yearmonth": pa.date32(),
    }[column.type]


@dataclass(frozen=True)
class Source:
    table: Table
    path: Path

    @property
    def kind(self) -> str:
        return self.path.suffix.lstrip(".")


def find_source(sources_dir: Path, table: Table) -> Source:
    for suffix in SOURCE_SUFFIXES:
        candidate = sources_dir / f"{table.source}{suffix}"
        if candidate.is_file():
            return Source(table, candidate)
    raise PseudonymizerError(
        f"no source file for table {table.name}: looked for {sources_dir / table.source}.parquet and .csv",
        "check --sources, or the table's 'source' in the catalog",
    )


def check_source(source: Source) -> None:
    """Open the file and check its columns against the Table Schema, before any row is read."""
    if source.kind == "parquet":
        try:
            names = pq.ParquetFile(source.path).schema_arrow.names
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(source, exc) from None
    else:
        names = _csv_header(source)
    _check_header(source, names)


def iter_batches(source: Source, columns: list[Column], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Yield batches holding exactly `columns`, typed by :func:`arrow_type`."""
    if source.kind == "parquet":
        yield from _parquet_batches(source, columns, batch_size)
    else:
        yield from _csv_batches(source, columns, batch_size)


def _check_header(source: Source, names: list[str]) -> None:
    expected = source.table.names
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise PseudonymizerError(
            f"schema mismatch in {source.path}: {'; '.join(parts)} (Table Schema {source.table.schema_path.name})",
            "re-export the source with the schema's columns, or fix the Table Schema",
        )


def _parquet_batches(source: Source, columns: list[Column], batch_size: int) -> Iterator[pa.RecordBatch]:
    check_source(source)
    pfile = pq.ParquetFile(source.path)
    row = 0
    try:
        for batch in pfile.iter_batches(batch_size=batch_size, columns=[c.name for c in columns], use_threads=True):
            yield _conform(source, columns, batch, row)
            row += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise _corrupt(source, exc) from None


def _csv_batches(source: Source, columns: list[Column], batch_size: int) -> Iterator[pa.RecordBatch]:
    check_source(source)
    row = 0
    try:
        reader = pacsv.open_csv(
            source.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_size * 64)),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in source.table.names},
                strings_can_be_null=True,
                null_values=[""],
                include_columns=[c.name for c in columns],
            ),
        )
        for batch in reader:
            yield _conform(source, columns, batch, row)
            row += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise _corrupt(source, exc) from None


def _csv_header(source: Source) -> list[str]:
    with open(source.path, encoding="utf-8", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


def _corrupt(source: Source, exc: Exception) -> PseudonymizerError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PseudonymizerError(
        f"cannot read {source.kind.upper()} file {source.path}: {detail}",
        "the file is corrupt or truncated; re-export it from the source system",
    )


def _conform(source: Source, columns: list[Column], batch: pa.RecordBatch, first_row: int) -> pa.RecordBatch:
    arrays = [convert(source, col, batch.column(col.name), first_row) for col in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def convert(source: Source, column: Column, values: pa.Array, first_row: int) -> pa.Array:
    """Bring one column to its declared type; raise naming the first value that does not fit."""
    target = arrow_type(column)
    if values.type == target:
        return values
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        parsed = _parse_strings(column, values)
    else:
        try:
            parsed = pc.cast(values, target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise PseudonymizerError(
                f"schema mismatch in {source.path}: column {column.name} holds {values.type}, "
                f"the Table Schema says {column.type} ({target})",
                "re-export the source with the declared type, or override the type in the role file",
            ) from None
    bad = pc.and_(pc.is_null(parsed), pc.is_valid(values))
    if pc.any(bad).as_py():
        index = pc.index(bad, True).as_py()
        raise PseudonymizerError(
            f"{source.path}, column {column.name}, row {first_row + index + 1}: "
            f"{values[index].as_py()!r} is not a valid {column.type}"
            + (f" in format {column.format!r}" if column.format != "default" else ""),
            "fix the value, or declare the column's real type/format in the role file (type = ..., format = ...)",
        )
    return parsed


def _parse_strings(column: Column, values: pa.Array) -> pa.Array:
    target = arrow_type(column)
    if column.type == "string":
        return pc.cast(values, pa.string())
    if column.type == "boolean":
        true = pc.is_in(values, value_set=pa.array(TRUE_VALUES))
        false = pc.is_in(values, value_set=pa.array(FALSE_VALUES))
        return pc.if_else(true, True, pc.if_else(false, pa.scalar(False), pa.scalar(None, pa.bool_())))
    if column.type in ("integer", "number", "year") or target == pa.int8():
        numeric = pc.utf8_trim_whitespace(values)
        ok = pc.match_substring_regex(numeric, r"^[+-]?\d+$" if column.type != "number" else r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        cleaned = pc.if_else(ok, numeric, pa.scalar(None, pa.string()))
        return pc.cast(cleaned, target)
    fmt = DEFAULT_FORMATS[column.type] if column.format == "default" else column.format
    stamps = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    return pc.cast(stamps, target)
