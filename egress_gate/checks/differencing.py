"""Differencing against the project's earlier releases.

Supported shape: the new table and a released one share their label columns (text, codes and
other dimensions: every column that is not a count, percentage or measure), with the same names,
and at least one count column of the same name. Rows are matched on the labels (each label
combination once in each table); tables without labels are matched row by row when they have the
same number of rows. A matched cell whose difference is between 1 and threshold − 1 reveals a
small group, and fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..column_types import LABELS
from ..context import CheckContext
from ..errors import EgressError
from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import TableView
from ..tables import TABLE_TYPES, file_type, read_tables
from ._base import finding, passed

LABEL_ROLES = (*LABELS, "date", "identifier")


def _released_views(context: CheckContext, policy: Policy):
    for path in context.releases:
        path = Path(path)
        if file_type(path) not in TABLE_TYPES:
            continue
        try:
            parts = read_tables(path)
        except EgressError:
            continue  # a released file unreadable now cannot be compared; the gate checked it at release
        for part, table in parts:
            yield path, part, TableView(table, part, policy.row_level_min_rows, context.declared)


def _frame(view: TableView, labels: list[str], counts: list[str]) -> pd.DataFrame:
    data = {n: view.table.column(n).to_pandas() for n in labels}
    data.update({n: next(c.values for c in view.columns if c.name == n) for n in counts})
    return pd.DataFrame(data)


def _compare(new: TableView, old: TableView, policy: Policy) -> tuple[list[Cell], int, list[str]]:
    new_labels = sorted(c.name for c in new.by_role(*LABEL_ROLES))
    old_labels = sorted(c.name for c in old.by_role(*LABEL_ROLES))
    counts = sorted({c.name for c in new.by_role("count")} & {c.name for c in old.by_role("count")})
    if new_labels != old_labels or not counts:
        return [], 0, []
    a, b = _frame(new, new_labels, counts), _frame(old, old_labels, counts)
    if new_labels:
        if a.duplicated(new_labels).any() or b.duplicated(new_labels).any():
            return [], 0, []
        a = a.reset_index(names="_row")
        merged = a.merge(b, on=new_labels, suffixes=("", "_old"), how="inner")
    else:
        if len(a) != len(b):
            return [], 0, []
        merged = a.join(b, rsuffix="_old").reset_index(names="_row")
    cells, total = [], 0
    for name in counts:
        diff = np.abs(merged[name].to_numpy(float) - merged[f"{name}_old"].to_numpy(float))
        small = np.flatnonzero((diff > 0) & (diff < policy.threshold))
        total += len(small)
        cells += [Cell(int(merged["_row"].iat[i]), name, float(merged[name].iat[i])) for i in small[: policy.max_cells_listed]]
    return cells, total, counts


def check_differencing(view: TableView, policy: Policy, context: CheckContext) -> list[Finding]:
    if not context.releases or not view.by_role("count"):
        return []
    out = []
    for path, part, old in _released_views(context, policy):
        cells, total, counts = _compare(view, old, policy)
        if total:
            where = path.name + (f" [{part}]" if part else "")
            out.append(finding("differencing", Outcome.FAIL,
                               f"{total} cell(s) differ from the released {where} by less than {policy.threshold}: "
                               "subtracting one from the other reveals a small group", policy,
                               cells[: policy.max_cells_listed], total, view.part))
    return out or [passed("differencing", f"no small difference with {len(context.releases)} earlier release(s)", policy, view.part)]
