"""What each column of a table is, judged by its content (names only break ties).

Roles: `count` (non-negative integers that look like frequencies), `percent` (values in 0–100
with decimals, or a percent-like name), `measure` (other numbers), `date`, `label` (text, codes and
integer dimensions such as years or ages), `key` (all distinct over many rows: ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .hexkeys import distinct_count, hex_words

SAMPLE = 10_000  # rows looked at before paying for a full distinct count

# Integer columns with these name tokens are dimensions, however their values look.
DIMENSION_TOKENS = {
    "id", "code", "year", "annee", "an", "age", "mois", "month", "week", "semaine", "dep", "departement",
    "region", "reg", "cp", "zip", "insee", "depcom", "commune", "rank", "rang", "index", "idx", "sexe", "sex",
    "classe", "group", "groupe", "cat", "categorie", "category", "level", "niveau", "version", "num", "numero",
    "department", "dept", "district", "county", "state", "area", "zone", "city", "town", "postcode", "zipcode",
    "cause", "diagnosis", "diag", "icd", "cim", "gender", "quarter", "trimestre", "day", "jour",
}
# Integer columns with these name tokens are statistics (measures), even when they look like codes.
STATISTIC_TOKENS = {"mean", "avg", "average", "median", "moyenne", "mediane", "sd", "std", "stddev", "variance", "iqr"}
PERCENT_TOKENS = {"pct", "percent", "percentage", "pourcent", "pourcentage", "taux", "rate", "share", "part", "prop", "proportion", "ratio"}


def name_tokens(name: str) -> set[str]:
    """The words of a column name: 'nbPatients_2023' -> {'nb', 'patients', '2023'}."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return {t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t} | ({"pct"} if "%" in str(name) else set())


@dataclass
class Column:
    name: str
    array: pa.Array  # one chunk, dictionaries decoded
    role: str
    values: np.ndarray | None = None  # float64 view of a numeric column, NaN for null

    @property
    def is_string(self) -> bool:
        return pa.types.is_string(self.array.type) or pa.types.is_large_string(self.array.type)

    @property
    def is_integer_typed(self) -> bool:
        return pa.types.is_integer(self.array.type)

    @cached_property
    def lengths(self) -> pa.Array:
        """Characters per cell of a text column, computed once for every check that needs them."""
        return pc.utf8_length(self.array)

    @cached_property
    def length_range(self):
        return pc.min_max(self.lengths)


@dataclass
class TableView:
    """A table with its columns profiled once, shared by every check of the table."""

    table: pa.Table
    part: str | None
    min_key_rows: int
    columns: list[Column] = field(default_factory=list)

    hex: dict = field(default_factory=dict)  # column name -> (rows, hi, lo) of its 32-hex cells
    sorted_hi: dict = field(default_factory=dict)  # column name -> its hi words sorted (shared by the checks)

    def __post_init__(self):
        arrays = [_one_chunk(self.table.column(i)) for i in range(self.table.num_columns)]
        for name, array in zip(self.table.column_names, arrays):
            if pa.types.is_string(array.type):
                self.hex[name] = hex_words(array)
                if len(self.hex[name][1]):
                    self.sorted_hi[name] = np.sort(self.hex[name][1])
        self.columns = [_profile(name, array, self.min_key_rows, self.hex.get(name), self.sorted_hi.get(name))
                        for name, array in zip(self.table.column_names, arrays)]

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def by_role(self, *roles: str) -> list[Column]:
        return [c for c in self.columns if c.role in roles]

    @cached_property
    def strings(self) -> list[Column]:
        return [c for c in self.columns if c.is_string]


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return array


def numeric_values(array: pa.Array) -> np.ndarray:
    return array.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _all_distinct(array: pa.Array, hexed, sorted_hi=None) -> bool:
    n = len(array) - array.null_count
    if hexed is not None and len(hexed[0]) == n:
        return distinct_count(hexed[1], hexed[2], sorted_hi) == n
    head = array.slice(0, SAMPLE).drop_null()
    if pc.count_distinct(head).as_py() < len(head):
        return False
    if pa.types.is_integer(array.type):
        values = np.sort(array.drop_null().to_numpy())
        return bool(np.all(np.diff(values) != 0))
    return pc.count_distinct(array).as_py() == n


def _profile(name: str, array: pa.Array, min_key_rows: int, hexed=None, sorted_hi=None) -> Column:
    t = array.type
    if pa.types.is_temporal(t):
        return Column(name, array, "date")
    if pa.types.is_boolean(t) or not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        n = len(array) - array.null_count
        if n >= min_key_rows and pa.types.is_string(t) and _all_distinct(array, hexed, sorted_hi):
            return Column(name, array, "key")
        return Column(name, array, "label")
    values = numeric_values(array)
    present = values[~np.isnan(values)]
    tokens = name_tokens(name)
    if not len(present):
        return Column(name, array, "measure", values)
    lo, hi = float(present.min()), float(present.max())
    integral = bool(np.all(present == np.floor(present)))
    if tokens & STATISTIC_TOKENS and not tokens & PERCENT_TOKENS:
        return Column(name, array, "measure", values)
    if integral and lo >= 0 and not (tokens & PERCENT_TOKENS and hi <= 100 and pa.types.is_floating(t)):
        if tokens & DIMENSION_TOKENS or (lo >= 1900 and hi <= 2100 and pc.count_distinct(array).as_py() <= 200):
            return Column(name, array, "label", values)
        if len(present) >= min_key_rows and pa.types.is_integer(t) and _all_distinct(array, None):
            return Column(name, array, "key", values)
        return Column(name, array, "count", values)
    if lo >= 0 and hi <= 100 and (tokens & PERCENT_TOKENS or not integral):
        return Column(name, array, "percent", values)
    return Column(name, array, "measure", values)
