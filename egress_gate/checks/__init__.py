"""check_file: every automated disclosure check that applies to one file, as a list of findings.

The checks are pure: they read the file and the context, write nothing, and a file that cannot be
read gives a failing `readable` finding that names the problem (never an exception).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from ..column_types import LABELS
from ..context import CheckContext
from ..errors import EgressError
from ..findings import Finding, Outcome
from ..policy import DEFAULT_POLICY, Policy
from ..profile import TableView
from ..tables import CODE_TYPES, TABLE_TYPES, TEXT_TYPES, file_type, read_tables, read_text
from ._base import finding
from .acro import acro_findings, is_acro_results
from .code import check_code
from .columns import check_column_types
from .counts import check_implied_counts, check_rounding, check_small_counts
from .differencing import check_differencing
from .dominance import check_dominance
from .embedded import check_embedded
from .files import check_needs_human, check_rows, check_size, check_type
from .formulas import check_formulas
from .identifiers import check_column_names, check_contact_details, check_dates, check_nir, check_places, check_pseudonyms, check_text
from .rowlevel import check_row_level

__all__ = ["check_file", "check_table"]


def check_file(path: Path | str, policy: Policy = DEFAULT_POLICY, context: CheckContext | None = None,
               on_check: Callable[[str], None] | None = None) -> list[Finding]:
    """All findings for the file at `path` under `policy`, knowing the project through `context`.

    `on_check(name)` is called before each check starts: the worker that runs checks under a
    budget uses it to name the check that ran out of time or memory."""
    path, context = Path(path), context or CheckContext()
    step = on_check or (lambda name: None)
    if not path.is_file():
        return [finding("readable", Outcome.FAIL, f"{path.name}: not a regular file", policy)]
    findings = check_type(path, policy) + check_size(path, policy) + check_needs_human(path, policy)
    if any(f.outcome is Outcome.FAIL for f in findings):
        return findings  # a refused type or size is not opened at all
    step("embedded")
    hidden = check_embedded(path, policy, context)
    findings += hidden
    if any(f.check == "archive" for f in hidden):
        return findings  # an archive is refused, not read as the text its name promises
    kind = file_type(path)
    if kind == "json" and (acro := _acro_results(path)) is not None:
        return findings + acro_findings(acro, policy)
    if kind in TABLE_TYPES:
        step("read")
        try:
            parts = read_tables(path)
        except EgressError as exc:
            return findings + [finding("readable", Outcome.FAIL, str(exc), policy)]
        if parts:
            for part, table in parts:
                findings += check_table(table, policy, context, part, step)
            return findings
    if kind in CODE_TYPES:
        step("code")
        return findings + check_code(read_text(path, policy.max_size_bytes), policy, context)
    if kind in TEXT_TYPES and kind != "svg":
        step("text")
        findings += check_text(read_text(path, policy.max_size_bytes), policy, context)
    return findings


TABLE_CHECKS: tuple[tuple[str, Callable[..., list[Finding]]], ...] = (
    ("column_types", lambda view, policy, context: check_column_types(view, policy)),
    ("row_level", lambda view, policy, context: check_row_level(view, policy)),
    ("small_counts", lambda view, policy, context: check_small_counts(view, policy)),
    ("implied_counts", lambda view, policy, context: check_implied_counts(view, policy)),
    ("rounding", lambda view, policy, context: check_rounding(view, policy)),
    ("dominance", lambda view, policy, context: check_dominance(view, policy)),
    ("pseudonyms", check_pseudonyms),
    ("nir", lambda view, policy, context: check_nir(view, policy)),
    ("dates", lambda view, policy, context: check_dates(view, policy)),
    ("places", lambda view, policy, context: check_places(view, policy)),
    ("identifier_names", lambda view, policy, context: check_column_names(view, policy)),
    ("contact_details", lambda view, policy, context: check_contact_details(view, policy)),
    ("formulas", lambda view, policy, context: check_formulas(view, policy)),
    ("differencing", check_differencing),
)


def check_table(table, policy: Policy, context: CheckContext, part: str | None = None,
                on_check: Callable[[str], None] | None = None) -> list[Finding]:
    """Every table check on one Arrow table (a file, or one sheet of a workbook)."""
    step = on_check or (lambda name: None)
    findings = check_rows(table.num_rows, policy, part)
    step("profile")
    view = TableView(table, part, policy.row_level_min_rows, context.declared)
    for name, check in TABLE_CHECKS:
        step(name)
        findings += check(view, policy, context)
    return [_labelled(f, view) for f in findings]


def _labelled(f: Finding, view: TableView) -> Finding:
    """The finding with each listed cell's row named by its label values (a row number helps nobody)."""
    if not any(c.row is not None for c in f.cells):
        return f
    labels = [c for c in view.by_role(*LABELS, "date")][:3]
    if not labels:
        return f
    rows = sorted({c.row for c in f.cells if c.row is not None and 0 <= c.row < view.num_rows})
    taken = {c.name: dict(zip(rows, c.array.take(pa.array(rows, pa.int64())).to_pylist())) for c in labels}
    cells = tuple(dataclasses.replace(c, label=", ".join(f"{n}={taken[n][c.row]}" for n in taken if n != c.column))
                  if c.row in rows else c for c in f.cells)
    return dataclasses.replace(f, cells=cells)


def _acro_results(path: Path):
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if is_acro_results(data) else None
