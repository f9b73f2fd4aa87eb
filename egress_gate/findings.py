"""A finding: one automated check's result on one file, naming the rows and cells concerned."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable


class Outcome(str, Enum):
    PASS = "pass"
    REVIEW = "review"  # a steward must look
    FAIL = "fail"  # must not leave as it is

    @property
    def rank(self) -> int:
        return ("pass", "review", "fail").index(self.value)


@dataclass(frozen=True)
class Cell:
    """One cell concerned by a finding: 0-based data row (None for a whole column), column, value,
    and the row's label values ("region=B, year=2020"), which is how a person finds it."""

    row: int | None
    column: str | None
    value: Any = None
    label: str | None = None

    def to_dict(self) -> dict:
        out = {"row": self.row, "column": self.column, "value": _plain(self.value)}
        if self.label:
            out["label"] = self.label
        return out


@dataclass(frozen=True)
class Finding:
    check: str
    outcome: Outcome
    message: str
    policy: dict  # {"version": ..., "values": {...}} of the policy the check ran under
    cells: tuple[Cell, ...] = ()
    cell_count: int = 0  # how many cells were concerned; `cells` lists at most policy.max_cells_listed
    part: str | None = None  # sheet of a workbook, output of an ACRO results file
    row_count: int | None = None  # how many rows those cells are on (None: not a finding about cells of rows)
    report: dict | None = None  # a model's attack report: {"rows": [{attack, metric, value, threshold, result}], ...}

    def to_dict(self) -> dict:
        return {
            "check": self.check, "outcome": self.outcome.value, "message": self.message,
            "cells": [c.to_dict() for c in self.cells], "cell_count": self.cell_count,
            "part": self.part, "policy": self.policy,
            **({"row_count": self.row_count} if self.row_count is not None else {}),
            **({"report": self.report} if self.report is not None else {}),
        }


def worst(findings: Iterable[Finding]) -> Outcome:
    """The most severe outcome among `findings` (pass when there are none)."""
    return max((f.outcome for f in findings), key=lambda o: o.rank, default=Outcome.PASS)


def _plain(value: Any) -> Any:
    # numpy / Arrow scalars and dates become JSON-friendly Python values.
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
