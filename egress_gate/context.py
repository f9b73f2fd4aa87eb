"""What the checks know about the project: its pseudonym set, what its extracts declare about their
columns, and its earlier releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.layout import EXTRACT_MANIFEST, linkage_columns, read_extract_manifest
from pseudonymizer.pseudonyms import PSEUDONYM_HEX

from .column_types import ColumnType, Declaration, declared_types
from .errors import EgressError
from .hexkeys import SortedKeys, hex_words

PSEUDONYM_LENGTH = PSEUDONYM_HEX  # the pseudonymizer's width: hex characters per pseudonym


@dataclass(frozen=True)
class CheckContext:
    """`pseudonyms`: the project's distinct pseudonyms (a string array); `releases`: files released before;
    `declared`: what the project's extracts declare about their columns (:func:`load_declared`)."""

    pseudonyms: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    releases: tuple[Path, ...] = ()
    project: str | None = None
    declared: dict[str, Declaration] = field(default_factory=dict)

    @cached_property
    def pseudonym_keys(self) -> SortedKeys:
        """The pseudonym set sorted as 128-bit keys, built once per context."""
        _, hi, lo = hex_words(self.pseudonyms.cast(pa.string()) if len(self.pseudonyms) else pa.array([], pa.string()))
        return SortedKeys(hi, lo)


def _manifest(folder: Path) -> dict:
    if not folder.is_dir():
        raise EgressError(f"extracts folder {folder} does not exist", "provision the project first")
    try:
        manifest = read_extract_manifest(folder)
        if manifest is not None:
            linkage_columns(manifest)  # the shape every reader relies on
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EgressError(f"{folder / EXTRACT_MANIFEST} is not a pseudonymizer manifest ({exc!r})",
                          "re-provision the project's extracts") from None
    if manifest is None:
        raise EgressError(f"extracts folder {folder} has no {EXTRACT_MANIFEST}", "re-provision the project's extracts")
    return manifest


MAX_CODES = 10_000  # distinct values of one code column kept to check an output against (more: not a code list)


def load_declared(extracts_dir: Path | str) -> dict[str, Declaration]:
    """What the project's extracts declare about their columns (see :mod:`egress_gate.column_types`),
    with the distinct values each numeric code or category column holds in the extracts.

    Those values are what a numeric output column named like the code must stay within to be
    believed a code: read one column at a time, at most :data:`MAX_CODES` values each."""
    folder = Path(extracts_dir)
    manifest = _manifest(folder)
    try:
        declared = declared_types(manifest)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise EgressError(f"{folder / EXTRACT_MANIFEST}: a column entry is malformed ({exc!r})",
                          "re-provision the project's extracts") from None
    out = {}
    for name, declaration in declared.items():
        if declaration.type in (ColumnType.code, ColumnType.category):
            values = _numeric_codes(folder, manifest, name)
            declaration = Declaration(declaration.type, declaration.source, values)
        out[name] = declaration
    return out


def _numeric_codes(folder: Path, manifest: dict, name: str) -> tuple | None:
    """The distinct values of the numeric extract columns called `name`; None when the column is text."""
    found: list[pa.Array] = []
    for entry in manifest["tables"].values():
        for column in entry["columns"]:
            if str(column["name"]).upper() != name:
                continue
            path = folder / entry["output"]["file"]
            try:
                array = pq.read_table(path, columns=[column["name"]]).column(0)
            except (pa.ArrowException, OSError) as exc:
                raise EgressError(f"extract {path.name} cannot be read ({exc})",
                                  "re-provision the project's extracts") from None
            if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
                return None
            found.append(pc.unique(array.combine_chunks()).drop_null().cast(pa.float64()))
    values = pc.unique(pa.chunked_array(found, pa.float64()).combine_chunks()) if found else pa.array([], pa.float64())
    return tuple(values.to_pylist()) if len(values) <= MAX_CODES else None


def load_pseudonyms(extracts_dir: Path | str) -> pa.Array:
    """Every distinct value of the linkage columns of the project's extracts.

    The linkage columns are those the pseudonymizer's ``manifest.json`` gives the role
    ``linkage`` (its keyed pseudonyms). Columns are read one at a time, so memory holds one column
    of one extract and the growing set."""
    folder = Path(extracts_dir)
    columns = linkage_columns(_manifest(folder))
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
