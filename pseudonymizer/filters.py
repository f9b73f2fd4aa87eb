"""Row filters of an extraction: `[TABLE.]COLUMN OP VALUE` or `[TABLE.]COLUMN between A and B`.

OP is one of = != < <= > >=. Values are read in the column's type (dates as YYYY-MM-DD), and a
filter applies to the source values, before any coarsening. An unqualified filter applies to
every authorised table that has the column, and must match at least one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import Column
from .errors import PseudonymizerError

OPERATORS = {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}
_COMPARISON = re.compile(r"^\s*(?:(\w+)\.)?(\w+)\s*(<=|>=|!=|=|<|>)\s*(\S.*?)\s*$")
_BETWEEN = re.compile(r"^\s*(?:(\w+)\.)?(\w+)\s+between\s+(\S+)\s+and\s+(\S+)\s*$", re.IGNORECASE)
HINT = "write e.g. 'ER_PRS_F.EXE_SOI_DTD >= 2019-01-01' or 'AGE_ANN between 18 and 65'"


@dataclass(frozen=True)
class Filter:
    text: str
    table: str | None
    column: str
    low: tuple[str, str] | None  # (operator, raw value)
    high: tuple[str, str] | None = None

    def applies_to(self, table: str, column_names: list[str]) -> bool:
        return (self.table is None or self.table == table) and self.column in column_names

    def mask(self, column: Column, values: pa.Array) -> pa.Array:
        result = None
        for bound in (self.low, self.high):
            if bound is None:
                continue
            op, raw = bound
            test = OPERATORS[op](values, _typed(self, column, raw))
            result = test if result is None else pc.and_(result, test)
        return pc.fill_null(result, False)  # a missing value never passes a filter


def parse_filter(text: str) -> Filter:
    match = _BETWEEN.match(text)
    if match:
        table, column, low, high = match.groups()
        return Filter(text.strip(), table, column, (">=", low), ("<=", high))
    match = _COMPARISON.match(text)
    if match:
        table, column, op, value = match.groups()
        return Filter(text.strip(), table, column, (op, value))
    raise PseudonymizerError(f"cannot read the row filter {text!r}", HINT)


def _typed(flt: Filter, column: Column, raw: str):
    from .reading import arrow_type  # one place knows the types

    target = arrow_type(column)
    try:
        if pa.types.is_date(target):
            return pa.scalar(dt.date.fromisoformat(raw), target)
        if pa.types.is_timestamp(target):
            return pa.scalar(dt.datetime.fromisoformat(raw), target)
        if pa.types.is_integer(target):
            return pa.scalar(int(raw), target)
        if pa.types.is_floating(target):
            return pa.scalar(float(raw), target)
        if pa.types.is_boolean(target):
            return pa.scalar({"true": True, "1": True, "false": False, "0": False}[raw.lower()])
        return pa.scalar(raw.strip("'\""), target)
    except (ValueError, KeyError):
        raise PseudonymizerError(
            f"row filter {flt.text!r}: {raw!r} is not a valid {column.type} for column {column.name}",
            "dates are written YYYY-MM-DD, numbers plainly",
        ) from None
