"""Formulas in cells: a spreadsheet runs a cell that starts with ``=`` (or ``+ - @`` before a
name), so a released table could compute, or fetch from the network, what it seems not to hold.

Text cells only (numbers are data): ``=...`` always; ``+``, ``-`` or ``@`` followed by a letter or
a parenthesis (``@SUM(A1)``, ``+cmd|...``), not a signed number. A steward must look; every
preview shows such a cell neutralised (see :mod:`egress_gate.service.preview`). Workbooks' real
formulas are found in their XML (:mod:`egress_gate.embedded`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..findings import Finding, Outcome
from ..policy import Policy
from ..profile import TableView
from ._base import cells_at, finding, passed, rows_of

FORMULA = r"^[\t\r ]*(?:=|[+\-@][\t ]*[A-Za-z_(])"


FIRST_BYTES = np.frombuffer(b"\t\r =+-@", np.uint8)


def _candidates(array: pa.Array) -> np.ndarray:
    """Rows whose first byte could start a formula: one vectorised look at the offsets, no per-row regex."""
    data = array.buffers()[2]
    if data is None or not len(array):
        return np.zeros(0, np.int64)
    offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)
    bytes_ = np.frombuffer(data, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = ends > starts
    first = np.zeros(len(array), np.uint8)
    first[nonempty] = bytes_[starts[nonempty]]
    return np.flatnonzero(np.isin(first, FIRST_BYTES) & nonempty)


def check_formulas(view: TableView, policy: Policy) -> list[Finding]:
    cells, total = [], 0
    for c in view.strings:
        maybe = _candidates(c.array)
        if not len(maybe):
            continue
        rows = maybe[rows_of(pc.match_substring_regex(c.array.take(pa.array(maybe)), FORMULA))]
        total += len(rows)
        cells += cells_at(rows, c.name, c.array, policy)
    headers = [n for n in view.table.column_names if pc.match_substring_regex([str(n)], FORMULA)[0].as_py()]
    total += len(headers)
    if total:
        return [finding("formulas", Outcome.REVIEW,
                        f"{total} cell(s) a spreadsheet would run as a formula: a steward must look; previews show "
                        "them neutralised. Export values instead", policy, cells[: policy.max_cells_listed], total,
                        view.part)]
    return [passed("formulas", "no cell a spreadsheet would run as a formula", policy, view.part)]
