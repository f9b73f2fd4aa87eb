"""What the gate took each column for, so a steward sees why a column was or was not checked as a count."""

from __future__ import annotations

from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import TableView
from ._base import finding

MAX_DESCRIBED = 60  # columns named in the message; a wider table's others are summed up


def check_column_types(view: TableView, policy: Policy) -> list[Finding]:
    """One finding listing every column's type and where it comes from (the extracts' declaration, or
    the values). Review when a column is named like an extract column but its values contradict the
    declaration: a count renamed after a code would otherwise pass as a code."""
    described = []
    for c in view.columns[:MAX_DESCRIBED]:
        how = f"declared by {c.source}" if c.source else "from its values"
        extra = f", share of {c.denominator}" if c.denominator else ""
        described.append(f"{c.name}: {c.role} ({how}{extra})")
    if len(view.columns) > MAX_DESCRIBED:
        described.append(f"… and {len(view.columns) - MAX_DESCRIBED} more")
    contradicted = [c for c in view.columns if c.note]
    if contradicted:
        return [finding("column_types", Outcome.REVIEW,
                        "; ".join(c.note for c in contradicted) + ". A steward must confirm what these columns hold. "
                        "Columns: " + "; ".join(described),
                        policy, [Cell(None, c.name) for c in contradicted], len(contradicted), view.part)]
    return [finding("column_types", Outcome.PASS, "Columns: " + "; ".join(described), policy, part=view.part)]
