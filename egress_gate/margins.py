"""Totals inside a table, found by value, and the secondary suppression they call for.

A count table often carries its own margins: a column that is the sum of the other count columns
on every row ("male, female, total"), or a row that is the sum of the other rows in every count
column ("Total"). Then one suppressed cell in a relation is given back by subtraction (total −
the others). :func:`secondary_suppression` suppresses further cells until every relation holds
either no suppressed cell or at least two, choosing the smallest values (least information lost).
"""

from __future__ import annotations

import numpy as np

MAX_UNKNOWNS = 400  # hidden cells solved for together (one SVD); past it only the pairing rule applies


def row_total_columns(values: np.ndarray) -> list[tuple[int, list[int]]]:
    """(total column, part columns) where one column equals the sum of all the others on every row.

    ``values``: rows × count columns (NaN for missing); rows with a missing cell are not judged."""
    rows, cols = values.shape
    out = []
    if cols < 3 or rows == 0:
        return out
    complete = ~np.isnan(values).any(axis=1)
    if not complete.any():
        return out
    full = values[complete]
    for t in range(cols):
        parts = [c for c in range(cols) if c != t]
        if np.allclose(full[:, t], full[:, parts].sum(axis=1)) and np.any(full[:, t] > 0):
            out.append((t, parts))
            break  # one total column per table: the others are its parts
    return out


def total_rows(values: np.ndarray) -> list[int]:
    """Rows equal, in every count column, to the sum of all the other rows."""
    rows = values.shape[0]
    if rows < 3:
        return []
    sums = np.nansum(values, axis=0)
    doubled = np.where(np.isnan(values), np.nan, 2 * values)
    found = np.flatnonzero(np.all(np.isclose(doubled, sums[None, :]), axis=1) & (np.nansum(values, axis=1) > 0))
    return [int(found[0])] if len(found) else []


def relations_of(values: np.ndarray) -> list[list[tuple[int, int]]]:
    """Every additive relation of the table: its cells, the total last."""
    relations: list[list[tuple[int, int]]] = []
    for t, parts in row_total_columns(values):
        relations += [[(r, c) for c in [*parts, t]] for r in range(values.shape[0])]
    for t in total_rows(values):
        others = [r for r in range(values.shape[0]) if r != t]
        relations += [[(r, c) for r in [*others, t]] for c in range(values.shape[1])]
    return relations


def recoverable(hidden: np.ndarray, relations: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """Hidden cells whose value the relations determine exactly, all relations taken together.

    The hidden cells are the unknowns of the linear system the relations make; a cell is
    determined when every solution of the homogeneous system is zero in it, i.e. its coordinate
    vanishes in the system's null space (one SVD for all cells)."""
    unknowns = [tuple(map(int, x)) for x in np.argwhere(hidden)]
    if not unknowns or not relations:
        return []
    index = {cell: i for i, cell in enumerate(unknowns)}
    rows = []
    for cells in relations:
        touched = [(i, cell) for i, cell in enumerate(cells) if cell in index]
        if touched:
            row = np.zeros(len(unknowns))
            for i, cell in touched:
                row[index[cell]] = -1.0 if i == len(cells) - 1 else 1.0
            rows.append(row)
    if not rows:
        return []
    _, singular, vt = np.linalg.svd(np.array(rows))
    rank = int(np.sum(singular > 1e-9 * max(1.0, singular[0] if len(singular) else 1.0)))
    null = vt[rank:]
    free = np.any(np.abs(null) > 1e-9, axis=0) if len(null) else np.zeros(len(unknowns), bool)
    return [cell for cell, f in zip(unknowns, free) if not f]


def secondary_suppression(values: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """The cells to suppress besides ``suppressed`` (same shape) so that no suppressed cell can be
    worked out from the table's margins. Both arrays are rows × count columns of the original table.

    First every relation with exactly one suppressed cell gets a second one; then, since several
    relations together can still pin a cell down, any cell the relations determine gets a
    neighbour suppressed in one of its relations, until none is determined."""
    hidden = suppressed.copy()
    relations = relations_of(values)
    while _pair_up(values, hidden, relations) | _break_determined(values, hidden, relations):
        pass
    return hidden & ~suppressed


def _smallest_visible(values: np.ndarray, hidden: np.ndarray, cells: list[tuple[int, int]]):
    """The smallest visible cell, a part before the total (the last cell), a non-zero one first."""
    candidates = [(values[r, c] == 0, i == len(cells) - 1, values[r, c], r, c) for i, (r, c) in enumerate(cells)
                  if not hidden[r, c] and not np.isnan(values[r, c])]
    return min(candidates)[-2:] if candidates else None


def _break_determined(values, hidden, relations) -> bool:
    if hidden.sum() > MAX_UNKNOWNS:  # too many to solve for here; pairing up is still done
        return False
    for cell in recoverable(hidden, relations):
        for cells in relations:
            if cell in cells and (pick := _smallest_visible(values, hidden, cells)) is not None:
                hidden[pick] = True
                return True
    return False


def _pair_up(values, hidden, relations) -> bool:
    changed_any, changed = False, True
    while changed:
        changed = False
        for cells in relations:
            if sum(hidden[r, c] for r, c in cells) != 1:
                continue
            pick = _smallest_visible(values, hidden, cells)
            if pick is not None:
                hidden[pick] = True
                changed = changed_any = True
    return changed_any
