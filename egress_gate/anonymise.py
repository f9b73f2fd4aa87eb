"""The anonymised version of a table a steward may release instead of the original.

Why here and not in the notebook: the steward needs a version that follows the policy exactly,
shown beside the original, produced the same way every time. What it does, on csv, tsv and
parquet:

- columns are typed exactly as the checks type them (:mod:`egress_gate.column_types`: what the
  project's extracts declare, then the values), so a code, a date or a label is never touched;
- a count cell between 1 and ``policy.threshold - 1`` is suppressed (null: empty in csv/tsv):
  the cells the ``small_counts`` finding names (:func:`egress_gate.checks.counts.small_count_rows`);
- a count that is not a multiple of ``policy.rounding_base`` (the cells the ``rounding`` finding
  names) is rounded to the nearest multiple (halves up); one that would round below the
  threshold is suppressed instead;
- a share cell whose implied count is small (the cells the ``implied_counts`` finding names) is
  suppressed, and so is a share on a row where a count was suppressed, since a share beside its
  denominator gives the count back;
- a marker column ``_suppressed`` names, on each row, the columns suppressed there.

- secondary suppression: where the table holds its own margins (a column that is the sum of the
  other count columns, a row that is the sum of the other rows; found by value, see
  :mod:`egress_gate.margins`), further cells are suppressed so that no suppressed cell can be
  given back by subtracting the others from the total.

Zeros are left as they are (a steward judges whether they are structural). Run the checks again
on the output and show the findings to the steward.

The output is written to a temporary file beside ``path_out`` then renamed: a failure leaves
nothing half-written.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .checks.counts import implied_small_counts, small_count_rows
from .column_types import Declaration
from .errors import EgressError
from .margins import secondary_suppression
from .policy import Policy
from .profile import TableView
from .tables import file_type, read_tables

KINDS = ("csv", "tsv", "parquet")
MARKER = "_suppressed"


@dataclass(frozen=True)
class AnonymiseSummary:
    """What the anonymiser changed, for the steward's page and the ledger."""

    count_columns: tuple[str, ...]
    cells_suppressed: int  # count cells nulled (small counts)
    cells_secondary: int  # count cells nulled so that no suppressed cell is recovered from a margin
    cells_rounded: int  # count cells whose value changed by rounding
    percent_cells_suppressed: int  # share cells nulled: small implied counts, or beside a suppressed count
    zeros_kept: int
    marker_column: str | None
    policy_version: str

    def to_dict(self) -> dict:
        return {"count_columns": list(self.count_columns), "cells_suppressed": self.cells_suppressed,
                "cells_secondary": self.cells_secondary,
                "cells_rounded": self.cells_rounded, "percent_cells_suppressed": self.percent_cells_suppressed,
                "zeros_kept": self.zeros_kept, "marker_column": self.marker_column,
                "policy_version": self.policy_version}


def anonymise_table(path_in: Path | str, path_out: Path | str, policy: Policy,
                    declared: dict[str, Declaration] | None = None) -> AnonymiseSummary:
    """Write the anonymised version of the table at ``path_in`` to ``path_out``; return what changed.

    ``declared``: what the project's extracts declare about their columns (the checks' context)."""
    path_in, path_out = Path(path_in), Path(path_out)
    for path in (path_in, path_out):
        if file_type(path) not in KINDS:
            raise EgressError(f"{path.name}: the anonymiser handles {', '.join(KINDS)} files, not "
                              f".{file_type(path) or '(no extension)'}", "release the original or ask for a table")
    parts = read_tables(path_in)
    if len(parts) != 1:
        raise EgressError(f"{path_in.name}: holds {len(parts)} tables, the anonymiser needs one")
    table = parts[0][1]
    view = TableView(table, None, policy.row_level_min_rows, declared or {})
    counts = view.by_role("count")
    percents = view.by_role("percentage")
    implied = {found.share.name: found.rows for found in implied_small_counts(view, policy)}
    threshold, base = policy.threshold, max(1, int(policy.rounding_base))

    n = table.num_rows
    suppressed_here: list[list[str]] = [[] for _ in range(n)]
    new_columns: dict[str, pa.Array] = {}
    n_suppressed = n_rounded = n_zeros = 0
    grid = np.column_stack([c.values for c in counts]) if counts else np.zeros((n, 0))
    primary = np.zeros(grid.shape, bool)
    rounded_all = []
    for j, c in enumerate(counts):
        values = c.values
        present = ~np.isnan(values)
        rounded = np.where(present, np.floor(np.where(present, values, 0) / base + 0.5) * base, np.nan)
        small = np.zeros(n, bool)
        small[small_count_rows(c, policy)] = True
        primary[:, j] = small | (present & (values > 0) & (rounded < threshold))
        rounded_all.append(rounded)
    secondary = secondary_suppression(grid, primary)
    for j, c in enumerate(counts):
        values, rounded = c.values, rounded_all[j]
        present = ~np.isnan(values)
        small = primary[:, j] | secondary[:, j]
        changed = present & ~small & (rounded != values)
        n_suppressed += int(primary[:, j].sum())
        n_rounded += int(changed.sum())
        n_zeros += int((present & (values == 0) & ~small).sum())
        for r in np.flatnonzero(small):
            suppressed_here[r].append(c.name)
        mask = ~present | small
        new_columns[c.name] = _as_type(np.where(mask, 0, rounded), mask, c.array.type)
    row_has_suppression = np.array([bool(s) for s in suppressed_here], dtype=bool) if n else np.zeros(0, bool)
    n_percent = 0
    for p in percents:
        named = np.zeros(n, bool)
        named[implied.get(p.name, np.zeros(0, int))] = True
        hit = (row_has_suppression | named) & ~np.isnan(p.values)
        if hit.any():
            n_percent += int(hit.sum())
            for r in np.flatnonzero(hit):
                suppressed_here[r].append(p.name)
            mask = np.isnan(p.values) | hit
            new_columns[p.name] = _as_type(np.where(mask, 0, p.values), mask, p.array.type)

    out = table
    for name, array in new_columns.items():
        i = out.column_names.index(name)
        out = out.set_column(i, pa.field(name, array.type), array)
    marker = None
    if n_suppressed or n_percent or secondary.any():  # the marker names every suppressed cell, row by row
        marker = MARKER
        while marker in out.column_names:
            marker = "_" + marker
        out = out.append_column(marker, pa.array([",".join(s) for s in suppressed_here], pa.string()))
    _write_atomically(out, path_out)
    return AnonymiseSummary(tuple(c.name for c in counts), n_suppressed, int(secondary.sum()), n_rounded, n_percent,
                            n_zeros, marker, policy.version)


def _as_type(values: np.ndarray, mask: np.ndarray, type_: pa.DataType) -> pa.Array:
    """``values`` (floats) as an array of the column's own type, null where ``mask``."""
    if pa.types.is_integer(type_):
        return pa.array(values.astype(np.int64), type=pa.int64(), mask=mask).cast(type_)
    if pa.types.is_floating(type_):
        return pa.array(values, type=pa.float64(), mask=mask).cast(type_)
    return pa.array(values, type=pa.float64(), mask=mask)  # decimals: floats are exact for counts


def _write_atomically(table: pa.Table, path: Path) -> None:
    kind = file_type(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if kind == "parquet":
            pq.write_table(table, tmp)
        else:
            delimiter = "\t" if kind == "tsv" else ","
            with open(tmp, "w", newline="", encoding="utf-8") as fh:  # the header as a researcher writes it:
                csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerow(table.column_names)  # quoted only if needed
            with open(tmp, "ab") as fh:
                pacsv.write_csv(table, fh, write_options=pacsv.WriteOptions(delimiter=delimiter, include_header=False))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (OSError, pa.ArrowException)):
            raise EgressError(f"{path}: the anonymised table cannot be written ({exc})") from None
        raise
