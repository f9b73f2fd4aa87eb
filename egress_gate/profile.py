"""A table with its columns typed once (see :mod:`egress_gate.column_types`), shared by every check.

``Column.role`` is the column's :class:`~egress_gate.column_types.ColumnType`; ``source`` names the
extract declaration it came from (None: from its values), ``denominator`` the count column a
percentage is a share of, when one is named like it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .column_types import ColumnType, Declaration, TypedColumn, denominator_for, is_numeric, name_tokens, type_column
from .hexkeys import hex_words

__all__ = ["Column", "ColumnType", "TableView", "name_tokens", "numeric_values"]


@dataclass
class Column:
    name: str
    array: pa.Array  # one chunk, dictionaries decoded
    role: ColumnType
    values: np.ndarray | None = None  # float64 view of a numeric column, NaN for null
    source: str | None = None  # the extract declaration believed (None: typed from values)
    note: str | None = None  # a declaration the values contradict
    denominator: str | None = None  # a percentage's denominator column, by name

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
    declared: dict[str, Declaration] = field(default_factory=dict)  # COLUMN NAME -> what the extracts say
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
        self.columns = [_typed(name, array, self.min_key_rows, self.declared.get(str(name).upper()),
                               self.hex.get(name), self.sorted_hi.get(name))
                        for name, array in zip(self.table.column_names, arrays)]
        counts = [c.name for c in self.columns if c.role is ColumnType.count]
        for c in self.columns:
            if c.role is ColumnType.percentage:
                c.denominator = denominator_for(c.name, counts)

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


def _typed(name: str, array: pa.Array, min_key_rows: int, declaration, hexed, sorted_hi) -> Column:
    values = numeric_values(array) if is_numeric(array) else None
    typed: TypedColumn = type_column(name, array, values, min_key_rows, declaration, hexed, sorted_hi)
    return Column(name, array, typed.type, values, typed.source, typed.note)
