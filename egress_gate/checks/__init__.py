"""check_file: every automated disclosure check that applies to one file, as a list of findings.

The checks are pure: they read the file and the context, write nothing, and a file that cannot be
read gives a failing `readable` finding that names the problem (never an exception).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..context import CheckContext
from ..errors import EgressError
from ..findings import Finding, Outcome
from ..policy import DEFAULT_POLICY, Policy
from ..profile import TableView
from ..tables import TABLE_TYPES, TEXT_TYPES, file_type, read_tables, read_text
from ._base import finding
from .acro import acro_findings, is_acro_results
from .counts import check_implied_counts, check_rounding, check_small_counts
from .differencing import check_differencing
from .dominance import check_dominance
from .files import check_needs_human, check_rows, check_size, check_type
from .identifiers import check_column_names, check_contact_details, check_dates, check_nir, check_places, check_pseudonyms, check_text
from .rowlevel import check_row_level

__all__ = ["check_file", "check_table"]


def check_file(path: Path | str, policy: Policy = DEFAULT_POLICY, context: CheckContext | None = None) -> list[Finding]:
    """All findings for the file at `path` under `policy`, knowing the project through `context`."""
    path, context = Path(path), context or CheckContext()
    if not path.is_file():
        return [finding("readable", Outcome.FAIL, f"{path.name}: not a regular file", policy)]
    findings = check_type(path, policy) + check_size(path, policy) + check_needs_human(path, policy)
    if any(f.outcome is Outcome.FAIL for f in findings):
        return findings  # a refused type or size is not opened at all
    kind = file_type(path)
    if kind == "json" and (acro := _acro_results(path)) is not None:
        return findings + acro_findings(acro, policy)
    if kind in TABLE_TYPES:
        try:
            parts = read_tables(path)
        except EgressError as exc:
            return findings + [finding("readable", Outcome.FAIL, str(exc), policy)]
        if parts:
            for part, table in parts:
                findings += check_table(table, policy, context, part)
            return findings
    if kind in TEXT_TYPES:
        findings += check_text(read_text(path, policy.max_size_bytes), policy, context)
    return findings


def check_table(table, policy: Policy, context: CheckContext, part: str | None = None) -> list[Finding]:
    """Every table check on one Arrow table (a file, or one sheet of a workbook)."""
    findings = check_rows(table.num_rows, policy, part)
    view = TableView(table, part, policy.row_level_min_rows)
    findings += check_row_level(view, policy)
    findings += check_small_counts(view, policy)
    findings += check_implied_counts(view, policy)
    findings += check_rounding(view, policy)
    findings += check_dominance(view, policy)
    findings += check_pseudonyms(view, policy, context)
    findings += check_nir(view, policy)
    findings += check_dates(view, policy)
    findings += check_places(view, policy)
    findings += check_column_names(view, policy)
    findings += check_contact_details(view, policy)
    findings += check_differencing(view, policy, context)
    return findings


def _acro_results(path: Path):
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None
    return data if is_acro_results(data) else None
