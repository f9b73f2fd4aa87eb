"""Personal identifiers in an import: the egress gate's own checks (NIRs, e-mails, phones, columns named
like names or addresses), run batch by batch so memory stays bounded whatever the file's size.

Tables (CSV/TSV text, Parquet) are read in Arrow batches; other text in blocks. The pseudonym
check is not run: an import brings no pseudonyms of the project to compare with.
"""

from __future__ import annotations

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

BLOCK = 8 << 20
TABLE_CHECKS = (check_nir, check_contact_details, check_column_names)


def _batches(path: Path, kind: str) -> Iterator[pa.Table]:
    if kind == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            yield pa.Table.from_batches([batch])
        return
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=BLOCK),
                            parse_options=pacsv.ParseOptions(delimiter=delimiter))
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _is_table(path: Path, kind: str) -> bool:
    return kind == "parquet" or (kind == "text" and path.suffix.lower() in (".csv", ".tsv"))


def scan_identifiers(path: Path, kind: str) -> tuple[str, str]:
    """``(outcome, detail)`` of looking for direct identifiers in ``path`` (kind from :mod:`airlock.sniff`)."""
    failing: dict[str, int] = {}
    if _is_table(path, kind):
        try:
            for table in _batches(path, kind):
                view = TableView(table, None, DEFAULT_POLICY.row_level_min_rows, {})
                for check in TABLE_CHECKS:
                    for f in check(view, DEFAULT_POLICY):
                        if f.outcome is Outcome.FAIL:
                            failing[f.check] = failing.get(f.check, 0) + max(f.cell_count, 1)
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            return "fail", f"{path.name} could not be read as a table to look for identifiers ({exc})"
    elif kind == "text":
        context = CheckContext()
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK):
                for f in check_text(block.decode("utf-8", "replace"), DEFAULT_POLICY, context):
                    if f.outcome is Outcome.FAIL:
                        failing[f.check] = failing.get(f.check, 0) + max(f.cell_count, 1)
    else:
        return "pass", f"a {kind} file: not read for identifiers (only tables and text are)"
    if failing:
        listed = ", ".join(f"{n} {check}" for check, n in sorted(failing.items()))
        return "fail", f"direct identifiers found ({listed}): pseudonymise the data before importing it"
    return "pass", "no NIR, e-mail address, phone number or identifying column name"
