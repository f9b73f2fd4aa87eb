"""What the checks know about the project: its pseudonym set and its earlier releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.layout import EXTRACT_MANIFEST, linkage_columns, read_extract_manifest
from pseudonymizer.pseudonyms import PSEUDONYM_HEX

from .errors import EgressError
from .hexkeys import SortedKeys, hex_words

PSEUDONYM_LENGTH = PSEUDONYM_HEX  # the pseudonymizer's width: hex characters per pseudonym


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

    The linkage columns are those the pseudonymizer's ``manifest.json`` gives the role
    ``linkage`` (its keyed pseudonyms). Columns are read one at a time, so memory holds one column
    of one extract and the growing set."""
    folder = Path(extracts_dir)
    if not folder.is_dir():
        raise EgressError(f"extracts folder {folder} does not exist", "provision the project first")
    try:
        manifest = read_extract_manifest(folder)
        columns = linkage_columns(manifest) if manifest is not None else None
    except (ValueError, KeyError, TypeError) as exc:
        raise EgressError(f"{folder / EXTRACT_MANIFEST} is not a pseudonymizer manifest ({exc!r})",
                          "re-provision the project's extracts") from None
    if columns is None:
        raise EgressError(f"extracts folder {folder} has no {EXTRACT_MANIFEST}", "re-provision the project's extracts")
    found: list[pa.Array] = []
    for file, names in sorted(columns.items()):
        path = folder / file
        for name in names:
            try:
                column = pq.read_table(path, columns=[name]).column(0)
            except (pa.ArrowException, OSError) as exc:
                raise EgressError(f"extract {path.name} cannot be read ({exc})",
                                  "re-provision the project's extracts") from None
            values = pc.unique(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)).drop_null()
            found.append(values.cast(pa.string()))
    if not found:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(found).combine_chunks())
