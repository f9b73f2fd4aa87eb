"""Text a file carries besides its visible content: metadata, comments, chunks, trailing bytes.

A table's cells are read by :mod:`egress_gate.tables`; this module finds everything else a
researcher could hide identifiers in, as ``Embedded`` (texts to check, and structural problems):

- Parquet: the schema's and every field's key-value metadata, the writer's name;
- xlsx: every XML part of the workbook but the cell values themselves (already read as tables):
  comments, defined names, document properties (core, app, custom), drawings, charts, and the
  formulas' text; hidden sheets, formulas and macros are reported as problems;
- PNG: text chunks (tEXt, zTXt, iTXt), EXIF and any other ancillary chunk; bytes after IEND;
- JPEG: APPn segments (EXIF, XMP, ...) and comments; bytes after the end-of-image marker;
- SVG: every text node, attribute and comment; scripts, event handlers and external references;
- any text type whose first bytes are those of an archive or compressed file.

Everything is bounded: XML is parsed incrementally (no recursion on deep nesting, no external
entities), decompression stops at a cap, and a structure that cannot be walked is a problem.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import pyarrow.parquet as pq
import re2

from .tables import file_type

MAX_EXPANDED = 64 * 1024 * 1024  # bytes of decompressed text looked at per file
MAX_DEPTH, MAX_ELEMENTS = 256, 300_000  # per XML part: past these it is refused, not walked for minutes
FORMULA = re2.compile(rb"<(?:[A-Za-z0-9_]+:)?f(?:\s[^>]*)?>([^<]*)<")
ARCHIVE_MAGIC = {b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip file", b"7z\xbc\xaf": "a 7-zip archive",
                 b"Rar!": "a RAR archive", b"BZh": "a bzip2 file", b"\xfd7zXZ": "an xz file",
                 b"\x28\xb5\x2f\xfd": "a zstd file", b"ustar": "a tar archive"}
_CONTROL = re2.compile(r"[\x00-\x09\x0b-\x1f\x7f\x{fffd}]+")
TEXT_KINDS = ("csv", "tsv", "txt", "md", "json", "svg", "patch", "diff")


@dataclass
class Problem:
    check: str  # the finding's check name
    outcome: str  # "fail" or "review"
    message: str


@dataclass
class Embedded:
    pieces: dict[str, list[str]] = field(default_factory=dict)  # where -> texts found there
    problems: list[Problem] = field(default_factory=list)

    def text(self, where: str, value) -> None:
        if value is None:
            return
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if value.strip():
            self.pieces.setdefault(where, []).append(value)

    @property
    def texts(self) -> list[tuple[str, str]]:
        """(where, text): one text per place, its pieces one a line."""
        return [(where, "\n".join(pieces)) for where, pieces in self.pieces.items()]

    def fail(self, check: str, message: str) -> None:
        self.problems.append(Problem(check, "fail", message))

    def review(self, check: str, message: str) -> None:
        self.problems.append(Problem(check, "review", message))


def embedded(path: Path) -> Embedded:
    """What ``path`` carries besides its cells or pixels (nothing for types without hiding places)."""
    kind, found = file_type(path), Embedded()
    reader = {"parquet": _parquet, "xlsx": _xlsx, "png": _png, "jpg": _jpeg, "svg": _svg}.get(kind)
    if kind in TEXT_KINDS:
        with open(path, "rb") as fh:
            head = fh.read(512)
        archive = next((what for magic, what in ARCHIVE_MAGIC.items()
                        if head.startswith(magic) or (magic == b"ustar" and head[257:262] == magic)), None)
        if archive:
            found.fail("archive", f"{path.name} is {archive}, not .{kind} text: archives may not leave; "
                                  "submit each file inside it on its own")
            return found
    if reader is not None:
        try:
            reader(path, found)
        except (OSError, ValueError, KeyError, struct.error, zlib.error, zipfile.BadZipFile, expat.ExpatError,
                RecursionError, EOFError) as exc:
            found.fail("structure", f"{path.name}: its structure cannot be walked ({type(exc).__name__}: "
                                    f"{str(exc)[:200]}), so what it hides cannot be checked; export it again")
    return found


# --- Parquet ----------------------------------------------------------------------------------

def _parquet(path: Path, found: Embedded) -> None:
    meta = pq.ParquetFile(path).metadata
    found.text("parquet writer", meta.created_by)
    schema = meta.schema.to_arrow_schema()
    for key, value in (schema.metadata or {}).items():
        if key != b"ARROW:schema":  # the schema itself, serialised: its parts are read one by one here
            found.text(f"parquet metadata {key.decode('utf-8', 'replace')[:60]}", key + b"\n" + value)
    for f in schema:
        for key, value in (f.metadata or {}).items():
            found.text(f"parquet metadata of column {f.name}", key + b"\n" + value)


# --- xlsx -------------------------------------------------------------------------------------

def _xlsx(path: Path, found: Embedded) -> None:
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_EXPANDED:
            found.fail("structure", f"{path.name} expands to over {MAX_EXPANDED // 2 ** 20} MB: refused unchecked")
            return
        formulas, hidden = [], []
        for member in members:
            name = member.filename
            data = archive.read(member)
            if name.lower().endswith("vbaproject.bin") or name.lower().startswith("xl/activex"):
                found.fail("macros", f"{path.name} holds macros or ActiveX controls ({name}): they may not leave")
                continue
            if name.startswith("xl/embeddings/"):
                found.fail("embedded_objects", f"{path.name} embeds another file ({name}): export the data itself")
                continue
            if not (name.endswith(".xml") or name.endswith(".rels") or name.endswith(".vml")):
                if name.startswith("xl/media/"):
                    found.review("embedded_objects", f"{path.name} holds an image ({name}): a steward must look at it")
                continue
            if name == "xl/sharedStrings.xml":
                continue  # the cells' text: read as tables
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                # cells were read as tables; only the formulas' own text is looked at, by a linear scan
                for match in FORMULA.finditer(data):
                    text = match.group(1).decode("utf-8", "replace")
                    formulas.append(f"{name.rsplit('/', 1)[-1][:-4]}: ={text[:80]}")
                    found.text(f"formulas of {name}", text)
                continue
            for tag, attrs, text in _xml_items(data):
                if tag == "sheet" and attrs.get("state") in ("hidden", "veryHidden"):
                    hidden.append(attrs.get("name", "?"))
                found.text(f"workbook part {name}", " ".join([*attrs.values(), text or ""]))
        if formulas:
            found.review("formulas", f"{len(formulas)} formula cell(s) (e.g. {formulas[0]}): a formula may compute "
                                     "or fetch what its cached value hides; a steward must look, and previews show "
                                     "values only. Export values instead")
        if hidden:
            found.review("hidden_sheets", f"hidden sheet(s) {', '.join(hidden)}: checked like the others, but a "
                                          "steward must know they are there")


def _xml_items(data: bytes):
    """(local tag, attributes, text) of every element and comment, from expat's callbacks: no tree
    is built, so memory and time stay flat however deep the nesting; entity declarations (the
    "billion laughs") are refused."""
    events: list[tuple[str, dict, str]] = []
    stack: list[tuple[str, dict, list[str]]] = []
    counted = [0]
    parser = expat.ParserCreate(namespace_separator="}")

    def start(tag, attrs):
        if len(stack) >= MAX_DEPTH:
            raise ValueError(f"elements nested deeper than {MAX_DEPTH}")
        counted[0] += 1
        if counted[0] > MAX_ELEMENTS:
            raise ValueError(f"over {MAX_ELEMENTS:,} elements")
        stack.append((tag.rsplit("}", 1)[-1], {k.rsplit("}", 1)[-1]: v for k, v in attrs.items()} if attrs else {}, []))

    def end(_tag):
        tag, attrs, text = stack.pop()
        events.append((tag, attrs, "".join(text)))

    def chars(text):
        if stack and sum(map(len, stack[-1][2])) < MAX_EXPANDED:
            stack[-1][2].append(text)

    def entity(*_args):
        raise ValueError("the XML declares entities")

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    parser.CommentHandler = lambda text: events.append(("comment", {}, text))
    parser.EntityDeclHandler = entity
    view = memoryview(data)
    for i in range(0, len(data), 1 << 16):
        parser.Parse(bytes(view[i: i + (1 << 16)]), False)
        yield from events
        events.clear()
    parser.Parse(b"", True)
    yield from events


# --- PNG --------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(path: Path, found: Embedded) -> None:
    data = path.read_bytes()
    pos, expanded = len(PNG_SIGNATURE), 0
    while True:
        if pos + 8 > len(data):
            raise ValueError(f"the PNG ends at byte {pos} without its IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"chunk {kind!r} at byte {pos} is cut short")
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind in (b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"pHYs", b"bKGD", b"sBIT"):
            continue  # pixels and colour: no text
        name = kind.decode("latin-1")
        if kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            body = key + b"\n" + _inflate(rest[1:], MAX_EXPANDED - expanded)
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[:1] == b"\x01", rest[2:]
            language, _, rest = rest.partition(b"\0")
            translated, _, text = rest.partition(b"\0")
            body = b"\n".join([key, language, translated, _inflate(text, MAX_EXPANDED - expanded) if compressed else text])
        elif kind == b"iCCP":
            continue  # a colour profile: binary, its name is checked below
        expanded += len(body)
        found.text(f"PNG {name} chunk", _printable(body))
        if kind == b"eXIf":
            found.review("image_metadata", f"{path.name} carries EXIF metadata: a steward must check it")
    if pos < len(data):
        found.fail("trailing_data", f"{path.name} has {len(data) - pos:,} byte(s) after the image's end (IEND): "
                                    "data hidden behind the picture; save the figure again")


def _inflate(data: bytes, limit: int) -> bytes:
    out = zlib.decompressobj().decompress(data, max(0, limit))
    return out


def _printable(data: bytes) -> str:
    """Runs of printable characters (binary metadata such as EXIF holds its text among bytes)."""
    return _CONTROL.sub("\n", data.decode("utf-8", "replace"))


# --- JPEG -------------------------------------------------------------------------------------

def _jpeg(path: Path, found: Embedded) -> None:
    data = path.read_bytes()
    pos = 2
    end = None
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            end = pos + 2
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2: pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError(f"segment 0x{marker:02X} at byte {pos} is cut short")
        body = data[pos + 4: pos + 2 + length]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            what = "comment" if marker == 0xFE else f"APP{marker - 0xE0} segment"
            found.text(f"JPEG {what}", _printable(body))
            if marker == 0xE1 and body.startswith(b"Exif"):
                found.review("image_metadata", f"{path.name} carries EXIF metadata: a steward must check it")
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            pos = _scan_end(data, pos)
    if end is None:
        raise ValueError("the JPEG has no end-of-image marker")
    if end < len(data):
        found.fail("trailing_data", f"{path.name} has {len(data) - end:,} byte(s) after the image's end (EOI): "
                                    "data hidden behind the picture; save the figure again")


def _scan_end(data: bytes, pos: int) -> int:
    """The position of the first marker after entropy-coded data (0xFF00 and restart markers are data)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1
            continue
        return pos


# --- SVG --------------------------------------------------------------------------------------

def _svg(path: Path, found: Embedded) -> None:
    data = path.read_bytes()
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        found.fail("active_content", f"{path.name} declares a DOCTYPE or entities: save the figure again as plain SVG")
        return
    active = []
    for tag, attrs, text in _xml_items(data):
        if tag in ("script", "foreignObject", "iframe", "embed", "object"):
            active.append(f"<{tag}>")
        for key, value in attrs.items():
            if key.lower().startswith("on") or (key in ("href",) and not value.startswith(("#", "data:image/"))):
                active.append(f"{tag}@{key}")
        found.text("SVG text and attributes", " ".join([*attrs.values(), text or ""]))
    if active:
        found.fail("active_content", f"{path.name} holds scripts, event handlers or external references "
                                     f"({', '.join(sorted(set(active))[:5])}): they may not leave")

