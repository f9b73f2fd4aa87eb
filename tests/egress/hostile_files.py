"""Pathological files, built byte by byte: what a hostile researcher could submit to stall the gate.

Each builder writes one file under ``folder`` and returns its path. Shared by the fuzz tests and
the bench (the worst of them must be checked in a few seconds).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

MB = 1024 * 1024


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def tiny_png(extra_chunks: bytes = b"", trailing: bytes = b"") -> bytes:
    """A valid 1x1 grey PNG, with optional chunks before its pixels and bytes after its end."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    pixels = _png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return b"\x89PNG\r\n\x1a\n" + header + extra_chunks + pixels + _png_chunk(b"IEND", b"") + trailing


def png_text_chunk(key: str, text: str) -> bytes:
    return _png_chunk(b"tEXt", key.encode() + b"\0" + text.encode("latin-1"))


BUILDERS = {
    # the e-mail pattern's old worst case: one long line of local-part characters and no "@"
    "long_line_no_at.txt": lambda: b"a.b-c_d" * (10 * MB // 7),
    "at_runs.txt": lambda: b"a@" * (5 * MB),
    "dotted_domains.txt": lambda: b"a@b." * (10 * MB // 4),
    "hex_run.txt": lambda: b"a" * (10 * MB),
    "digit_run.txt": lambda: b"1" * (10 * MB),
    "spaced_digits.md": lambda: b"1 " * (5 * MB),
    "one_huge_cell.csv": lambda: b"label,n\n" + b"x" * (10 * MB) + b",12\n",
    "huge_at_cell.csv": lambda: b"label,n\n" + b"@." * (5 * MB) + b",12\n",
    "deep_array.json": lambda: b"[" * (5 * MB) + b"]" * (5 * MB),
    "deep_object.json": lambda: b'{"a":' * (2 * MB) + b"1" + b"}" * (2 * MB),
    "deep_groups.svg": lambda: b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"<g>" * MB + b"</g>" * MB + b"</svg>",
    "flat_elements.svg": lambda: b"<svg>" + b"<g/>" * (5 * MB // 2) + b"</svg>",
    "open_brackets.svg": lambda: b"<svg>" + b"<" * (10 * MB),
    "brackets.md": lambda: b"[" * (10 * MB),
    "huge_text_chunk.png": lambda: tiny_png(png_text_chunk("Comment", "a" * (10 * MB))),
}


def build(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(BUILDERS[name]())
    return path
