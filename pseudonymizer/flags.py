"""Fictive flags read from a batch: which linkage ids of each row are no one, per column.

A flag (BEN_CDI_NIR, PMSI NIR_RET) speaks about the columns the catalog scopes it to
(:class:`~.catalog.FictiveFlag`), and its values are matched in every form exports write them
(0/1, True/False, O/N, any case), whatever type the column was read as.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import FictiveFlag, Table


def no_one(flag: FictiveFlag, values: pa.Array) -> pa.Array:
    """Per row: True where the flag's value is not a valid one (a missing flag included)."""
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())  # booleans read "true"/"false", integers "0"/"1": forms of the flag
    return pc.invert(pc.fill_null(pc.is_in(values, value_set=pa.array(flag.valid_forms, pa.string())), False))


def fictive_masks(table: Table, batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """{linkage column: mask of the rows whose flags say its id is no one}, for the flags in `batch`."""
    masks: dict[str, pa.Array] = {}
    for flag in table.flags:
        if flag.column not in batch.schema.names:
            continue
        mask = no_one(flag, batch.column(flag.column))
        for name in flag.applies_to:
            masks[name] = pc.or_(masks[name], mask) if name in masks else mask
    return masks
