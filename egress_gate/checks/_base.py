"""Building findings from masks, so every check names its cells the same way."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..findings import Cell, Finding, Outcome
from ..policy import Policy


def finding(check: str, outcome: Outcome, message: str, policy: Policy, cells=(), count: int | None = None,
            part: str | None = None) -> Finding:
    cells = tuple(cells)
    return Finding(check, outcome, message, policy.record(), cells,
                   len(cells) if count is None else count, part)


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
