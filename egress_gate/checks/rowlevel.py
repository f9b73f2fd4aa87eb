"""Row-level data: about one row per person is never an aggregate output.

A table of at least policy.row_level_min_rows rows fails when a column holds pseudonym-shaped
values (32 lowercase hex) for most rows, or when a column of unique keys sits in a table with no
frequency column. A unique key beside frequencies (an aggregate with one row per code, say) goes
to review.
"""

from __future__ import annotations

import numpy as np

from ..findings import Cell, Finding, Outcome
from ..hexkeys import looks_hex
from ..policy import Policy
from ..profile import TableView
from ._base import finding, passed


def _pseudonym_shaped(view: TableView) -> list[str]:
    out = []
    for c in view.strings:
        present = len(c.array) - c.array.null_count
        if present and len(view.hex[c.name][0]) >= 0.5 * present and looks_hex(c.array) >= 0.5:
            out.append(c.name)
    return out


def check_row_level(view: TableView, policy: Policy) -> list[Finding]:
    if view.num_rows < policy.row_level_min_rows:
        return [passed("row_level", f"{view.num_rows} rows: too few to be row-level data", policy, view.part)]
    shaped = _pseudonym_shaped(view)
    keys = [c.name for c in view.by_role("key")]
    frequencies = [c for c in view.by_role("count") if np.nanmedian(c.values) > 1]
    if shaped or (keys and not frequencies):
        columns = shaped or keys
        what = "pseudonym-shaped values" if shaped else "a unique value on every row"
        return [finding("row_level", Outcome.FAIL,
                        f"row-level data: {view.num_rows:,} rows and column(s) {', '.join(map(str, columns))} with {what}; "
                        "only aggregates may leave", policy, [Cell(None, n) for n in columns], len(columns), view.part)]
    if keys:
        return [finding("row_level", Outcome.REVIEW,
                        f"column(s) {', '.join(map(str, keys))} hold a unique value on each of {view.num_rows:,} rows: "
                        "a steward must confirm this is an aggregate, not one row per person",
                        policy, [Cell(None, n) for n in keys], len(keys), view.part)]
    return [passed("row_level", "no unique key or pseudonym column: looks aggregated", policy, view.part)]
