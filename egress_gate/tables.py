"""Read a submitted file into Arrow tables, or say clearly why it cannot be read.

A file gives a list of *parts* (name, table): one for CSV, TSV, Parquet and tabular JSON, one per
sheet for a workbook. Text types (txt, md, non-tabular JSON) are read as text by `read_text`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .errors import EgressError

TABLE_TYPES = ("csv", "tsv", "parquet", "xlsx", "json")
TEXT_TYPES = ("txt", "md", "json", "patch", "diff")
CODE_TYPES = ("patch", "diff")  # what a request of kind "code" carries (enclave-export code)
IMAGE_TYPES = ("png", "jpg", "svg", "pdf")
ALIASES = {"jpeg": "jpg", "jpe": "jpg", "markdown": "md", "tab": "tsv"}

# What the first bytes of a binary type must be: a renamed file is refused, not trusted.
MAGIC = {
    "parquet": (b"PAR1",),
    "xlsx": (b"PK\x03\x04",),
    "keras": (b"PK\x03\x04",),  # model files (request kind "model"): zip containers read by their own loaders
    "skops": (b"PK\x03\x04",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "pdf": (b"%PDF-",),
}


def file_type(path: Path) -> str:
    """The file's type from its extension, lower case without the dot ('' when it has none)."""
    ext = path.suffix.lower().lstrip(".")
    return ALIASES.get(ext, ext)


def content_matches_type(path: Path, kind: str) -> bool:
    """Whether the file's first bytes are those of `kind` (always true for types without a signature)."""
    with open(path, "rb") as fh:
        return head_matches_type(fh.read(8), kind)


def head_matches_type(head: bytes, kind: str) -> bool:
    """Whether a file's first bytes are those of `kind` (always true for types without a signature)."""
    signatures = MAGIC.get(kind)
    return not signatures or any(head.startswith(s) for s in signatures)


def read_tables(path: Path) -> list[tuple[str | None, pa.Table]]:
    """The tables in a csv, tsv, parquet, xlsx or tabular json file; raises EgressError when unreadable."""
    kind = file_type(path)
    reader = {"csv": _read_csv, "tsv": _read_tsv, "parquet": _read_parquet, "xlsx": _read_xlsx, "json": _read_json}.get(kind)
    if reader is None:
        raise EgressError(f"{path.name}: a .{kind or '(no extension)'} file is not a table", f"tables are {', '.join(TABLE_TYPES)}")
    try:
        return reader(path)
    except EgressError:
        raise
    except pa.ArrowMemoryError as exc:
        raise MemoryError(str(exc)) from None  # a budget ran out: not a corrupt file
    except (pa.ArrowInvalid, pa.ArrowException, ValueError, OSError, KeyError, TypeError, UnicodeDecodeError,
            RecursionError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EgressError(
            f"{path.name}: cannot be read as {kind.upper()} ({detail[:200]})",
            "the file is corrupt or not what its extension says; export it again from the notebook",
        ) from None


def read_text(path: Path, max_bytes: int) -> str:
    """The file as text (UTF-8, undecodable bytes replaced), at most `max_bytes` of it."""
    with open(path, "rb") as fh:
        return fh.read(max_bytes).decode("utf-8", errors="replace")


def _read_csv(path: Path, delimiter: str = ",") -> list:
    parse = pacsv.ParseOptions(delimiter=delimiter)
    try:
        return [(None, pacsv.read_csv(path, parse_options=parse))]
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
    # A cell longer than Arrow's block (1 MB): read the file as one block (it is within the size limit).
    whole = pacsv.ReadOptions(block_size=path.stat().st_size + 1)
    return [(None, pacsv.read_csv(path, read_options=whole, parse_options=parse))]


def _read_tsv(path: Path) -> list:
    return _read_csv(path, "\t")


def _read_parquet(path: Path) -> list:
    return [(None, pq.read_table(path))]


def _read_xlsx(path: Path) -> list:
    import pandas as pd  # openpyxl is imported by pandas only when a workbook is read

    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    except ImportError as exc:
        raise EgressError(f"{path.name}: workbooks need openpyxl ({exc})", "install the project's dependencies again") from None
    except Exception as exc:  # openpyxl raises zipfile and XML errors of many types for a corrupt workbook
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    parts = []
    for name, frame in sheets.items():
        frame.columns = [str(c) for c in frame.columns]
        for column in frame.columns:
            if frame[column].dtype == object:  # mixed cells: keep them as text rather than fail
                frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
        parts.append((str(name), pa.Table.from_pandas(frame, preserve_index=False)))
    return parts


def _read_json(path: Path) -> list:
    """Tabular JSON: an array of records, an object of equal-length arrays, or JSON lines."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).lstrip()
    if head.startswith(b"{") and b"\n{" in head and not _is_one_document(path):
        return [(None, pajson.read_json(path))]
    data = json.loads(path.read_bytes())
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return [(None, pa.Table.from_pylist([{k: _cell(v) for k, v in r.items()} for r in data]))]
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) == 1:
            return [(None, pa.table({k: [_cell(x) for x in v] for k, v in data.items()}))]
    return []  # valid JSON, but not a table: checked as text


def _is_one_document(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
        return True
    except (ValueError, RecursionError):
        return False


def _cell(value):
    # Nested values become their JSON text, so one column keeps one type.
    return json.dumps(value) if isinstance(value, (dict, list)) else value
