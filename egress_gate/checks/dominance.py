"""Dominance (n, k) and p% rules on magnitude tables.

Supported shape: one row per cell of the published table, with the cell's total magnitude and its
largest contributions in columns named top1, top2, … (also max1, largest_1, contrib1,
contributor_1; any case and separator), or the largest alone in a column named like it
(max_contributor, largest_payment, top_provider, ...): a largest share over k% fails the (n, k)
rule on its own, and the others together are an upper bound of the second largest for the p% rule. The total is the numeric column, other than the
contributions, that is at least top1 + top2 on every row, a column named like a total (total,
sum, somme, montant, amount, cost, ...) preferred. A magnitude column named like a sum with no
contributions beside it cannot be assessed and goes to review.
"""

from __future__ import annotations

import re

import numpy as np

from ..column_types import NUMBERS
from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import TableView, name_tokens
from ._base import finding, passed

CONTRIBUTION = re.compile(r"^(?:top|max|largest|contrib|contributor)[ _-]?(\d+)$", re.IGNORECASE)
# A single largest contribution given as its own column: max_contributor, largest_payment, top_provider...
LARGEST_TOKENS = {"max", "maximum", "largest", "biggest", "highest", "top", "dominant", "leading", "principal"}
TOTAL_TOKENS = {"total", "sum", "somme", "montant", "amount", "cost", "cout", "depense", "depenses", "spend",
                "spending", "remboursement", "revenue", "magnitude", "value", "valeur"}


def _is_contribution(c) -> bool:
    return bool(CONTRIBUTION.match(str(c.name))) or (
        c.values is not None and bool(name_tokens(c.name) & LARGEST_TOKENS) and c.role in NUMBERS
        and not name_tokens(c.name) & {"share", "pct", "percent", "part", "ratio", "proportion"})


def _contributions(view: TableView) -> list[np.ndarray]:
    ranked = sorted(((int(m.group(1)) if (m := CONTRIBUTION.match(str(c.name))) else 1), i, c)
                    for i, c in enumerate(view.columns) if c.values is not None and _is_contribution(c))
    return [np.nan_to_num(c.values) for _, _, c in ranked]


def _total_column(view: TableView, top_sum: np.ndarray):
    numeric = [c for c in view.columns if c.values is not None and not _is_contribution(c)
               and c.role in NUMBERS]
    fitting = [c for c in numeric if np.all(np.nan_to_num(c.values) >= top_sum - 1e-9)]
    named = [c for c in fitting if name_tokens(c.name) & TOTAL_TOKENS]
    pool = named or fitting
    return max(pool, key=lambda c: np.nansum(c.values)) if pool else None


def _largest_shares(view: TableView, policy: Policy) -> list[Finding]:
    """The largest contributor given as its share of the cell (a percentage or a fraction)."""
    out = []
    for c in view.by_role("percentage", "magnitude"):
        if c.values is None or not name_tokens(c.name) & LARGEST_TOKENS:
            continue
        present = c.values[~np.isnan(c.values)]
        if not len(present) or present.min() < 0 or present.max() > 100:
            continue
        share = c.values * (100.0 if present.max() <= 1 else 1.0)
        dominated = np.flatnonzero(np.nan_to_num(share) > policy.dominance_k)
        if len(dominated):
            out.append(finding("dominance", Outcome.FAIL,
                               f"{len(dominated)} cell(s) where the largest contributor alone makes more than "
                               f"{policy.dominance_k:g}% of the total (column {c.name}, e.g. {share[dominated[0]]:.1f}%)",
                               policy, _cells(dominated, c.name, c.values, policy), len(dominated), view.part))
    return out


def check_dominance(view: TableView, policy: Policy) -> list[Finding]:
    shares = _largest_shares(view, policy)
    tops = _contributions(view)
    if not tops:
        return shares or _unassessable(view, policy)
    n = min(policy.dominance_n, len(tops))
    total_col = _total_column(view, tops[0] + (tops[1] if len(tops) > 1 else 0))
    if total_col is None:
        return [finding("dominance", Outcome.REVIEW, "contribution columns found but no total column at least their sum on every row",
                        policy, part=view.part)]
    total = np.nan_to_num(total_col.values)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, sum(tops[:n]) / total * 100.0, 0.0)
        # the missing contributions are each at most the smallest one given: an upper bound of the n largest
        upper = np.where(total > 0, np.minimum(sum(tops[:n]) + (policy.dominance_n - n) * tops[n - 1], total)
                         / total * 100.0, 0.0)
    dominated = np.flatnonzero(share > policy.dominance_k)
    if len(tops) < policy.dominance_n and not len(dominated) and np.any(upper > policy.dominance_k):
        out.append(finding("dominance", Outcome.REVIEW,
                           f"only {len(tops)} contribution column(s); the ({policy.dominance_n}, {policy.dominance_k:g}%) rule needs {policy.dominance_n}",
                           policy, part=view.part))
    elif len(dominated):
        out.append(finding("dominance", Outcome.FAIL,
                           f"{len(dominated)} cell(s) of {total_col.name} where the {n} largest contributors make more than "
                           f"{policy.dominance_k:g}% of the total (e.g. {share[dominated[0]]:.1f}%)",
                           policy, _cells(dominated, total_col.name, total, policy), len(dominated), view.part))
    else:
        out.append(passed("dominance", f"no cell of {total_col.name} dominated by its {n} largest contributors", policy, view.part))
    if len(tops) >= 1:
        # with the largest alone, everyone else together is an upper bound of the second largest
        remainder = total - tops[0] - (tops[1] if len(tops) >= 2 else 0)
        exposed = np.flatnonzero((tops[0] > 0) & (remainder < policy.p_percent / 100.0 * tops[0]))
        if len(exposed):
            out.append(finding("p_percent", Outcome.FAIL,
                               f"{len(exposed)} cell(s) of {total_col.name} where the "
                               f"{'second largest contributor' if len(tops) >= 2 else 'other contributors together'} could "
                               f"estimate the largest within {policy.p_percent:g}%",
                               policy, _cells(exposed, total_col.name, total, policy), len(exposed), view.part))
        else:
            out.append(passed("p_percent", f"no cell of {total_col.name} fails the {policy.p_percent:g}% rule", policy, view.part))
    return out


def _unassessable(view: TableView, policy: Policy) -> list[Finding]:
    sums = [c for c in view.by_role("magnitude", "count") if name_tokens(c.name) & TOTAL_TOKENS - {"total", "value", "valeur"}]
    if not sums:
        return []
    return [finding("dominance", Outcome.REVIEW,
                    f"magnitude column(s) {', '.join(c.name for c in sums)} without contribution columns (top1, top2): "
                    "dominance and p% cannot be assessed automatically",
                    policy, [Cell(None, c.name) for c in sums], len(sums), view.part)]


def _cells(rows: np.ndarray, column: str, values: np.ndarray, policy: Policy) -> list[Cell]:
    return [Cell(int(r), column, float(values[r])) for r in rows[: policy.max_cells_listed]]
