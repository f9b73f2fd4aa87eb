"""Personal identifiers in an import: the egress gate's own checks (NIRs, e-mails, phones, columns named
like names or addresses), run batch by batch so memory stays bounded whatever the file's size.

Tables (CSV/TSV text, Parquet) are read in Arrow batches; other text in blocks; the files inside a
zip or gzip archive likewise, streamed member by member (never unpacked to disk). The pseudonym
check is not run: an import brings no pseudonyms of the project to compare with.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from egress_gate.checks.identifiers import check_column_names, check_contact_details, check_nir, check_text
from egress_gate.context import CheckContext
from egress_gate.findings import Outcome
from egress_gate.policy import DEFAULT_POLICY
from egress_gate.profile import TableView

from .sniff import ARCHIVES, HEAD, sniff_head

BLOCK = 8 << 20
TABLE_CHECKS = (check_nir, check_contact_details, check_column_names)


def _batches(source, name: str, kind: str) -> Iterator[pa.Table]:
    """Arrow tables of ``source`` (a path or a binary stream) read batch by batch."""
    if kind == "parquet":
        for batch in pq.ParquetFile(source).iter_batches(batch_size=65_536):
            yield pa.Table.from_batches([batch])
        return
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=BLOCK),
                            parse_options=pacsv.ParseOptions(delimiter=delimiter))
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _is_table(name: str, kind: str) -> bool:
    return kind == "parquet" or (kind == "text" and name.lower().endswith((".csv", ".tsv")))


def _count(found, failing: dict[str, int]) -> None:
    for f in found:
        if f.outcome is Outcome.FAIL:
            failing[f.check] = failing.get(f.check, 0) + max(f.cell_count, 1)


def _scan_one(open_source, name: str, kind: str, failing: dict[str, int]) -> bool:
    """Add what ``name``'s content fails to ``failing``; whether it was read (tables and text are).

    ``open_source()`` gives a path or a fresh binary stream of the content."""
    if _is_table(name, kind):
        for table in _batches(open_source(), name, kind):
            view = TableView(table, None, DEFAULT_POLICY.row_level_min_rows, {})
            for check in TABLE_CHECKS:
                _count(check(view, DEFAULT_POLICY), failing)
        return True
    if kind == "text":
        context = CheckContext()
        source = open_source()
        with open(source, "rb") if isinstance(source, Path) else source as fh:
            while block := fh.read(BLOCK):
                _count(check_text(block.decode("utf-8", "replace"), DEFAULT_POLICY, context), failing)
        return True
    return False


def _members(path: Path, kind: str) -> Iterator[tuple[str, str, object]]:
    """``(name, kind, opener)`` of each file in an archive (its size was checked by :mod:`airlock.archives`)."""
    if kind == "gzip":
        with gzip.open(path, "rb") as stream:
            head = stream.read(HEAD)
        yield path.name.removesuffix(".gz"), sniff_head(head), lambda: gzip.open(path, "rb")
        return
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            with archive.open(member) as stream:
                head = stream.read(HEAD)
            yield member.filename, sniff_head(head), lambda m=member: archive.open(m)


def scan_identifiers(path: Path, kind: str) -> tuple[str, str]:
    """``(outcome, detail)`` of looking for direct identifiers in ``path`` (kind from :mod:`airlock.sniff`);
    the tables and text inside a zip or gzip archive are read too, member by member."""
    failing: dict[str, int] = {}
    read: list[str] = []
    try:
        if kind in ARCHIVES:
            for name, member_kind, opener in _members(path, kind):
                if _scan_one(opener, name, member_kind, failing):
                    read.append(name)
        elif _scan_one(lambda: path, path.name, kind, failing):
            read.append(path.name)
    except (pa.ArrowInvalid, OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        return "fail", f"{path.name} could not be read as a table or text to look for identifiers ({exc})"
    if failing:
        listed = ", ".join(f"{n} {check}" for check, n in sorted(failing.items()))
        return "fail", f"direct identifiers found ({listed}): pseudonymise the data before importing it"
    if not read:
        return "pass", f"a {kind} file: not read for identifiers (only tables and text are)"
    where = f" in {len(read)} file(s) of the archive" if kind in ARCHIVES else ""
    return "pass", f"no NIR, e-mail address, phone number or identifying column name{where}"
