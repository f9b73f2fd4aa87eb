"""Read a source table, Parquet or CSV, as record batches typed by its Table Schema.

Strict: a missing or unexpected column (unless the table declares ``extra = "drop"``), a value that
does not parse as its declared type, or a corrupt file is a PseudonymizerError naming the file,
column, row and value. CSV files are read in the table's declared :class:`~.dialect.Dialect`.
"""

from __future__ import annotations

import csv
import io
import re
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
# Table Schema "default" formats, written as strptime patterns.
DEFAULT_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "yearmonth": "%Y%m"}
_INTEGER = r"^[+-]?\d+(\.0*)?$"  # "12.0": an integer written by a float-typed export, read exactly
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


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
    name: str = ""  # the table's name in this source (a family member: T_MCO22C); default the table's

    @property
    def kind(self) -> str:
        return self.path.suffix.lstrip(".")

    @property
    def table_name(self) -> str:
        return self.name or self.table.name


def source_files(sources_dir: Path) -> dict[str, Path]:
    """Every source file under `sources_dir` (subfolders too), by its relative path without suffix."""
    found = {}
    for suffix in SOURCE_SUFFIXES[::-1]:  # Parquet wins over a CSV of the same name
        for path in sorted(sources_dir.rglob(f"*{suffix}")):
            if path.is_file():
                found[path.relative_to(sources_dir).with_suffix("").as_posix()] = path
    return found


def find_sources(sources_dir: Path, table: Table, name: str | None = None, files: dict[str, Path] | None = None) -> list[Source]:
    """The source files of `table` (or of its family member `name`): by the table's `source` path,
    else by file name in any subfolder; a family matches every member's file."""
    files = source_files(sources_dir) if files is None else files
    wanted = name or table.name
    exact = files.get(table.source if name in (None, table.name) else "")
    if exact is not None:
        return [Source(table, exact, table.name)]
    matches: dict[str, Path] = {}
    family = table.family
    for rel, path in files.items():
        stem = rel.rsplit("/", 1)[-1]  # file names are matched ignoring case: er_prs_f.csv is ER_PRS_F
        if stem.upper() == wanted.upper():
            stem = wanted
        elif name is None and family and re.match(family.pattern, stem, re.IGNORECASE):
            stem = table.name if stem.upper() == table.name.upper() else stem.upper() if stem == stem.lower() else stem
        else:
            continue
        if stem in matches:
            raise PseudonymizerError(
                f"two source files for table {stem}: {matches[stem]} and {path}",
                "keep one, or set the table's 'source' in the catalog",
            )
        matches[stem] = path
    if not matches:
        raise PseudonymizerError(
            f"no source file for table {wanted}: looked for {sources_dir / table.source}.parquet or .csv, and {wanted}.* in its subfolders",
            "check --sources, or the table's 'source' in the catalog",
        )
    return [Source(table, path, stem) for stem, path in sorted(matches.items())]


def find_source(sources_dir: Path, table: Table) -> Source:
    return find_sources(sources_dir, table)[0]


def source_columns(source: Source) -> list[str]:
    """The column names the file holds."""
    if source.kind == "parquet":
        try:
            return pq.ParquetFile(source.path).schema_arrow.names
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(source, exc) from None
    return csv_header(source)


def header_problems(source: Source, names: list[str]) -> tuple[list[str], list[str]]:
    """(missing, extra) columns of the file against the Table Schema; extra ones are fine when the
    table declares them (extras = [...]) or extra = "drop"."""
    expected = source.table.names
    missing = [n for n in expected if n not in names]
    allowed = set(expected) | set(source.table.extras)
    extra = [n for n in names if n not in allowed] if source.table.extra == "error" else []
    return missing, extra


def check_source(source: Source) -> None:
    """Open the file and check its columns against the Table Schema, before any row is read."""
    names = source_columns(source)
    if source.kind == "csv" and len(names) == 1 and len(source.table.names) > 1:
        found = max(",;\t|", key=names[0].count)
        raise PseudonymizerError(
            f"schema mismatch in {source.path}: the header has one column where {source.table.schema_path.name} has "
            f"{len(source.table.names)}: the delimiter is not {source.table.dialect.delimiter!r} (the header holds {found!r})",
            f"declare it: dialect = {{ delimiter = \"{found}\" }} in the role file, or --dialect 'delimiter={found}'; "
            "`enclave catalog check` lists every mismatch at once",
        )
    missing, extra = header_problems(source, names)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {_few(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {_few(extra)}")
        hint = "run `enclave catalog check --sources DIR` for the role-file lines that fix it"
        if extra and not missing:
            listed = ", ".join(f'"{n}"' for n in (*source.table.extras, *extra))
            hint = (f"declare them in [tables.{source.table.name}]: extras = [{listed}] (left out of the extract and listed), "
                    'or extra = "drop" to leave out any column the Table Schema lacks, or add them to the Table Schema')
        raise PseudonymizerError(f"schema mismatch in {source.path}: {'; '.join(parts)} (Table Schema {source.table.schema_path.name})", hint)


def _few(names: list[str], shown: int = 8) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def iter_batches(source: Source, columns: list[Column], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Yield batches holding exactly `columns`, typed by :func:`arrow_type`."""
    check_source(source)
    row = 0
    for batch in raw_batches(source, [c.name for c in columns], batch_size):
        yield _conform(source, columns, batch, row)
        row += batch.num_rows


def iter_range_batches(source: Source, columns: list[Column], batch_size: int, start: int, stop: int | None) -> Iterator[pa.RecordBatch]:
    """The batches :func:`iter_batches` yields for source rows [start, stop) of a Parquet source,
    read from the row groups that hold them; `start` is a multiple of `batch_size`, and `stop` too
    unless it is the end. One worker of a distributed extraction reads its slice this way."""
    if start == 0 and stop is None:
        yield from iter_batches(source, columns, batch_size)
        return
    if source.kind != "parquet" or start % batch_size or (stop is not None and stop % batch_size and stop != _parquet_rows(source)):
        raise ValueError(f"rows [{start}, {stop}) of {source.path} are not a slice of whole batches of {batch_size}")
    try:
        meta = pq.ParquetFile(source.path).metadata
        groups, offset, first = [], 0, None
        for i in range(meta.num_row_groups):
            rows = meta.row_group(i).num_rows
            if offset + rows > start and (stop is None or offset < stop):
                groups.append(i)
                first = offset if first is None else first
            offset += rows
        stop = offset if stop is None else min(stop, offset)
        if not groups or start >= stop:
            return
        raw = pq.ParquetFile(source.path).iter_batches(batch_size=batch_size, columns=[c.name for c in columns], row_groups=groups, use_threads=True)
        row = start
        for batch in _rebatch(raw, start - first, stop - start, batch_size):
            yield _conform(source, columns, batch, row)
            row += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise _corrupt(source, exc) from None


def _parquet_rows(source: Source) -> int:
    return pq.ParquetFile(source.path).metadata.num_rows


def _rebatch(batches: Iterator[pa.RecordBatch], skip: int, count: int, size: int) -> Iterator[pa.RecordBatch]:
    """`count` rows after the first `skip` of `batches`, cut in batches of `size` rows (the last one shorter)."""
    held: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        if skip:
            if batch.num_rows <= skip:
                skip -= batch.num_rows
                continue
            batch, skip = batch.slice(skip), 0
        held.append(batch)
        have += batch.num_rows
        while count and (have >= size or have >= count):
            n = min(size, count)
            if len(held) == 1 and held[0].num_rows == n:
                out, held = held[0], []
            else:
                table = pa.Table.from_batches(held)
                out = table.slice(0, n).combine_chunks().to_batches()[0]
                held = table.slice(n).to_batches()
            have -= n
            count -= n
            yield out
        if not count:
            return
    if count and have:
        yield pa.Table.from_batches(held).slice(0, count).combine_chunks().to_batches()[0]


def raw_batches(source: Source, names: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of the named columns as stored (all strings for a CSV)."""
    try:
        if source.kind == "parquet":
            yield from pq.ParquetFile(source.path).iter_batches(batch_size=batch_size, columns=names, use_threads=True)
            return
        dialect = source.table.dialect
        reader = pacsv.open_csv(
            source.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_size * 16), encoding=dialect.encoding),  # ~4 MiB: bounds memory
            parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter, quote_char=dialect.quote),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=list(dialect.null_values),
                include_columns=names,
            ),
        )
        yield from reader
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, UnicodeDecodeError) as exc:
        raise _corrupt(source, exc) from None


def csv_header(source: Source) -> list[str]:
    dialect = source.table.dialect
    encoding = "utf-8-sig" if dialect.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else dialect.encoding
    with open(source.path, "rb") as fh:
        first = fh.readline(1 << 20)
    text = first.decode(encoding, errors="replace")
    return next(csv.reader(io.StringIO(text), delimiter=dialect.delimiter, quotechar=dialect.quote), [])


def _corrupt(source: Source, exc: Exception) -> PseudonymizerError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = "the file is corrupt or truncated; re-export it from the source system"
    if source.kind == "csv" and ("UTF8" in detail or "utf-8" in detail or isinstance(exc, UnicodeDecodeError)):
        hint = f'the file is not {source.table.dialect.encoding}: declare its encoding (dialect = {{ encoding = "latin-1" }}) or run `enclave catalog check`'
    return PseudonymizerError(f"cannot read {source.kind.upper()} file {source.path}: {detail}", hint)


def _conform(source: Source, columns: list[Column], batch: pa.RecordBatch, first_row: int) -> pa.RecordBatch:
    arrays = [convert(source, col, batch.column(col.name), first_row) for col in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def convert(source: Source, column: Column, values: pa.Array, first_row: int) -> pa.Array:
    """Bring one column to its declared type; raise naming the first value that does not fit."""
    if source.kind == "parquet" and values.type == arrow_type(column):
        return values  # stored as declared: nothing to parse (most Parquet columns, every batch)
    parsed, bad = parse(source, column, values)
    if bad is None:
        raise PseudonymizerError(
            f"schema mismatch in {source.path}: column {column.name} holds {values.type}, "
            f"the Table Schema says {column.type} ({arrow_type(column)})",
            "re-export the source with the declared type, or override the type in the role file",
        )
    if pc.any(bad).as_py():
        index = pc.index(bad, True).as_py()
        where = f"{source.path}, column {column.name}, row {first_row + index + 1}: {values[index].as_py()!r} is not a valid {column.type}"
        tried = temporal_formats(column, source.table.dialect)
        if tried:
            key = "datetime_formats" if column.type == "datetime" else "date_formats"
            raise PseudonymizerError(
                f"{where}: tried every format the catalog and dialect give, {', '.join(repr(f) for f in tried)}",
                f"add the value's format to the dialect's {key}: --dialect '{key}=FORMAT' (adds to the catalog's), "
                f"{key} = [..., \"FORMAT\"] in the role file's [dialect], or {key} in the project manifest's [pseudonymisation] "
                "dialect (FORMAT as strptime writes it, e.g. %d/%m/%Y); `enclave catalog check` proposes the line",
            )
        raise PseudonymizerError(
            where + (f" in format {column.format!r}" if column.format != "default" else ""),
            "fix the value, or declare the column's real type/format in the role file (type = ..., format = ...); "
            "`enclave catalog check` lists every such value at once",
        )
    return parsed


def temporal_formats(column: Column, dialect) -> tuple[str, ...]:
    """The strptime formats a date, datetime or yearmonth column is read with, in order; () for other types."""
    if column.type not in DEFAULT_FORMATS or arrow_type(column) == pa.int8():
        return ()
    own = DEFAULT_FORMATS[column.type] if column.format == "default" else column.format
    extra = dialect.datetime_formats if column.type == "datetime" else dialect.date_formats
    return (own,) + tuple(f for f in extra if f != own)


def parse(source: Source, column: Column, values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """(typed values, mask of the values that do not parse); mask None when the stored type cannot be cast."""
    target = arrow_type(column)
    is_text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if is_text and source.kind == "csv":
        blank = pc.ascii_is_space(values)  # non-empty and only spaces or tabs: a missing value
        if pc.any(blank).as_py():
            values = pc.if_else(blank, pa.scalar(None, values.type), values)
    if values.type == target:
        return values, pc.and_(pc.is_valid(values), pc.is_null(values))  # all False
    if is_text:
        parsed = parse_strings(column, values, source.table.dialect)
    else:
        try:
            parsed = pc.cast(values, target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return values, None
    return parsed, pc.and_(pc.is_null(parsed), pc.is_valid(values))


def parse_strings(column: Column, values: pa.Array, dialect, formats: tuple[str, ...] | None = None) -> pa.Array:
    """Strings -> the column's Arrow type (null where a value does not parse)."""
    target = arrow_type(column)
    if column.type == "string":
        return pc.cast(values, pa.string())
    if column.type == "boolean":
        true = pc.is_in(values, value_set=pa.array(list(dialect.true_values), pa.string()))
        false = pc.is_in(values, value_set=pa.array(list(dialect.false_values), pa.string()))
        return pc.if_else(true, True, pc.if_else(false, pa.scalar(False), pa.scalar(None, pa.bool_())))
    if column.type in ("integer", "number", "year") or target == pa.int8():
        fast = _plain_cast(values, target, column.type == "number" and dialect.decimal != ".")
        if fast is not None:
            return fast
        numeric = pc.utf8_trim_whitespace(values)
        if column.type == "integer" and dialect.booleans_in_integers:
            true = pc.is_in(numeric, value_set=pa.array(list(dialect.true_values), pa.string()))
            false = pc.is_in(numeric, value_set=pa.array(list(dialect.false_values), pa.string()))
            numeric = pc.if_else(true, "1", pc.if_else(false, "0", numeric))
        if column.type == "number" and dialect.decimal != ".":
            numeric = pc.replace_substring(numeric, dialect.decimal, ".")
        ok = pc.match_substring_regex(numeric, _NUMBER if column.type == "number" else _INTEGER)
        cleaned = pc.if_else(ok, numeric, pa.scalar(None, pa.string()))
        if column.type != "number":
            cleaned = pc.replace_substring_regex(cleaned, r"\.0*$", "")
        return pc.cast(cleaned, target)
    if formats is None and column.type == "date" and column.format == "default":
        try:  # ISO dates: Arrow's cast is six times faster than strptime
            return pc.cast(values, pa.date32())
        except pa.ArrowInvalid:
            pass
    if formats is None:
        formats = temporal_formats(column, dialect)
    stamps = None
    for fmt in formats:
        attempt = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
        stamps = attempt if stamps is None else pc.coalesce(stamps, attempt)
        if stamps.null_count == values.null_count:
            break
    if target == pa.date32():
        stamps = pc.floor_temporal(stamps, unit="day")
    return pc.cast(stamps, target)


def _plain_cast(values: pa.Array, target: pa.DataType, decimal_comma: bool) -> pa.Array | None:
    """Arrow's own cast, when every value is a plain number it reads as we would; else None."""
    if decimal_comma:
        return None
    try:
        cast = pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pa.types.is_floating(target):
        if pc.any(pc.is_nan(cast)).as_py() or pc.any(pc.is_inf(cast)).as_py():
            return None  # "nan", "inf": not numbers in a source
        return cast
    # Arrow also reads hexadecimal ("0x1F"): every value must be decimal digits, with a sign at most.
    other = pc.invert(pc.fill_null(pc.ascii_is_decimal(values), True))
    if pc.any(other).as_py() and not pc.all(pc.match_substring_regex(values.filter(other), _INTEGER)).as_py():
        return None
    return cast
