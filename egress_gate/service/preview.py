"""Tables as rows of display cells for the steward's preview, and CSV formula-injection neutralisation.

Every value reaches the page as text through Jinja2's autoescaping; on top of that a string cell
that a spreadsheet would run as a formula (it starts with ``= + - @``, a tab or a carriage return)
is shown with a leading quote and marked, and the preview's CSV download quotes it the same way
(OWASP's advice), so opening the download in a spreadsheet shows the text instead of running it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> tuple[Any, bool]:
    """``value`` made safe for a spreadsheet, and whether it had to be (strings only: numbers are data)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value, True
    return value, False


@dataclass(frozen=True)
class DisplayCell:
    text: str
    flagged: bool = False
    neutralised: bool = False


@dataclass
class TablePreview:
    """The first rows of one table (a part of a file), flagged cells marked."""

    part: str | None
    columns: list[str]
    rows: list[list[DisplayCell]]
    total_rows: int
    flagged_columns: set[str] = field(default_factory=set)

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)


def flagged_cells(findings: list[dict], part: str | None) -> tuple[set[tuple[int, str]], set[str]]:
    """(row, column) cells and whole columns that findings other than ``pass`` name, for ``part``."""
    cells: set[tuple[int, str]] = set()
    columns: set[str] = set()
    for f in findings:
        if f.get("outcome") == "pass" or f.get("part") != part:
            continue
        for c in f.get("cells") or []:
            if c.get("column") is None:
                continue
            if c.get("row") is None:
                columns.add(c["column"])
            else:
                cells.add((int(c["row"]), c["column"]))
    return cells, columns


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def table_preview(table: pa.Table, part: str | None, findings: list[dict], max_rows: int) -> TablePreview:
    cells, columns = flagged_cells(findings, part)
    names = table.column_names
    rows = []
    for r, record in enumerate(table.slice(0, max_rows).to_pylist()):
        row = []
        for name in names:
            shown, neutral = neutralise(record.get(name))
            row.append(DisplayCell(_text(shown), (r, name) in cells or name in columns, neutral))
        rows.append(row)
    return TablePreview(part, names, rows, table.num_rows, columns)


def preview_csv(preview: TablePreview) -> str:
    """The preview as CSV text, every formula-like cell already prefixed with a quote."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(c)[0] for c in preview.columns])
    for row in preview.rows:
        writer.writerow([cell.text for cell in row])
    return out.getvalue()
