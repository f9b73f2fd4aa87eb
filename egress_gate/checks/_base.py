"""Building findings from masks, so every check names its cells the same way."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..findings import Cell, Finding, Outcome
from ..policy import Policy


def finding(check: str, outcome: Outcome, message: str, policy: Policy, cells=(), count: int | None = None,
            part: str | None = None, rows: int | None = None) -> Finding:
    cells = tuple(cells)
    return Finding(check, outcome, message, policy.record(), cells,
                   len(cells) if count is None else count, part, rows)


def coverage(found: list[tuple[str, np.ndarray]]) -> tuple[int, int, str]:
    """(cells, rows, words) of cells given as (column, its row indices): "12 cells in 9 rows of column N",
    "14 cells in 10 rows of columns a (12), b (2)". Counted exactly: never more than the table holds."""
    found = [(name, rows) for name, rows in found if len(rows)]
    cells = sum(len(rows) for _, rows in found)
    rows = len(found[0][1]) if len(found) == 1 else _distinct_rows([r for _, r in found])
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    if len(found) == 1:
        where = f"column {found[0][0]}"
    else:
        where = "columns " + ", ".join(f"{name} ({len(r)})" for name, r in found)
    return cells, rows, f"{plural(cells, 'cell')} in {plural(rows, 'row')} of {where}"


def passed(check: str, message: str, policy: Policy, part: str | None = None) -> Finding:
    return finding(check, Outcome.PASS, message, policy, part=part)


def cells_at(rows: np.ndarray, column: str, array: pa.Array | np.ndarray, policy: Policy) -> list[Cell]:
    """Cells of `column` at row indices `rows` (the first policy.max_cells_listed of them)."""
    rows = np.asarray(rows)[: policy.max_cells_listed]
    if isinstance(array, np.ndarray):
        picked = array[rows].tolist()
    else:
        picked = array.take(pa.array(rows, pa.int64())).to_pylist() if len(rows) else []
    return [Cell(int(r), column, v) for r, v in zip(rows.tolist(), picked)]


def rows_of(mask) -> np.ndarray:
    """Row indices where a boolean mask (numpy, or Arrow with nulls as false) is true."""
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = mask.fill_null(False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(mask)


def listed(cells: list[Cell], total: int, policy: Policy) -> tuple[list[Cell], int]:
    return cells[: policy.max_cells_listed], total


def _distinct_rows(row_lists: list[np.ndarray]) -> int:
    """How many distinct rows several columns' row indices cover: one pass, no sort."""
    if not row_lists:
        return 0
    seen = np.zeros(max(int(r.max()) for r in row_lists) + 1, bool)
    for rows in row_lists:
        seen[rows] = True
    return int(seen.sum())
