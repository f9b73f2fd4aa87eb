"""Count checks: small cells, zeros, small cells implied by percentages, rounding.

Count columns are typed by :mod:`egress_gate.column_types`: declared by the extracts first, then by
content. Each finding says how many cells on how many rows of which columns it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import Column, TableView
from ._base import cells_at, coverage, finding, passed


def small_count_rows(c: Column, policy: Policy) -> np.ndarray:
    """Rows of count column `c` holding a count between 1 and policy.threshold - 1 (the anonymiser's too)."""
    return np.flatnonzero((c.values > 0) & (c.values < policy.threshold))


def off_base_rows(c: Column, policy: Policy) -> np.ndarray:
    """Rows of count column `c` whose count is not a multiple of policy.rounding_base (nulls excepted)."""
    if c.is_integer_typed and not c.array.null_count:
        return np.flatnonzero(c.array.to_numpy() % policy.rounding_base)
    off = np.flatnonzero(np.fmod(c.values, policy.rounding_base) != 0)  # NaN compares unequal: drop it
    return off[~np.isnan(c.values[off])]


def _cells(found: list[tuple[Column, np.ndarray]], policy: Policy) -> list[Cell]:
    cells: list[Cell] = []
    for c, rows in found:
        cells += cells_at(rows, c.name, c.array, policy)
    return cells[: policy.max_cells_listed]


def check_small_counts(view: TableView, policy: Policy) -> list[Finding]:
    counts = view.by_role("count")
    if not counts:
        return []
    small = [(c, small_count_rows(c, policy)) for c in counts]
    zeros = [(c, np.flatnonzero(c.values == 0)) for c in counts]
    names = ", ".join(c.name for c in counts)
    out = []
    total, rows, where = coverage([(c.name, r) for c, r in small])
    if total:
        out.append(finding("small_counts", Outcome.FAIL,
                           f"{where} hold a count between 1 and {policy.threshold - 1}: suppress or aggregate them",
                           policy, _cells(small, policy), total, view.part, rows))
    else:
        out.append(passed("small_counts", f"no count under {policy.threshold} in count column(s) {names}", policy, view.part))
    total, rows, where = coverage([(c.name, r) for c, r in zeros])
    if total and not policy.zeros_allowed:
        out.append(finding("zeros", Outcome.REVIEW,
                           f"{where} hold a zero count: a steward must confirm each is structural (impossible), not a small group",
                           policy, _cells(zeros, policy), total, view.part, rows))
    else:
        out.append(passed("zeros", "zeros are allowed by the policy" if total else "no zero counts", policy, view.part))
    return out


def check_rounding(view: TableView, policy: Policy) -> list[Finding]:
    counts = view.by_role("count")
    if not counts or policy.rounding_base <= 1:
        return []
    off = [(c, off_base_rows(c, policy)) for c in counts]
    total, rows, where = coverage([(c.name, r) for c, r in off])
    if total:
        return [finding("rounding", Outcome.REVIEW,
                        f"{where} hold a count that is not a multiple of {policy.rounding_base}: round them, or justify exact counts",
                        policy, _cells(off, policy), total, view.part, rows)]
    return [passed("rounding", f"every count is a multiple of {policy.rounding_base}", policy, view.part)]


def _decimals(p: np.ndarray) -> int:
    for k in range(0, 7):
        if np.all(np.abs(np.round(p, k) - p) < 1e-9):
            return k
    return 7


def _shares(view: TableView) -> list[tuple]:
    """(column, scale) of every column that could be a share of a denominator, judged by its values:
    percentages (0–100, scale 100) and fractions (0–1 with decimals, scale 1), whatever their names."""
    out = []
    for c in view.columns:
        if c.values is None or c.role not in ("percentage", "magnitude"):
            continue
        present = c.values[~np.isnan(c.values)]
        if not len(present) or present.min() < 0:
            continue
        integral = bool(np.all(present == np.floor(present)))
        if present.max() <= 1 and not integral:
            out.append((c, 1.0))
        if present.max() <= 100 and (c.role == "percentage" or not integral):
            out.append((c, 100.0))
    return out


@dataclass(frozen=True)
class ImpliedCounts:
    """Cells of a share column whose count, share × denominator, is small."""

    share: Column
    scale: float  # 100 for a percentage, 1 for a fraction
    denominator: str  # the count column, or "total of <column>"
    rows: np.ndarray
    implied: np.ndarray  # the implied count on every row
    confirmed: bool  # the denominator is named as one, or the figures' precision shows the pairing
    named: bool  # the denominator was found by its name (see column_types.denominator_for)


def implied_small_counts(view: TableView, policy: Policy) -> list[ImpliedCounts]:
    """Share columns with small implied counts, found as :func:`check_implied_counts` explains.

    The anonymiser suppresses exactly these cells."""
    shares, counts = _shares(view), view.by_role("count")
    by_name = {c.name: c for c in counts}
    out, settled = [], set()
    for p, scale in shares if counts else []:
        if p.name in settled:
            continue  # a fraction is not tried again as a percentage
        pct = p.values
        k = _decimals(pct[~np.isnan(pct)])
        candidates = [(p.denominator, by_name[p.denominator].values, True)] if p.denominator in by_name else []
        candidates += [(c.name, c.values, False) for c in counts if c.name not in (p.name, p.denominator)]
        candidates += [(f"total of {c.name}", np.full(len(pct), np.nansum(c.values)), False)
                       for c in counts if c.name != p.name]
        for label, denominator, named in candidates:
            implied = pct * denominator / scale
            tolerance = denominator * 0.5 * 10.0 ** -k / scale
            ok = ~np.isnan(implied)
            telling = ok & (tolerance < 0.5)
            whole = np.abs(implied - np.rint(implied)) <= tolerance + 1e-9
            if not named and telling.any() and not whole[telling].all():
                continue  # not this share's denominator
            small = np.flatnonzero(ok & (pct > 0) & (np.rint(implied) < policy.threshold))
            if named:
                settled.add(p.name)  # its denominator is known: no other is tried
            if not len(small):
                if named:
                    break
                continue
            out.append(ImpliedCounts(p, scale, label, small, implied, named or bool(telling.any()), named))
            settled.add(p.name)
            break  # one denominator per share column is enough to report
    return out


def check_implied_counts(view: TableView, policy: Policy) -> list[Finding]:
    """A share next to its denominator reveals its count: share × denominator (÷ 100 for a percentage).

    Shares are percentages and fractions (by type, then by value, see `_shares`). Denominators
    tried: first the count column named as the share's denominator (``denominateur``, ``effectif``,
    ``total``, ``n``…: :func:`egress_gate.column_types.denominator_for`), believed whatever the
    rounding of the share; then every count column (row by row) and every count column's total,
    believed when, on every row where the share's precision allows telling, the implied count is a
    whole number. Small implied counts then fail; where precision never allows telling, they go
    to review."""
    out = []
    for found in implied_small_counts(view, policy):
        p, small = found.share, found.rows
        cells = [Cell(int(r), p.name, float(p.values[r])) for r in small[: policy.max_cells_listed]]
        _, rows, where = coverage([(p.name, small)])
        first = small[0]
        denominator = found.implied[first] * found.scale / p.values[first]
        shown = f"{p.values[first]:g}{'%' if found.scale == 100 else ''} of {denominator:g}"
        out.append(finding(
            "implied_counts", Outcome.FAIL if found.confirmed else Outcome.REVIEW,
            f"{'percentage' if found.scale == 100 else 'share'} column {p.name} with denominator {found.denominator}"
            f"{' (named as one)' if found.named else ''} implies a count under {policy.threshold} in {where} "
            f"(e.g. {shown} = {found.implied[first]:.1f})"
            + ("" if found.confirmed else "; the pairing could not be confirmed from the figures' precision"),
            policy, cells, len(small), view.part, rows))
    return out or [passed("implied_counts", "no small count implied by a share and its denominator", policy, view.part)]
