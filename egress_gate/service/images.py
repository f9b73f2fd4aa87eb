"""Figures re-encoded for the steward's preview: only what draws the picture is kept.

The held bytes are never served to a browser as they are: a PNG keeps its header, palette,
transparency and pixel data (the compressed stream checked to inflate, within a cap) and loses
every other chunk and anything after its end; a JPEG keeps its tables, frame and scans and loses
application segments (EXIF, XMP...), comments and anything after its end. The page shows the
result as an image under a CSP that lets nothing run (``default-src 'none'; sandbox``).
SVG is not rendered (it is a document, not a picture); its text is in the findings.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import EgressError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = (b"IHDR", b"PLTE", b"tRNS")
MAX_PIXELS_BYTES = 256 * 1024 * 1024
IMAGE_CSP = "default-src 'none'; sandbox"


def reencode(kind: str, data: bytes) -> tuple[bytes, str]:
    """(bytes, content type) of the picture ``data`` of type ``kind`` (png, jpg), metadata and trailers dropped."""
    try:
        if kind == "png":
            return _png(data), "image/png"
        if kind == "jpg":
            return _jpeg(data), "image/jpeg"
    except (ValueError, struct.error, zlib.error) as exc:
        raise EgressError(f"the figure cannot be re-encoded for preview ({exc})", "download the held file instead") from None
    raise EgressError(f"a .{kind} file is not previewed as an image", "download the held file instead")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(data: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    pos, kept, pixels = len(PNG_SIGNATURE), [], []
    while True:
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"chunk {kind!r} cut short")
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind in PNG_KEEP:
            kept.append(_chunk(kind, body))
        elif kind == b"IDAT":
            pixels.append(body)
    stream = b"".join(pixels)
    inflater = zlib.decompressobj()
    inflater.decompress(stream, MAX_PIXELS_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("pixel data larger than the preview allows")
    if not kept or not kept[0][4:8] == b"IHDR":
        raise ValueError("no header chunk first")
    return PNG_SIGNATURE + b"".join(kept) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def _jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    out, pos = [b"\xff\xd8"], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2: pos + 4])
        segment = data[pos: pos + 2 + length]
        pos += 2 + length
        if marker == 0xDA:
            end = _scan_end(data, pos)
            out.append(segment + data[pos:end])
            pos = end
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE):  # application segments and comments are dropped
            out.append(segment)
    raise ValueError("no end-of-image marker")


def _scan_end(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        if data[pos + 1] == 0x00 or 0xD0 <= data[pos + 1] <= 0xD7:
            pos += 2
            continue
        return pos
