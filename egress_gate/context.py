"""What the checks know about the project: its pseudonym set and its earlier releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import EgressError
from .hexkeys import SortedKeys, hex_words

PSEUDONYM_PATTERN = "^[0-9a-f]{32}$"
PSEUDONYM_LENGTH = 32


@dataclass(frozen=True)
class CheckContext:
    """`pseudonyms`: the project's distinct pseudonyms (a string array); `releases`: files released before."""

    pseudonyms: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    releases: tuple[Path, ...] = ()
    project: str | None = None

    @cached_property
    def pseudonym_keys(self) -> SortedKeys:
        """The pseudonym set sorted as 128-bit keys, built once per context."""
        _, hi, lo = hex_words(self.pseudonyms.cast(pa.string()) if len(self.pseudonyms) else pa.array([], pa.string()))
        return SortedKeys(hi, lo)


def load_pseudonyms(extracts_dir: Path | str) -> pa.Array:
    """Every distinct value of the linkage columns of the project's extracts.

    A linkage column is a string column whose values are all 32 lowercase hex characters (the
    pseudonymizer's keyed pseudonyms). Columns are read one at a time, so memory holds one column
    of one extract and the growing set."""
    folder = Path(extracts_dir)
    if not folder.is_dir():
        raise EgressError(f"extracts folder {folder} does not exist", "provision the project first")
    found: list[pa.Array] = []
    for path in sorted(folder.glob("*.parquet")):
        try:
            parquet = pq.ParquetFile(path)
            for name in _string_columns(parquet.schema_arrow):
                column = pq.read_table(path, columns=[name]).column(0)
                values = pc.unique(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)).drop_null()
                if len(values) and is_pseudonym_column(values):
                    found.append(values.cast(pa.string()))
        except (pa.ArrowException, OSError) as exc:
            raise EgressError(f"extract {path.name} cannot be read ({exc})", "re-provision the project's extracts") from None
    if not found:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(found).combine_chunks())


def is_pseudonym_column(values: pa.Array) -> bool:
    """Whether every non-null value is 32 lowercase hex characters."""
    values = values.drop_null()
    if not len(values):
        return False
    lengths = pc.utf8_length(values)
    if pc.min(lengths).as_py() != PSEUDONYM_LENGTH or pc.max(lengths).as_py() != PSEUDONYM_LENGTH:
        return False
    return bool(pc.all(pc.match_substring_regex(values, PSEUDONYM_PATTERN)).as_py())


def _string_columns(schema: pa.Schema) -> list[str]:
    out = []
    for f in schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            out.append(f.name)
    return out
