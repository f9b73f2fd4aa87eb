"""Count checks: small cells, zeros, small cells implied by percentages, rounding.

Count columns are found by content (see profile.py), whatever their names.
"""

from __future__ import annotations

import numpy as np

from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import TableView
from ._base import cells_at, finding, passed


def check_small_counts(view: TableView, policy: Policy) -> list[Finding]:
    counts = view.by_role("count")
    if not counts:
        return []
    out, small_cells, small_total, zero_cells, zero_total = [], [], 0, [], 0
    for c in counts:
        small = np.flatnonzero((c.values > 0) & (c.values < policy.threshold))
        small_total += len(small)
        small_cells += cells_at(small, c.name, c.array, policy)
        zeros = np.flatnonzero(c.values == 0)
        zero_total += len(zeros)
        zero_cells += cells_at(zeros, c.name, c.array, policy)
    names = ", ".join(c.name for c in counts)
    if small_total:
        out.append(finding("small_counts", Outcome.FAIL,
                           f"{small_total} count cell(s) between 1 and {policy.threshold - 1} in count column(s) {names}: suppress or aggregate them",
                           policy, small_cells[: policy.max_cells_listed], small_total, view.part))
    else:
        out.append(passed("small_counts", f"no count under {policy.threshold} in count column(s) {names}", policy, view.part))
    if zero_total and not policy.zeros_allowed:
        out.append(finding("zeros", Outcome.REVIEW,
                           f"{zero_total} zero count(s): a steward must confirm each is structural (impossible), not a small group",
                           policy, zero_cells[: policy.max_cells_listed], zero_total, view.part))
    else:
        out.append(passed("zeros", "zeros are allowed by the policy" if zero_total else "no zero counts", policy, view.part))
    return out


def check_rounding(view: TableView, policy: Policy) -> list[Finding]:
    counts = view.by_role("count")
    if not counts or policy.rounding_base <= 1:
        return []
    cells, total = [], 0
    for c in counts:
        if c.is_integer_typed and not c.array.null_count:
            off = np.flatnonzero(c.array.to_numpy() % policy.rounding_base)
        else:
            off = np.flatnonzero(np.fmod(c.values, policy.rounding_base) != 0)  # NaN compares unequal: drop it
            off = off[~np.isnan(c.values[off])]
        total += len(off)
        cells += cells_at(off, c.name, c.array, policy)
    if total:
        return [finding("rounding", Outcome.REVIEW,
                        f"{total} count(s) are not multiples of {policy.rounding_base}: round them, or justify exact counts",
                        policy, cells[: policy.max_cells_listed], total, view.part)]
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


def check_implied_counts(view: TableView, policy: Policy) -> list[Finding]:
    """A share next to its denominator reveals its count: share × denominator (÷ 100 for a percentage).

    Shares are found by value (see `_shares`), not by name. Denominators tried: every count
    column (row by row) and every count column's total. A pairing is believed when, on every row
    where the share's precision allows telling, the implied count is a whole number; small implied
    counts then fail. Where precision never allows telling, small implied counts go to review."""
    shares, counts = _shares(view), view.by_role("count")
    out, reported = [], set()
    for p, scale in shares if counts else []:
        if p.name in reported:
            continue  # a fraction is not reported again as a percentage
        pct = p.values
        k = _decimals(pct[~np.isnan(pct)])
        candidates = [(c.name, c.values) for c in counts if c.name != p.name]
        candidates += [(f"total of {c.name}", np.full(len(pct), np.nansum(c.values))) for c in counts if c.name != p.name]
        for label, denominator in candidates:
            implied = pct * denominator / scale
            tolerance = denominator * 0.5 * 10.0 ** -k / scale
            ok = ~np.isnan(implied)
            telling = ok & (tolerance < 0.5)
            whole = np.abs(implied - np.rint(implied)) <= tolerance + 1e-9
            if telling.any() and not whole[telling].all():
                continue  # not this share's denominator
            rounded = np.rint(implied)
            small = np.flatnonzero(ok & (pct > 0) & (rounded < policy.threshold))
            if not len(small):
                continue
            confirmed = bool(telling.any())
            cells = [Cell(int(r), p.name, float(pct[r])) for r in small[: policy.max_cells_listed]]
            shown = f"{pct[small[0]]:g}{'%' if scale == 100 else ''} of {denominator[small[0]]:g}"
            out.append(finding(
                "implied_counts", Outcome.FAIL if confirmed else Outcome.REVIEW,
                f"{'percentage' if scale == 100 else 'share'} column {p.name} with denominator {label} implies "
                f"{len(small)} count(s) under {policy.threshold} (e.g. {shown} = {implied[small[0]]:.0f})"
                + ("" if confirmed else "; the pairing could not be confirmed from the figures' precision"),
                policy, cells, len(small), view.part))
            reported.add(p.name)
            break  # one denominator per share column is enough to report
    return out or [passed("implied_counts", "no small count implied by a share and its denominator", policy, view.part)]
