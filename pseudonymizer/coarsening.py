"""Named coarsening rules for quasi-identifiers, each vectorised over an Arrow array."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from .errors import PseudonymizerError

AGE_TOP_CODE = 90  # ages from here on share one band, "90+"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str  # for the data dictionary
    accepts: tuple[str, ...]  # Table Schema types
    apply: Callable[[pa.Array], pa.Array]

    def check_type(self, where: str, column: str, ftype: str, fmt: str) -> None:
        if ftype not in self.accepts or (ftype == "date" and fmt == "%m"):
            raise PseudonymizerError(
                f"{where}: rule {self.name!r} cannot coarsen column {column} of type {ftype} (format {fmt})",
                f"rule {self.name!r} takes {', '.join(self.accepts)}",
            )


def _to_month(arr: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(arr.type):
        arr = pc.cast(pc.floor_temporal(arr, unit="day"), pa.date32())
    return pc.floor_temporal(arr, unit="month")


def _to_year(arr: pa.Array) -> pa.Array:
    if pa.types.is_integer(arr.type):  # already a year
        return pc.cast(arr, pa.int16())
    return pc.cast(pc.year(arr), pa.int16())


def _to_department(arr: pa.Array) -> pa.Array:
    # INSEE commune codes and postcodes: overseas departments have three digits (971..989).
    overseas = pc.or_(pc.starts_with(arr, "97"), pc.starts_with(arr, "98"))
    return pc.if_else(overseas, pc.utf8_slice_codeunits(arr, 0, 3), pc.utf8_slice_codeunits(arr, 0, 2))


_AGE_BANDS = pa.array([f"{low}-{low + 4}" for low in range(0, AGE_TOP_CODE, 5)] + [f"{AGE_TOP_CODE}+"])


def _to_age_band(arr: pa.Array) -> pa.Array:
    # Band number = age // 5, capped at the top-coded band; a negative age is no age (null).
    if pa.types.is_floating(arr.type):  # some PMSI schemas declare ages as numbers
        arr = pc.floor(arr)
        arr = pc.if_else(pc.and_(pc.greater_equal(arr, -1e15), pc.less_equal(arr, 1e15)), arr, pa.scalar(None, arr.type))
    ages = pc.cast(arr, pa.int64())
    band = pc.min_element_wise(pc.divide(ages, 5), len(_AGE_BANDS) - 1)
    return _AGE_BANDS.take(pc.if_else(pc.less(ages, 0), pa.scalar(None, pa.int64()), band))


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("month", "date coarsened to its month (stored as the month's first day)", ("date", "datetime", "yearmonth"), _to_month),
        Rule("year", "date coarsened to its year", ("date", "datetime", "yearmonth", "year"), _to_year),
        Rule("department", "postcode or commune code coarsened to its department", ("string",), _to_department),
        Rule("age_band5", f"age coarsened to a 5-year band, {AGE_TOP_CODE}+ top-coded", ("integer", "number"), _to_age_band),
    )
}


def output_type(rule: str, input_type: pa.DataType) -> pa.DataType:
    """The Arrow type a rule produces, for writing the extract's schema before any data."""
    return {"month": pa.date32(), "year": pa.int16(), "department": pa.string(), "age_band5": pa.string()}[rule]
