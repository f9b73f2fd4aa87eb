"""Identifier checks: project pseudonyms, valid NIRs, birth dates, postcodes and communes,
contact details, and column names that suggest direct identifiers.

String work is done with Arrow compute on whole columns; Python only ever touches the cells that
already look like an identifier.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

from ..context import PSEUDONYM_LENGTH, CheckContext
from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ..profile import Column, TableView, name_tokens
from ._base import cells_at, finding, passed, rows_of

NIR_SHAPE = r"^[1-478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}$"
# Text patterns run on RE2 (google-re2, and Arrow's own regex engine for columns): matching time is
# linear in the text whatever it holds, so no file can make a check run for minutes. RE2 has no
# look-around: a match's neighbours are part of the pattern instead (see `_bounded`).
NIR_IN_TEXT = re2.compile(r"[^0-9A-Za-z]([1-478][ .-]?[0-9]{2}[ .-]?[0-9]{2}[ .-]?(?:[0-9]{2}|2[ABab])[ .-]?[0-9]{3}"
                          r"[ .-]?[0-9]{3}[ .-]?[0-9]{2})[^0-9A-Za-z]")
# Either case: an upper-cased pseudonym is still one (it is lower-cased before the lookup).
PSEUDONYM_IN_TEXT = re2.compile(r"[^0-9a-fA-F]([0-9a-fA-F]{32})[^0-9a-fA-F]")
EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
EMAIL_IN_TEXT = re2.compile(r"[^@\s<>()\[\]\"',;:]+@[^@\s<>()\[\]\"',;:]+\.[A-Za-z]{2,}")
PHONE = r"^(?:\+33 ?|0)[1-9](?:[ .-]?[0-9]{2}){4}$"
POSTCODE = r"^(?:0[1-9]|[1-8][0-9]|9[0-8]|2[AB])[0-9]{3}$"
BIRTH_TOKENS = {"birth", "naissance", "dob", "ddn", "nais", "born", "birthdate", "datenaissance", "bday", "birthday"}
PLACE_TOKENS = {"cp", "postcode", "postal", "zip", "zipcode", "commune", "insee", "depcom", "codgeo", "codecommune", "codepostal"}
IDENTIFIER_TOKENS = {
    "nir", "nom", "prenom", "prenoms", "name", "names", "firstname", "lastname", "surname", "fullname", "patronyme",
    "address", "adresse", "rue", "street", "email", "mail", "courriel", "phone", "telephone", "tel", "mobile",
    "portable", "ssn", "secu", "iban", "ip", "nss", "ipp", "passport", "passeport",
}
ISO_DATE, FR_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"


# --- pseudonyms -------------------------------------------------------------------------------

def member_mask(values: pa.Array, pseudonyms: pa.Array) -> pa.Array | None:
    """Boolean mask of `values` found in `pseudonyms` (None when none is), hashing the smaller side."""
    if not len(values) or not len(pseudonyms):
        return None
    if len(values) < len(pseudonyms):
        found = pseudonyms.filter(pc.is_in(pseudonyms, value_set=pc.unique(values)))
        return pc.is_in(values, value_set=found) if len(found) else None
    mask = pc.is_in(values, value_set=pseudonyms)
    return mask if pc.any(mask).as_py() else None


def _first_hits(keys, rows: np.ndarray, hi: np.ndarray, lo: np.ndarray, wanted: int) -> np.ndarray:
    hits, step = [], 65_536
    for start in range(0, len(hi), step):
        chunk = rows[start: start + step][keys.contains(hi[start: start + step], lo[start: start + step])]
        hits.append(chunk)
        if sum(map(len, hits)) >= wanted:
            break
    return np.concatenate(hits)[:wanted] if hits else np.zeros(0, np.int64)


def check_pseudonyms(view: TableView, policy: Policy, context: CheckContext) -> list[Finding]:
    pseudonyms = context.pseudonyms
    cells, total = [], 0
    header_hits = member_mask(pa.array([str(n) for n in view.table.column_names]), pseudonyms)
    if header_hits is not None:
        for r in rows_of(header_hits):
            cells.append(Cell(None, view.table.column_names[r], view.table.column_names[r]))
            total += 1
    keys = context.pseudonym_keys
    for c in view.strings:
        lengths = c.lengths
        rows, hi, lo = view.hex[c.name]
        found = keys.count_in(view.sorted_hi[c.name]) if c.name in view.sorted_hi else 0
        if found:  # the count needs no per-row mapping; only the listed cells are looked up, chunk by chunk
            total += found
            cells += cells_at(_first_hits(keys, rows, hi, lo, policy.max_cells_listed), c.name, c.array, policy)
        longer = rows_of(pc.greater(lengths, PSEUDONYM_LENGTH))
        if len(longer):  # a pseudonym inside a longer cell ("patient 3fa...")
            texts = c.array.take(pa.array(longer))
            holds = rows_of(pc.match_substring_regex(texts, "[0-9a-fA-F]{32}"))
            for r in longer[holds]:
                value = c.array[int(r)].as_py()
                tokens = pa.array([t.lower() for _, t in _bounded(PSEUDONYM_IN_TEXT, value)], pa.string())
                if member_mask(tokens, pseudonyms) is not None:
                    total += 1
                    cells.append(Cell(int(r), c.name, value))
    if total:
        return [finding("pseudonyms", Outcome.FAIL,
                        f"{total} cell(s) hold a pseudonym of this project: an individual is identifiable inside the enclave",
                        policy, cells[: policy.max_cells_listed], total, view.part)]
    checked = f"{len(pseudonyms):,} project pseudonyms" if len(pseudonyms) else "an empty pseudonym set (none loaded)"
    return [passed("pseudonyms", f"no cell holds one of {checked}", policy, view.part)]


# --- NIR ------------------------------------------------------------------------------------

def valid_nir_mask(nirs: list[str] | pa.Array) -> np.ndarray:
    """Which NIR-shaped 15-character strings carry a valid key (97 − N mod 97; 2A→19, 2B→18)."""
    raw = np.array(list(nirs) if not isinstance(nirs, list) else nirs, dtype="S15")
    if not len(raw):
        return np.zeros(0, bool)
    b = raw.view(np.uint8).reshape(-1, 15).astype(np.int64)
    digits = b - ord("0")
    corsica_a, corsica_b = b[:, 6] == ord("A"), b[:, 6] == ord("B")
    digits[corsica_a | corsica_b, 5] = 1
    digits[corsica_a, 6] = 9
    digits[corsica_b, 6] = 8
    remainder = np.zeros(len(b), np.int64)
    for i in range(13):  # 13 steps of Horner's rule over all rows at once
        remainder = (remainder * 10 + digits[:, i]) % 97
    return (97 - remainder) == digits[:, 13] * 10 + digits[:, 14]


def _nir_rows_in_strings(c: Column) -> np.ndarray:
    lengths = c.lengths
    idx = rows_of(pc.and_(pc.greater_equal(lengths, 15), pc.less_equal(lengths, 21)))
    if not len(idx):
        return idx
    compact = pc.utf8_upper(pc.replace_substring_regex(c.array.take(pa.array(idx)), r"[ .\-]", ""))
    shaped = rows_of(pc.match_substring_regex(compact, NIR_SHAPE))
    if not len(shaped):
        return shaped
    valid = valid_nir_mask(compact.take(pa.array(shaped)).to_pylist())
    return idx[shaped[valid]]


def _nir_rows_in_integers(c: Column) -> np.ndarray:
    v = c.array.fill_null(0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    first = v // 10**14
    shaped = (v >= 10**14) & (v < 10**15) & np.isin(first, (1, 2, 3, 4, 7, 8))
    idx = np.flatnonzero(shaped)
    n, key = v[idx] // 100, v[idx] % 100
    return idx[(97 - n % 97) == key]


def check_nir(view: TableView, policy: Policy) -> list[Finding]:
    cells, total = [], 0
    for c in view.columns:
        if c.is_string:
            rows = _nir_rows_in_strings(c)
        elif c.is_integer_typed and c.array.null_count < len(c.array):
            rows = _nir_rows_in_integers(c)
        else:
            continue
        total += len(rows)
        cells += cells_at(rows, c.name, c.array, policy)
    if total:
        return [finding("nir", Outcome.FAIL, f"{total} cell(s) hold a NIR (social security number) with a valid key",
                        policy, cells[: policy.max_cells_listed], total, view.part)]
    return [passed("nir", "no NIR with a valid key", policy, view.part)]


# --- dates ----------------------------------------------------------------------------------

def _as_dates(c: Column) -> pa.Array | None:
    t = c.array.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return c.array
    if pa.types.is_temporal(t):
        return None  # a time of day or a duration
    if not c.is_string or len(c.array) == c.array.null_count:
        return None
    lengths = c.length_range
    if lengths["min"].as_py() != 10 or lengths["max"].as_py() != 10:
        return None
    for pattern, fmt in ((ISO_DATE, "%Y-%m-%d"), (FR_DATE, "%d/%m/%Y")):
        if pc.all(pc.match_substring_regex(c.array, pattern)).as_py():
            return pc.strptime(c.array, format=fmt, unit="s", error_is_null=True)
    return None


def check_dates(view: TableView, policy: Policy) -> list[Finding]:
    out = []
    this_year = dt.date.today().year
    for c in view.columns:
        dates = _as_dates(c)
        if dates is None or dates.null_count == len(dates):
            continue
        days = pc.day(dates)
        full = pc.any(pc.not_equal(days, 1)).as_py()
        if pa.types.is_timestamp(dates.type):
            full = full or pc.any(pc.not_equal(pc.hour(dates), 0)).as_py()
        if not full:
            continue  # month or year precision
        years = pc.min_max(pc.year(dates))
        span_like_births = years["min"].as_py() >= 1900 and years["max"].as_py() <= this_year and \
            years["max"].as_py() - years["min"].as_py() >= 30
        birth = bool(name_tokens(c.name) & BIRTH_TOKENS) or span_like_births
        rows = np.flatnonzero(pc.not_equal(days, 1).fill_null(False).to_numpy(zero_copy_only=False))
        if birth:
            out.append(finding("birth_dates", Outcome.FAIL,
                               f"column {c.name} holds full dates that look like birth dates "
                               f"({'by its name' if name_tokens(c.name) & BIRTH_TOKENS else 'they span ' + str(years['max'].as_py() - years['min'].as_py()) + ' years'}): "
                               "give an age or a year instead", policy, cells_at(rows, c.name, c.array, policy), len(rows), view.part))
        else:
            out.append(finding("full_dates", Outcome.REVIEW,
                               f"column {c.name} holds dates to the day: a steward must judge whether they identify anyone "
                               "(month or year is usually enough)", policy, cells_at(rows, c.name, c.array, policy), len(rows), view.part))
    return out or [passed("dates", "no date column at day precision", policy, view.part)]


# --- places ---------------------------------------------------------------------------------

def check_places(view: TableView, policy: Policy) -> list[Finding]:
    out = []
    for c in view.columns:
        rows = None
        if c.is_string and len(c.array) > c.array.null_count:
            lengths = c.length_range
            if lengths["min"].as_py() == 5 and lengths["max"].as_py() == 5:
                match = pc.match_substring_regex(c.array, POSTCODE)
                if pc.sum(match).as_py() >= 0.9 * (len(c.array) - c.array.null_count):
                    rows = rows_of(match)
        elif c.is_integer_typed and name_tokens(c.name) & PLACE_TOKENS and c.values is not None:
            rows = np.flatnonzero((c.values >= 1000) & (c.values <= 98999))
            rows = rows if len(rows) else None
        if rows is not None and len(rows):
            out.append(finding("places", Outcome.REVIEW,
                               f"column {c.name} holds postcodes or commune codes at full precision (5 characters): "
                               "a steward must check no small area identifies anyone; department level is usually enough",
                               policy, cells_at(rows, c.name, c.array, policy), len(rows), view.part))
    return out or [passed("places", "no postcode or commune code at full precision", policy, view.part)]


# --- column names and contact details -----------------------------------------------------

def check_column_names(view: TableView, policy: Policy) -> list[Finding]:
    flagged = [c.name for c in view.columns if name_tokens(c.name) & IDENTIFIER_TOKENS]
    if flagged:
        return [finding("identifier_names", Outcome.REVIEW,
                        f"column name(s) {', '.join(map(str, flagged))} suggest direct identifiers: a steward must check the values",
                        policy, [Cell(None, n) for n in flagged], len(flagged), view.part)]
    return [passed("identifier_names", "no column named like a direct identifier", policy, view.part)]


def _has_byte(array: pa.Array, byte: bytes) -> bool:
    """Whether `byte` occurs anywhere in a string array's data: one scan of the buffer, no per-row work."""
    data = array.buffers()[2]
    return data is not None and np.any(np.frombuffer(data, np.uint8) == byte[0])


def check_contact_details(view: TableView, policy: Policy) -> list[Finding]:
    cells, total = [], 0
    for c in view.strings:
        at = rows_of(pc.match_substring(c.array, "@")) if _has_byte(c.array, b"@") else []
        if len(at):
            hit = at[rows_of(pc.match_substring_regex(c.array.take(pa.array(at)), EMAIL))]
            total += len(hit)
            cells += cells_at(hit, c.name, c.array, policy)
        lengths = c.lengths
        maybe = rows_of(pc.and_(pc.greater_equal(lengths, 10), pc.less_equal(lengths, 17)))
        if len(maybe):
            hit = maybe[rows_of(pc.match_substring_regex(c.array.take(pa.array(maybe)), PHONE))]
            total += len(hit)
            cells += cells_at(hit, c.name, c.array, policy)
    if total:
        return [finding("contact_details", Outcome.FAIL, f"{total} cell(s) hold an e-mail address or a phone number",
                        policy, cells[: policy.max_cells_listed], total, view.part)]
    return [passed("contact_details", "no e-mail address or phone number", policy, view.part)]


# --- free text ------------------------------------------------------------------------------

def _bounded(pattern, text: str):
    """(start, match) of group 1 of a pattern framed by one boundary character on each side.

    The text is padded with a space at both ends, and each search resumes at the end of the last
    match's group, so one boundary character may close a match and open the next (what a
    look-around would do)."""
    padded, pos = f" {text} ", 0
    while (m := pattern.search(padded, pos)) is not None:
        yield m.start(1) - 1, m.group(1)
        pos = m.end(1)


def check_text(text: str, policy: Policy, context: CheckContext, part: str | None = None) -> list[Finding]:
    """Identifiers in free text (txt, md, non-tabular JSON); a cell's row is its line number (0-based)."""
    newlines = np.flatnonzero(np.frombuffer(text.encode("utf-32-le"), np.uint32) == 10) if "\n" in text else np.zeros(0, int)

    def cell(start: int, value: str) -> Cell:
        return Cell(int(np.searchsorted(newlines, start, side="left")), None, value)

    out = []
    matches = list(_bounded(PSEUDONYM_IN_TEXT, text))
    mask = member_mask(pa.array([m.lower() for _, m in matches], pa.string()), context.pseudonyms) if matches else None
    hits = [cell(*m) for m, keep in zip(matches, mask.to_pylist()) if keep] if mask is not None else []
    out.append(finding("pseudonyms", Outcome.FAIL, f"{len(hits)} pseudonym(s) of this project in the text", policy,
                       hits[: policy.max_cells_listed], len(hits), part) if hits
               else passed("pseudonyms", "no project pseudonym in the text", policy, part))
    shaped = list(_bounded(NIR_IN_TEXT, text))
    compact = [m.replace(" ", "").replace(".", "").replace("-", "").upper() for _, m in shaped]
    valid = valid_nir_mask(compact) if compact else np.zeros(0, bool)
    nirs = [cell(*m) for m, ok in zip(shaped, valid) if ok]
    out.append(finding("nir", Outcome.FAIL, f"{len(nirs)} NIR(s) with a valid key in the text", policy,
                       nirs[: policy.max_cells_listed], len(nirs), part) if nirs
               else passed("nir", "no NIR with a valid key in the text", policy, part))
    emails = [cell(m.start(), m.group(0)) for m in EMAIL_IN_TEXT.finditer(text)] if "@" in text else []
    out.append(finding("contact_details", Outcome.FAIL, f"{len(emails)} e-mail address(es) in the text", policy,
                       emails[: policy.max_cells_listed], len(emails), part) if emails
               else passed("contact_details", "no e-mail address in the text", policy, part))
    return out
