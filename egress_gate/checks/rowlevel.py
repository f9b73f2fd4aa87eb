"""Row-level data: about one row per person is never an aggregate output.

A table of at least policy.row_level_min_rows rows fails when a column holds pseudonym-shaped
values (32 lowercase hex) for most rows, or when a column of unique keys sits in a table with no
frequency column. A unique key beside frequencies (an aggregate with one row per code, say) goes
to review.

Whatever the table's size (from MIN_UNITS rows), the quasi-identifiers — its label columns (text,
codes, dimensions such as age or sex, dates) — tell an aggregate from a list of people:

- an aggregate has one row per group, so a label combination that repeats, in a table with no
  frequency column, means one row per person or event;
- an aggregate's groups fill most of the grid of their labels' values; people picked out by
  several attributes are a sparse scatter in it, most of them alone in their combination
  (k-anonymity k = 1): with no frequency column, that fails;
- a label column of mostly (not all) unique values is an identifier-like attribute.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..column_types import LABELS
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


MIN_UNITS = 10  # fewer rows are not judged as a list of people
SPARSE = 0.25  # rows / size of the labels' grid below which the groups are a scatter, not a grid
MOSTLY_UNIQUE = 0.9


def _quasi_identifiers(view: TableView) -> list:
    return [c for c in view.columns if c.role in (*LABELS, "date", "identifier")
            and not (c.is_string and c.name in view.hex and len(view.hex[c.name][0]) == len(c.array))]


def _combinations(view: TableView, columns: list) -> tuple[np.ndarray, int]:
    """(size of each row's group on `columns`, number of groups)."""
    table = pa.table({str(i): c.array for i, c in enumerate(columns)})
    keys = [str(i) for i in range(len(columns))]
    groups = table.group_by(keys).aggregate([([], "count_all")])
    counted = groups.rename_columns([*keys, "_k"])
    sizes = table.append_column("_row", pa.array(np.arange(table.num_rows))).join(counted, keys, use_threads=False)
    return sizes.sort_by("_row").column("_k").to_numpy(), groups.num_rows


def _unique_so_far(array: pa.Array) -> bool:
    """Whether the first 10,000, then 100,000 rows are still mostly unique (cheap looks before a full count)."""
    for size in (10_000, 100_000):
        head = array.slice(0, size)
        if pc.count_distinct(head).as_py() < MOSTLY_UNIQUE * (len(head) - head.null_count):
            return False
        if size >= len(array):
            break
    return True


def check_people(view: TableView, policy: Policy) -> list[Finding]:
    """One row per person, whatever the table's size (see the module's docstring)."""
    if view.num_rows < MIN_UNITS:
        return []
    frequencies = [c for c in view.by_role("count") if c.values is not None and np.nanmax(c.values, initial=0) > 1]
    qis = _quasi_identifiers(view)
    names = ", ".join(str(c.name) for c in qis)
    out = []
    for c in qis:
        present = len(c.array) - c.array.null_count
        if present < 2 * MIN_UNITS or not _unique_so_far(c.array):
            continue  # repeats within its first rows already: not mostly unique (saves a full distinct count)
        distinct = pc.count_distinct(c.array).as_py()
        if present >= 2 * MIN_UNITS and MOSTLY_UNIQUE * present <= distinct < present:
            out.append(finding("row_level", Outcome.FAIL,
                               f"column {c.name} holds {distinct:,} distinct values on {present:,} rows: mostly unique "
                               "yet repeated, like an attribute of individuals, not a group label",
                               policy, [Cell(None, c.name)], 1, view.part))
    if not qis or frequencies:
        return out  # counts beside the labels: an aggregate, judged by the count checks
    sizes, groups = _combinations(view, qis)
    if groups < view.num_rows:
        repeated = int(np.sum(sizes > 1))
        out.append(finding("row_level", Outcome.FAIL,
                           f"{repeated:,} rows repeat a combination of ({names}) and no column counts them: one row per "
                           "person or event, not one per group; only aggregates may leave",
                           policy, [Cell(None, c.name) for c in qis], len(qis), view.part))
        return out
    grid = float(np.prod([max(1, pc.count_distinct(c.array).as_py()) for c in qis]))
    alone = int(np.sum(sizes == 1))
    if len(qis) >= 2 and view.num_rows / grid < SPARSE and alone >= 0.5 * view.num_rows:
        out.append(finding("row_level", Outcome.FAIL,
                           f"k-anonymity of ({names}) is {int(sizes.min())}: {alone:,} of {view.num_rows:,} rows are alone "
                           f"in their combination, scattered over {grid:,.0f} possible ones, with no frequency column: "
                           "this lists individuals; aggregate it (counts per group)",
                           policy, [Cell(None, c.name) for c in qis], len(qis), view.part))
    return out


def check_row_level(view: TableView, policy: Policy) -> list[Finding]:
    people = check_people(view, policy)
    if people:
        return people
    if view.num_rows < policy.row_level_min_rows:
        return [passed("row_level", f"{view.num_rows} rows: too few to be row-level data", policy, view.part)]
    shaped = _pseudonym_shaped(view)
    keys = [c.name for c in view.by_role("identifier")]
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
