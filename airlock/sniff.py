"""What a file is, from its bytes (never its name): the airlock's type allow-list.

:func:`sniff` returns a kind; :data:`ALLOWED` are the kinds that may enter a project. Text is
UTF-8 without NUL bytes in its first block; a zip holding ``[Content_Types].xml`` is an Office
Open XML document; an OLE2 compound file is a legacy Office document.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

HEAD = 65_536
EXECUTABLE = "executable"
ALLOWED = ("text", "parquet", "pdf", "ooxml", "ole", "zip", "gzip")
ARCHIVES = ("zip", "gzip")
OFFICE = ("ooxml", "ole")
_MAGIC = (
    (b"\x7fELF", EXECUTABLE), (b"MZ", EXECUTABLE), (b"\xfe\xed\xfa\xce", EXECUTABLE), (b"\xfe\xed\xfa\xcf", EXECUTABLE),
    (b"\xcf\xfa\xed\xfe", EXECUTABLE), (b"\xce\xfa\xed\xfe", EXECUTABLE), (b"\xca\xfe\xba\xbe", EXECUTABLE),
    (b"\x00asm", EXECUTABLE), (b"#!", "script"),
    (b"PAR1", "parquet"), (b"%PDF-", "pdf"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"),
)


def sniff_head(head: bytes) -> str:
    """The kind of a file whose first bytes are ``head`` (zip not told apart from Office here)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the block's end
            return "binary"
    return "text"


def sniff(path: Path) -> str:
    with open(path, "rb") as fh:
        kind = sniff_head(fh.read(HEAD))
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                if "[Content_Types].xml" in archive.namelist():
                    return "ooxml"
        except zipfile.BadZipFile:
            return "binary"
    return kind
