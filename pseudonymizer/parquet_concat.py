"""One Parquet file from several written with the same schema and writer, without decoding a value.

A Parquet file is ``PAR1``, its row groups' column chunks, a Thrift (compact protocol) footer, the
footer's length and ``PAR1``. A row group's bytes do not depend on the ones before it, so the file
one writer would have written from all the parts' batches is: ``PAR1``, every part's row groups in
order, and one footer listing them, their offsets shifted to where they now sit. That is what this
module writes; the distributed engines' golden tests check it is the local engine's file, byte for
byte. Files with page indexes or bloom filters (data after the row groups) are refused: the caller
then re-encodes.

The Thrift compact protocol is read into a tree that keeps every field in its order and written back
by the same rules, so a footer that is not changed comes back byte for byte.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

MAGIC = b"PAR1"
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
# Field ids (parquet.thrift) of the footer that hold file offsets, or that put data after the row groups.
FILE_ROW_GROUPS, FILE_NUM_ROWS = 4, 3
GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 5, 7
CHUNK_FILE_OFFSET, CHUNK_META = 2, 3
CHUNK_AFTER_GROUPS = (4, 6)  # offset index, column index
META_OFFSETS = (9, 10, 11)  # data, index and dictionary page offsets
META_AFTER_GROUPS = (14,)  # bloom filter


class NotConcatenable(Exception):
    """A part holds data outside its row groups (page index, bloom filter): re-encode instead."""


class _Struct(list):
    """[(field id, type, value)] in the order they were read."""

    def get(self, fid: int, default=None):
        return next((v for f, _, v in self if f == fid), default)

    def set(self, fid: int, value) -> None:
        for i, (f, t, _) in enumerate(self):
            if f == fid:
                self[i] = (f, t, value)
                return
        raise KeyError(fid)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _read_value(data: bytes, pos: int, kind: int):
    if kind in (TRUE, FALSE):
        return kind == TRUE, pos
    if kind == BYTE:
        return data[pos], pos + 1
    if kind in (I16, I32, I64):
        raw, pos = _varint(data, pos)
        return _zigzag(raw), pos
    if kind == DOUBLE:
        return data[pos:pos + 8], pos + 8
    if kind == BINARY:
        n, pos = _varint(data, pos)
        return data[pos:pos + n], pos + n
    if kind in (LIST, SET):
        head = data[pos]
        pos += 1
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        items = []
        for _ in range(size):
            if elem in (TRUE, FALSE):  # in a collection, a boolean is a byte of its own
                items.append(data[pos])
                pos += 1
            else:
                value, pos = _read_value(data, pos, elem)
                items.append(value)
        return (elem, items), pos
    if kind == STRUCT:
        return _read_struct(data, pos)
    raise NotConcatenable(f"Thrift type {kind} in a Parquet footer")


def _read_struct(data: bytes, pos: int) -> tuple[_Struct, int]:
    fields, last = _Struct(), 0
    while True:
        head = data[pos]
        pos += 1
        if head == STOP:
            return fields, pos
        delta, kind = head >> 4, head & 0x0F
        if delta:
            fid = last + delta
        else:
            raw, pos = _varint(data, pos)
            fid = _zigzag(raw)
        value, pos = _read_value(data, pos, kind)
        fields.append((fid, kind, value))
        last = fid


def _put_varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_value(out: bytearray, kind: int, value) -> None:
    if kind in (TRUE, FALSE):
        return
    if kind == BYTE:
        out.append(value)
    elif kind in (I16, I32, I64):
        _put_varint(out, (value << 1) ^ (value >> 63))
    elif kind == DOUBLE:
        out += value
    elif kind == BINARY:
        _put_varint(out, len(value))
        out += value
    elif kind in (LIST, SET):
        elem, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | elem)
        else:
            out.append(0xF0 | elem)
            _put_varint(out, len(items))
        for item in items:
            if elem in (TRUE, FALSE):
                out.append(item)
            else:
                _write_value(out, elem, item)
    elif kind == STRUCT:
        _write_struct(out, value)


def _write_struct(out: bytearray, fields: _Struct) -> None:
    last = 0
    for fid, kind, value in fields:
        wire = (TRUE if value else FALSE) if kind in (TRUE, FALSE) else kind
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | wire)
        else:
            out.append(wire)
            _put_varint(out, (fid << 1) ^ (fid >> 63))
        _write_value(out, kind, value)
        last = fid
    out.append(STOP)


def read_footer(path: Path) -> tuple[_Struct, int]:
    """(the footer as a tree, where the part's row groups end)."""
    with open(path, "rb") as fh:
        fh.seek(-8, 2)
        tail = fh.read(8)
        length = struct.unpack("<I", tail[:4])[0]
        if tail[4:] != MAGIC:
            raise NotConcatenable(f"{path} is not a Parquet file")
        end = fh.tell() - 8 - length
        fh.seek(end)
        raw = fh.read(length)
    footer, used = _read_struct(raw, 0)
    if used != length:
        raise NotConcatenable(f"{path}: the footer does not end where its length says")
    return footer, end


def _shift_group(group: _Struct, shift: int, ordinal: int) -> None:
    for fid, _, value in group:
        if fid == GROUP_FILE_OFFSET and value:
            group.set(fid, value + shift)
        elif fid == GROUP_ORDINAL:
            group.set(fid, ordinal)
    for chunk in group.get(GROUP_COLUMNS)[1]:
        if any(chunk.get(f) is not None for f in CHUNK_AFTER_GROUPS):
            raise NotConcatenable("a column chunk has a page index")
        if chunk.get(CHUNK_FILE_OFFSET):
            chunk.set(CHUNK_FILE_OFFSET, chunk.get(CHUNK_FILE_OFFSET) + shift)
        meta = chunk.get(CHUNK_META)
        if meta is None or any(meta.get(f) is not None for f in META_AFTER_GROUPS):
            raise NotConcatenable("a column chunk has a bloom filter or no metadata")
        for f in META_OFFSETS:
            if meta.get(f) is not None:
                meta.set(f, meta.get(f) + shift)


def concat(parts: list[Path], out: BinaryIO) -> None:
    """Write to `out` the Parquet file holding every part's row groups in order (see the module)."""
    footers = [read_footer(p) for p in parts]
    merged, position = footers[0][0], len(MAGIC)
    groups, rows = [], 0
    for footer, end in footers:
        shift = position - len(MAGIC)
        for group in footer.get(FILE_ROW_GROUPS, (STRUCT, []))[1]:
            _shift_group(group, shift, len(groups))
            groups.append(group)
        rows += footer.get(FILE_NUM_ROWS)
        position += end - len(MAGIC)
    merged.set(FILE_NUM_ROWS, rows)
    if merged.get(FILE_ROW_GROUPS) is not None:
        merged.set(FILE_ROW_GROUPS, (STRUCT, groups))
    elif groups:
        raise NotConcatenable("the first part has no row group list")
    encoded = bytearray()
    _write_struct(encoded, merged)
    out.write(MAGIC)
    for path, (_, end) in zip(parts, footers):
        with open(path, "rb") as fh:
            fh.seek(len(MAGIC))
            _copy(fh, out, end - len(MAGIC))
    out.write(bytes(encoded))
    out.write(struct.pack("<I", len(encoded)) + MAGIC)


def _copy(source: BinaryIO, target: BinaryIO, n: int) -> None:
    while n > 0:
        chunk = source.read(min(n, 1 << 22))
        if not chunk:
            raise NotConcatenable("a part ended early")
        target.write(chunk)
        n -= len(chunk)


def roundtrip(path: Path) -> bool:
    """Whether the footer of `path` is written back byte for byte (the premise of :func:`concat`)."""
    footer, end = read_footer(path)
    encoded = bytearray()
    _write_struct(encoded, footer)
    with open(path, "rb") as fh:
        fh.seek(end)
        return bytes(encoded) == fh.read(len(encoded)) and fh.read(4) == struct.pack("<I", len(encoded))

