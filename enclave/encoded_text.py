"""Dense encodings in text, and how much information a piece of output carries.

Both the seal (what reaches a researcher's browser) and the egress gate (free text and code that
leave through a request) ask the same two questions of a text:

- :func:`encoded_runs` — where does it hold a long run of bytes written as text: base64 or
  base64url (wrapped over lines or not), hex (plain, spaced, colon-separated, ``0x``-prefixed, xxd's
  groups), ``\\x..`` escapes (a ``bytes`` repr), lists of small decimal integers (bytes as numbers),
  or any other run of printable characters as varied as an encoding (base85, uuencode…)?
- :func:`information_bytes` — how many bytes would it take to write it down (its zlib level-1
  compressed length: cheap, and no encoding makes data smaller than this).

Every pattern runs on RE2 (``google-re2``): matching time is linear in the text, whatever it holds.
A candidate run is kept only if its characters are spread as an encoding's are (Shannon entropy per
character, :data:`MIN_ENTROPY`), so a ruler of ``-`` or ``=``, a column of dates or a table of
numbers is not an encoded run. What JupyterLab sends (UUIDs, kernel, session and message ids, a
sha256, a JWT-like token, file names) is shorter than :data:`SPLIT_RUN` and always passes; a run of
:data:`MIN_RUN` characters is cut, and so are shorter runs (from :data:`SPLIT_RUN`) once one text
holds :data:`MIN_RUN` characters of them (a blob split into pieces). Pieces shorter still, split by
other characters (``;``, ``" | "``, a word), are :func:`scattered_runs`: base64 pieces of 12
characters or more mixing upper case, lower case and digits, hex pieces of 16 or more (not 32: ids
and pseudonyms), cut as one run once they add up to :data:`MIN_RUN` characters, fill half the span
between the first and the last, and joined look like the encoding's output.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from collections import Counter
from typing import NamedTuple

import re2

MIN_RUN = 256  # characters: an encoded run this long is cut (192 bytes as base64, 128 as hex)
SPLIT_RUN = 96  # characters: shorter runs are never cut (a sha256 in hex is 64, a UUID 36)
MIN_DECIMALS = 64  # numbers in a list before it may be bytes written as numbers
MIN_DISTINCT_BYTES = 24  # distinct values in such a list: counts and codes repeat, bytes of packed data do not
# Bits per character below which a candidate is text, not an encoding. Packed data is not random
# everywhere (a Parquet file's hex falls to 2.1 bits over 256 characters, its base64 to 3.1), so the
# thresholds are low and the alphabet's mix does the rest: hex needs letters among its digits (a
# table of numbers or dates has none), base64 needs upper case, lower case and digits together (a
# long path or identifier rarely has all three).
MIN_ENTROPY = {
    "base64": 3.5,  # random base64: 6 bits a character; a Parquet file's, 5.3 over the whole file
    "base32": 3.5,  # random base32: 5 bits
    "hex": 2.0,  # random hex: 4 bits; a Parquet file's, 3.4-3.7
    "digits": 2.5,  # an unbroken run of digits: a number no table prints (the hex of ASCII text is one)
    "escapes": 3.0,  # a bytes repr: \x, digits and letters mixed
    "dense": 5.3,  # base85 or uuencode: 6.4 and 6 on random bytes; minified JSON or prose without spaces, under 5
}
MIN_HEX_LETTERS = 0.01  # share of a-f among hex digits: 0.375 in random hex, 0.03 in the hex of a Parquet page of ASCII pseudonyms, 0 in numbers
MIN_HEX_SYMBOLS = 12  # distinct hex digits in a hex run (numbers use 10)
MIN_ESCAPE_SHARE = 0.25  # share of a bytes repr's characters in \x.. escapes (a Parquet file's: over 0.4)
MIN_CLASS_SHARE = 0.03  # share each of upper case, lower case and digits must have in a base64 run

_B64 = r"[A-Za-z0-9+/_\-]"
_PATTERNS = {
    # wrapped base64 (76 a line, as `base64` writes it) is one run: chunks of 16 or more joined by blanks
    "base64": re2.compile(rf"{_B64}{{16,}}={{0,2}}(?:[ \t]*\r?\n?[ \t]*{_B64}{{16,}}={{0,2}})*"),
    # pairs of hex digits with at most two separator characters between them: 'de ad', 'de:ad', '0xde, 0xad', xxd's '504b 0304'
    "hex": re2.compile(r"(?:0[xX])?[0-9a-fA-F]{2}(?:[ :,;.\-]{0,2}(?:0[xX])?[0-9a-fA-F]{2})+"),
    # a bytes repr: escapes at most 64 characters apart (and dense enough: MIN_ESCAPE_SHARE)
    "escapes": re2.compile(r"\\(?:x[0-9a-fA-F]{2}|[nrt0'\"\\])(?:[^\\\n]{0,64}\\(?:x[0-9a-fA-F]{2}|[nrt0'\"\\]))+"),
    # a hex dump (xxd, hexdump -C): lines of an offset and groups of hex digits, whatever follows on each line
    "hexdump": re2.compile(r"(?m)(?:^[0-9a-fA-F]{4,8}:?(?:[ \t]+[0-9a-fA-F]{2,4}){4,}[^\n]*\n?){2,}"),
    # bytes as numbers: a list or tuple, or numpy's [137  80  78 ...]
    "decimal": re2.compile(r"[0-9]{1,3}(?:\s*[,;]\s*[0-9]{1,3})+|\[\s*[0-9]{1,3}(?:\s+[0-9]{1,3})+"),
    # anything else printable and unbroken by spaces
    "dense": re2.compile(rf"[!-~]{{{SPLIT_RUN},}}"),
}
# Matched on the text's ASCII bytes (any other character one "?"), so a match's offsets are the
# text's: RE2 on a str converts offsets at every search, which is quadratic in long texts.
PATTERNS = {kind: re2.compile(p.pattern.encode("ascii")) for kind, p in _PATTERNS.items()}


# Helpers over a run already found, on Python's re: single character classes with no nesting (linear),
# and C-speed findall/sub where RE2's Python wrapper makes a match object per character.
_NUMBER = re.compile(r"[0-9]+")
_NOT_HEX = re.compile(r"[^0-9a-fA-F]+")
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")
_HEX_PREFIX = re.compile(r"0[xX]")
_DUMP_GROUP = re.compile(r"[ \t]([0-9a-fA-F]{2,4})")
_DUMP_LINE = re.compile(r"(?m)^[0-9a-fA-F]{4,8}:?[ \t]")


class Run(NamedTuple):
    start: int
    end: int
    kind: str  # "base64" | "hex" | "escapes" | "decimal" | "dense"


def information_bytes(data: str | bytes) -> int:
    """Bytes needed to write ``data`` down: its zlib level-1 compressed length (0 for nothing)."""
    if not data:
        return 0
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return len(zlib.compress(raw, 1))


def entropy(text: str, counts: Counter | None = None) -> float:
    """Shannon entropy of the characters of ``text`` (or of their ``counts``), in bits per character."""
    counts = Counter(text) if counts is None else counts
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _is_encoded(kind: str, text: str) -> bool:
    if kind == "decimal":
        numbers = [int(x) for x in _NUMBER.findall(text)]
        return len(numbers) >= MIN_DECIMALS and max(numbers) <= 255 and len(set(numbers)) >= MIN_DISTINCT_BYTES
    if kind == "escapes":
        escapes = text.count("\\x")
        return len(text) >= SPLIT_RUN and 4 * escapes >= MIN_ESCAPE_SHARE * len(text) and entropy(text) >= MIN_ENTROPY["escapes"]
    if kind == "hexdump":
        return _is_hex("".join(_DUMP_GROUP.findall(text)).lower())
    if kind == "hex":
        return _is_hex(_NOT_HEX.sub("", text.replace("0x", "").replace("0X", "")).lower(), text.isalnum())
    if kind == "base64":
        compact = "".join(text.split())
        if len(compact) < SPLIT_RUN:
            return False
        counts = Counter(compact)
        if set(counts) <= _HEX:
            return _is_hex(compact.lower(), compact == text)
        if set(counts) <= _BASE32:
            return entropy(compact, counts) >= MIN_ENTROPY["base32"]
        n = len(compact)
        shares = [sum(v for c, v in counts.items() if test(c)) / n for test in (str.isupper, str.islower, str.isdigit)]
        return min(shares) >= MIN_CLASS_SHARE and entropy(compact, counts) >= MIN_ENTROPY["base64"]
    return len(text) >= SPLIT_RUN and entropy(text) >= MIN_ENTROPY[kind]


def _is_hex(digits: str, contiguous: bool = False) -> bool:
    if len(digits) < SPLIT_RUN:
        return False
    counts = Counter(digits)
    letters = sum(counts[c] for c in "abcdef")
    if not letters:  # digits only (the hex of ASCII text is): a run of them unbroken by any separator
        return contiguous and len(digits) >= MIN_RUN and entropy(digits, counts) >= MIN_ENTROPY["digits"]
    return letters / len(digits) >= MIN_HEX_LETTERS and len(counts) >= MIN_HEX_SYMBOLS and entropy(digits, counts) >= MIN_ENTROPY["hex"]


def ascii_view(text: str) -> bytes:
    """``text`` as bytes with one byte per character (a non-ASCII character becomes "?")."""
    return text.encode("ascii", "replace")


def _candidates(text: str) -> list[Run]:
    found, view = [], ascii_view(text)
    for kind, pattern in PATTERNS.items():
        for m in pattern.finditer(view):
            start, end = m.span()
            if end - start >= (MIN_RUN if kind == "decimal" else SPLIT_RUN) and _is_encoded(kind, text[start:end]):
                found.append(Run(start, end, _kind_of(kind, text[start:end])))
    return found


def _kind_of(kind: str, run: str) -> str:
    if kind == "base64" and set(run) <= _HEX | _BLANKS:
        return "hex"
    if kind == "base64" and set(run) <= _BASE32 | _BLANKS:
        return "base32"
    return "hex" if kind == "hexdump" else kind


def _merged(runs: list[Run]) -> list[Run]:
    """Overlapping candidates as one run each (the kind of the longest)."""
    out: list[Run] = []
    for run in sorted(runs):
        if out and run.start <= out[-1].end:
            last = out[-1]
            longest = last.kind if last.end - last.start >= run.end - run.start else run.kind
            out[-1] = Run(last.start, max(last.end, run.end), longest)
        else:
            out.append(run)
    return out


def encoded_runs(text: str, split_budget: int = MIN_RUN) -> list[Run]:
    """The encoded runs of ``text`` that must be cut, in order, not overlapping.

    A run of :data:`MIN_RUN` characters or more is always returned; runs from :data:`SPLIT_RUN` up
    are returned too when together they reach ``split_budget`` characters (a caller judging many
    strings of one answer passes what is left of :data:`MIN_RUN` after the strings before)."""
    if len(text) < SPLIT_RUN:
        return []
    runs = _merged(_candidates(text))
    long = [r for r in runs if r.end - r.start >= MIN_RUN]
    short = [r for r in runs if r.end - r.start < MIN_RUN]
    if sum(r.end - r.start for r in short) >= split_budget:
        return runs
    return long


# Pieces of a blob split by other characters (``;``, ``|``, words) so that no run reaches SPLIT_RUN:
# base64 pieces hold upper case, lower case and digits together; hex pieces letters and digits.
_PIECES = {"base64": re2.compile(rb"[A-Za-z0-9+/]{12,}={0,2}"), "hex": re2.compile(rb"[0-9a-fA-F]{16,}")}
MIN_SCATTERED_SHARE = 0.5  # share of the span from the first piece to the last that pieces fill


def _is_piece(kind: str, piece: bytes) -> bool:
    if kind == "hex":  # an id or a pseudonym is 32 digits: pseudonyms have a rule of their own
        return len(piece) != 32
    return any(65 <= c <= 90 for c in piece) and any(97 <= c <= 122 for c in piece) and any(48 <= c <= 57 for c in piece)


def _pieces_encoded(kind: str, joined: str) -> bool:
    """The pieces joined look like the encoding's output: base64 by :func:`_is_encoded`'s thresholds; hex
    as varied as an unbroken run of digits must be (the hex of ASCII text has few letters or none, and
    a table prints no number of 16 digits or more, let alone half its width of them)."""
    if kind == "hex":
        return entropy(joined.lower()) >= MIN_ENTROPY["digits"]
    return _is_encoded("base64", joined)


def scattered_runs(text: str, budget: int = MIN_RUN, every_piece: bool = False) -> list[Run]:
    """A blob split into short pieces (each under :data:`SPLIT_RUN` characters, so :func:`encoded_runs`
    passes them), as one run from its first piece to its last: returned when the pieces of one kind
    add up to ``budget`` characters, fill :data:`MIN_SCATTERED_SHARE` of that span and, joined, look
    like the encoding's output. Pieces are judged together, so an extract cut in 90-character pieces
    decodes whole. With ``every_piece`` (a channel that has just carried an encoded run: what is left
    of a blob at a message's edges), every piece is a run of its own."""
    view = ascii_view(text)
    if every_piece:
        return _merged([Run(m.start(), m.end(), kind) for kind, pattern in _PIECES.items()
                        for m in pattern.finditer(view) if m.end() - m.start() < SPLIT_RUN and _is_piece(kind, m.group(0))])
    if len(text) < budget:
        return []
    out = []
    for kind, pattern in _PIECES.items():
        pieces = [m for m in pattern.finditer(view) if m.end() - m.start() < SPLIT_RUN and _is_piece(kind, m.group(0))]
        total = sum(m.end() - m.start() for m in pieces)
        if total < budget:
            continue
        start, end = pieces[0].start(), pieces[-1].end()
        if total >= MIN_SCATTERED_SHARE * (end - start) and _pieces_encoded(kind, b"".join(m.group(0) for m in pieces).decode()):
            out.append(Run(start, end, kind))
    return _merged(out)


def alphabet_runs(text: str, min_length: int) -> list[Run]:
    """Every stretch of base64's alphabet (hex included; lines of a wrapped blob joined) of
    ``min_length`` characters or more, whatever its characters' spread: what a caller decodes to
    look for known bytes in, not what it cuts on sight (a word or a path is such a stretch too)."""
    return [Run(m.start(), m.end(), _kind_of("base64", text[m.start(): m.end()]))
            for m in PATTERNS["base64"].finditer(ascii_view(text)) if m.end() - m.start() >= min_length]


def joined_pieces(text: str, kind: str) -> str:
    """The pieces of a :func:`scattered_runs` run joined, without what separated them."""
    return b"".join(m.group(0) for m in _PIECES[kind].finditer(ascii_view(text)) if _is_piece(kind, m.group(0))).decode("ascii")


def short_runs_length(text: str) -> int:
    """Characters of ``text`` in encoded runs shorter than :data:`MIN_RUN` (for judging split blobs)."""
    if len(text) < SPLIT_RUN:
        return 0
    return sum(r.end - r.start for r in _merged(_candidates(text)) if r.end - r.start < MIN_RUN)


def decode_run(text: str, kind: str) -> bytes:
    """The bytes an encoded run stands for, as well as can be told (b"" when it decodes to nothing)."""
    try:
        if kind == "hex":
            if _DUMP_LINE.search(text):  # a hex dump: its offsets and text column are not data
                text = _dump_digits(text)
            digits = "".join(_HEX_PAIR.findall(_HEX_PREFIX.sub(" ", text)))
            return binascii.unhexlify(digits[: len(digits) // 2 * 2])
        if kind == "base32":
            compact = "".join(text.split()).rstrip("=")
            return base64.b32decode(compact[: len(compact) // 8 * 8])
        if kind == "escapes":
            return text.encode("latin-1", "ignore").decode("unicode_escape", "ignore").encode("latin-1", "ignore")
        if kind == "decimal":
            return bytes(n for n in (int(x) for x in _NUMBER.findall(text)) if n <= 255)
        if kind in ("base64", "dense"):
            compact = "".join(text.split()).rstrip("=")
            if kind == "dense":
                try:
                    return base64.a85decode(compact.encode(), ignorechars=b" \n")
                except ValueError:
                    return base64.b85decode(compact.encode()) if _is_b85(compact) else b""
            alt = compact.replace("-", "+").replace("_", "/")
            return base64.b64decode(alt[: len(alt) // 4 * 4] + "", validate=False)
    except (ValueError, binascii.Error, UnicodeError):
        return b""
    return b""


def _dump_digits(text: str) -> str:
    """The hex digits of a hex dump (xxd, hexdump -C), without its offsets and text column.

    A line's data are its leading groups of 2 to 4 hex digits after the offset; the text column
    that follows may itself start with such a group, so each line is cut to the dump's width (the
    fewest bytes a line other than the last carries)."""
    lines = [line.split()[1:] for line in text.splitlines() if _DUMP_LINE.match(line)]
    groups = []
    for tokens in lines:
        lead = []
        for token in tokens:
            if not _DUMP_TOKEN.fullmatch(token):
                break
            lead.append(token)
        groups.append("".join(lead))
    width = min((len(g) for g in groups[:-1]), default=None)
    return " ".join(g[:width] if width else g for g in groups)


_DUMP_TOKEN = re.compile(r"[0-9a-fA-F]{2}|[0-9a-fA-F]{4}")


def _is_b85(text: str) -> bool:
    return all(c in _B85 for c in text)


_HEX = frozenset("0123456789abcdefABCDEF")
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=")
_BLANKS = frozenset(" \t\r\n")
_B85 = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~")
