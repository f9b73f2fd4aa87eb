"""Secondary suppression: a cell the anonymiser suppresses cannot be given back by the table's own margins.

Each table is written here, anonymised by the real anonymiser, and the output read back; the
attack is the researcher's arithmetic: total minus the visible parts.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow.csv as pacsv

from egress_gate import DEFAULT_POLICY
from egress_gate.anonymise import anonymise_table
from egress_gate.margins import recoverable, relations_of


def anonymised(tmp_path, text: str):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(text)
    summary = anonymise_table(src, out, DEFAULT_POLICY)
    return summary, pacsv.read_csv(out).to_pydict()


def single_relation_leaks(rows: list[list], total_row: bool, total_col: bool) -> list[str]:
    """Cells an attacker gets back from one relation: the only missing value of a row or column with its total."""
    leaks = []
    if total_col:
        for i, row in enumerate(rows):
            if sum(v is None for v in row) == 1:
                leaks.append(f"row {i}")
    if total_row:
        for j, column in enumerate(zip(*rows)):
            if sum(v is None for v in column) == 1:
                leaks.append(f"column {j}")
    return leaks


def test_a_row_total_column_does_not_give_the_suppressed_cell_back(tmp_path):
    summary, out = anonymised(tmp_path, "region,male,female,total\nA,3,40,43\nB,20,30,50\nC,25,35,60\n")
    assert out["male"][0] is None  # the small cell (primary)
    rows = [[out["male"][i], out["female"][i], out["total"][i]] for i in range(3)]
    assert single_relation_leaks(rows, total_row=False, total_col=True) == []
    assert summary.cells_suppressed == 1 and summary.cells_secondary >= 1
    # before this, female and total stayed visible: 43 - 40 = 3
    assert out["female"][0] is None or out["total"][0] is None


def test_a_total_row_does_not_give_the_suppressed_cell_back(tmp_path):
    summary, out = anonymised(tmp_path, "region,patients\nA,3\nB,40\nC,55\nTotal,98\n")
    assert out["patients"][0] is None
    assert single_relation_leaks([[v] for v in out["patients"]], total_row=True, total_col=False) == []
    assert summary.cells_secondary == 1
    assert out["patients"][1] is None  # the smallest other cell, not the total
    assert out["_suppressed"][1] == "patients"


def test_both_margins_leave_no_cell_determined(tmp_path):
    text = ("area,a,b,c,total\n"
            "N,4,30,41,75\n"
            "S,22,6,37,65\n"
            "E,28,33,45,106\n"
            "W,31,29,40,100\n"
            "All,85,98,163,346\n")
    summary, out = anonymised(tmp_path, text)
    columns = ["a", "b", "c", "total"]
    rows = [[out[c][i] for c in columns] for i in range(5)]
    assert out["a"][0] is None and out["b"][1] is None
    assert single_relation_leaks(rows, total_row=True, total_col=True) == []
    # no combination of the relations pins a suppressed cell down either
    original = np.array([[float(v) for v in line.split(",")[1:]] for line in text.splitlines()[1:]])
    hidden = np.array([[v is None for v in row] for row in rows])
    assert recoverable(hidden, relations_of(original)) == []
    # and the brute force: two different completions fit every margin for each suppressed cell
    for r, c in zip(*np.nonzero(hidden)):
        assert _has_two_completions(original, hidden, (r, c))


def _has_two_completions(original: np.ndarray, hidden: np.ndarray, cell) -> bool:
    """Whether the suppressed ``cell`` can take two values with every margin still adding up
    (searched over small shifts of the hidden cells: independent of the anonymiser's algebra)."""
    cells = [tuple(x) for x in np.argwhere(hidden)]
    if len(cells) > 8:
        return True  # search too large for this helper; the algebraic test above still applies
    values = set()
    for shift in itertools.product(range(-3, 4), repeat=len(cells)):
        grid = original.copy()
        for (r, c), d in zip(cells, shift):
            grid[r, c] += d
        if (grid >= 0).all() and np.allclose(grid[:-1, :-1].sum(axis=1), grid[:-1, -1]) and \
                np.allclose(grid[:-1, :].sum(axis=0), grid[-1, :]):
            values.add(grid[cell])
        if len(values) > 1:
            return True
    return False


def test_without_margins_nothing_more_is_suppressed(tmp_path):
    summary, out = anonymised(tmp_path, "region,patients\nA,3\nB,40\nC,55\nD,97\n")
    assert summary.cells_suppressed == 1 and summary.cells_secondary == 0
    assert out["patients"] == [None, 40, 55, 95]
