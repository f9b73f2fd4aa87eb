"""Fictive flags read from a batch: which linkage ids of each row are no one, per column.

A flag (BEN_CDI_NIR, PMSI NIR_RET) speaks about the columns the catalog scopes it to
(:class:`~.catalog.FictiveFlag`), and its values are matched in every form exports write them
(0/1, True/False, O/N, any case), whatever type the column was read as. A flag whose values are
all known (declared ``no_one`` codes, or a two-valued flag) refuses any other value, naming it: a
flag written in a form nobody declared would otherwise make every id of the table no one.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import FictiveFlag, Table
from .errors import PseudonymizerError

SHOWN = 5  # unknown values named in an error


def read_flag(flag: FictiveFlag, values: pa.Array) -> tuple[pa.Array, list[str], int]:
    """(per row: True where the flag's value is not a valid one, a missing flag included;
    the flag's unknown values, sorted; how many rows hold one). Nothing is unknown for an open flag."""
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())  # booleans read "true"/"false", integers "0"/"1": forms of the flag
    valid = flag.valid_forms
    index = pc.index_in(values, value_set=pa.array(valid + flag.no_one_forms, pa.string()))
    mask = pc.invert(pc.fill_null(pc.less(index, len(valid)), False))
    if not flag.closed:
        return mask, [], 0
    unknown = pc.and_(pc.is_null(index), pc.is_valid(values))
    count = pc.sum(unknown).as_py() or 0
    if not count:
        return mask, [], 0
    return mask, sorted(pc.unique(values.filter(unknown)).to_pylist()), count


def unknown_values_error(table: str, flag: FictiveFlag, values: list[str], count: int) -> PseudonymizerError:
    shown = ", ".join(repr(v) for v in values[:SHOWN]) + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")
    known = ", ".join(dict.fromkeys([*flag.valid, *flag.no_one_codes]))
    return PseudonymizerError(
        f"table {table}: the fictive flag {flag.column} holds value(s) the catalog does not know, in {count:,} row(s): {shown} "
        f"(known: {known}, in any form such as 0/False/N or 1/True/O)",
        f"declare each in the flag's valid list (an id of someone) or no_one list (an id of no one): "
        f"fictive = {{ column = \"{flag.column}\", valid = [...], no_one = [...] }} in the role file",
    )


def no_one(flag: FictiveFlag, values: pa.Array, table: str = "") -> pa.Array:
    """Per row: True where the flag's value is not a valid one (a missing flag included); raises on an unknown value."""
    mask, unknown, count = read_flag(flag, values)
    if unknown:
        raise unknown_values_error(table, flag, unknown, count)
    return mask


def fictive_masks(table: Table, batch: pa.RecordBatch, name: str = "") -> dict[str, pa.Array]:
    """{linkage column: mask of the rows whose flags say its id is no one}, for the flags in `batch`."""
    masks: dict[str, pa.Array] = {}
    for flag in table.flags:
        if flag.column not in batch.schema.names:
            continue
        mask = no_one(flag, batch.column(flag.column), name or table.name)
        for column in flag.applies_to:
            masks[column] = pc.or_(masks[column], mask) if column in masks else mask
    return masks
