"""What the seal lets through of a server's answers and messages, and what it charges for them.

:func:`guard_for` gives one :class:`ContentGuard` per member and project (what the project's
extracts hold is read once and shared by its members' guards; the charge's compression streams and
the repeat cache are each member's own, so no one is charged less for what another received). The seal hands it every HTTP answer
body (:meth:`ContentGuard.answer`) and every websocket message from server to browser
(:meth:`ContentGuard.message`); it gets back what to send (:class:`Passed`: the payload, maybe
rewritten, its charge in information bytes, and the hits to audit).

- **Encoded runs** (:mod:`enclave.encoded_text`) are cut out of every string of a JSON message or
  answer (kernel output, tracebacks, terminal output, contents-API text files and notebooks, and
  every other field a replaced server could fill) and of text answers, each replaced by a visible
  notice. Lists of strings (a notebook's lines) are judged joined, so a blob split into lines is one run.
  A terminal's output and a kernel's stream messages are judged as one stream (each message with the
  end of the one before: :meth:`TextJudge.judge`), however the server cut it into messages.
- **Known content**: a decoded run, or a text itself, that shares shingles with the project's
  extract files (:mod:`enclave.shingles`) is cut as ``known_content``; a text naming more than
  :data:`MAX_PSEUDONYMS` distinct pseudonyms of the project has them all masked. Both are loaded
  from the extracts on first use, and kept (bounded) for the guard's life.
- **Images** (``image/png``, ``image/jpeg``, ``image/svg+xml``… under a message's or a notebook
  output's ``data``) are never judged as text: they are disarmed (:mod:`spawner_config.seal_images`),
  or dropped with a notice.
- **Charge**: what is sent is compressed by one zlib stream per channel (``http``, ``kernel``,
  ``terminal``…) kept across messages, and the charge is the bytes that stream adds. A message that
  repeats what came before (a kernel's status messages, their headers and ids) costs what is new in
  it; random bytes cost their full size whatever they are written as. An HTTP answer identical to one
  of the last :data:`SEEN_ANSWERS` answers of the project costs :data:`REPEAT_CHARGE`: whoever asks
  again learns only which of those answers came back (12 bits), and JupyterLab re-fetches the same
  settings, listings and notebooks all day.

Budgets (:data:`enclave.models.DEFAULT_OUTPUT_BUDGET_PER_HOUR`, ``_PER_DAY``), measured by
``tests/bench/content_bench.py`` on a real kernel in the notebook image, the demo's extracts mounted:

- an ordinary analysis day is charged **168 KB**: JupyterLab's start 35 KB (160 KB raw), each reload
  0.4 KB, and the day's cells 131 KB (688 KB raw) — most of it the twenty plots (3-17 KB each
  after re-rendering);
- the demo's extracts are 509 KB of Parquet. Printed as hex, base64 or byte lists they are cut
  (charged under 1 KB each); ``to_csv()`` of every table, pseudonyms masked, is 290 KB of
  information; in PNGs' pixels, 208 KB charged and nothing of the extracts recoverable.

So **250 KB** a day lets the analysis day through with 1.5x to spare and keeps the extract set (and
its plain-text CSV, the cheapest form the cuts leave) from leaving in one day; **150 KB** an hour
lets JupyterLab's start and the whole day's plots through in one busy hour.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import re2

from enclave.encoded_text import (
    MIN_RUN,
    Run,
    alphabet_runs,
    ascii_view,
    decode_run,
    encoded_runs,
    joined_pieces,
    scattered_runs,
    short_runs_length,
)
from enclave.layout import extracts_dir
from enclave.shingles import MIN_MATCHES, Fingerprints, binary_windows
from pseudonymizer.pseudonyms import PSEUDONYM_HEX
from spawner_config.seal_guard import Hit, Passed
from spawner_config.seal_images import IMAGE_TYPES, SVG_TYPE, Dropped, disarm, disarm_base64, png_notice, rasterise_svg, svg_notice

MAX_PSEUDONYMS = 16  # distinct pseudonyms of the project one text may show (df.head() of a table with three linkage columns shows 15)
SEEN_ANSWERS = 4096  # digests of recent answers remembered per project
VERDICTS = 64  # verdicts on recent answers kept per member: the same body is judged the same way again
HOT_SECONDS = 30.0  # after an encoded run on a channel, every encoded piece of its next messages is cut
                   # (a blob's head and tail fragments at a message's edges, too short to be runs)
TAIL = 512  # characters of an output stream kept to judge its next message with (see `TextJudge.judge`)
TAILS = 64  # output streams whose tail a guard keeps (the least recently written forgotten first)
KNOWN_PROBE = 48  # characters: a stretch of base64 this long in an output stream is decoded and looked up
                  # in the extracts (36 bytes: enough for a stretch of the extracts' to show two of their kept windows)
# What a run can be made of, read backwards from a stream's end (base64 and its lines, hex and its separators,
# byte lists, escapes): the tail kept starts after the last other character (a prompt's `$`, a quote), so
# typing at a prompt is not judged with the screen above it
_RUN_END = re.compile(r"[A-Za-z0-9+/=_\-:,;.\[\]\\ \t\r\n]*")
REPEAT_CHARGE = 32  # information bytes charged for an answer identical to a recent one
PROBE_CHARS = 16_384  # characters of a long run decoded to look for the extracts (see `_probes`)
MAX_JSON = 64 * 1024 * 1024  # bytes: a larger JSON answer is judged as text, not parsed
NOTICE = "[enclave seal: {what} cut here — results leave the enclave through the egress gate]"
HEX_WORD = re2.compile(rb"[0-9a-fA-F]{32,}")  # a pseudonym is a whole run of exactly PSEUDONYM_HEX hex digits
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/x-ipynb")


def notice(what: str) -> str:
    return NOTICE.format(what=what)


class KnownContent:
    """The project's pseudonyms and its extract files' shingles, read on first use."""

    def __init__(self, extracts: Path):
        self.extracts = extracts

    @cached_property
    def pseudonym_keys(self):
        from egress_gate.context import load_pseudonyms
        from egress_gate.errors import EgressError
        from egress_gate.hexkeys import SortedKeys, hex_words

        try:
            values = load_pseudonyms(self.extracts)
        except EgressError:  # not provisioned: nothing to recognise
            values = pa.array([], pa.string())
        _, hi, lo = hex_words(values)
        return SortedKeys(hi, lo)

    @cached_property
    def fingerprints(self) -> Fingerprints:
        files = sorted(self.extracts.glob("*.parquet")) if self.extracts.is_dir() else []
        return Fingerprints.of_files(files)

    def pseudonyms_in(self, tokens: list[str]) -> set[str]:
        """The distinct tokens (32 hex characters each) that are pseudonyms of the project."""
        from egress_gate.hexkeys import hex_words

        if not tokens:
            return set()
        keys = self.pseudonym_keys
        if not len(keys):
            return set()
        lowered = [t.lower() for t in tokens]
        rows, hi, lo = hex_words(pa.array(lowered, pa.string()))
        return {lowered[r] for r, hit in zip(rows, keys.contains(hi, lo)) if hit}


class TextJudge:
    """Cuts in one text: encoded runs (known content when their decoding matches), then pseudonyms."""

    def __init__(self, known: KnownContent):
        self.known = known

    def judge(self, text: str, hits: list[Hit], split_budget: int = MIN_RUN, before: str | None = None,
              hot: bool = False) -> str:
        """``text`` with its cuts made. ``before``: ``text`` continues an output stream (a terminal's, a kernel's stdout),
        and this is what the stream carried just before, as the server sent it. The stream's messages
        are cut anywhere (a terminal sends what it read from the terminal device), so runs are found
        in ``before + text`` and cut where they fall in ``text``: a run split over two messages is
        judged as one, and a line of a wrapped blob sent alone is part of the blob. In a stream, a
        stretch of base64 too short to be a run (from :data:`KNOWN_PROBE` characters, with what came
        before it) is decoded too, and cut when it holds the extracts' bytes: the first lines of a
        blob, before it is long enough to be a run. ``hot``: the channel has just carried an encoded
        run, and every encoded piece is cut (``split_budget`` 1); those cuts are audited but raise
        no alarm (they are what is left of a blob already alarmed on, or an id that happened to be
        printed in the window), unless they hold the extracts' bytes."""
        context = before or ""
        joined, start = context + text, len(context)
        if len(joined) < 32:
            return text
        runs = [r for r in encoded_runs(joined, split_budget) if r.end > start]
        if before is not None:
            runs = sorted(runs + self._known_stretches(joined, start, runs))
        text = self._cut_runs(joined, runs, hits, start=start) if runs else text
        scattered = scattered_runs(text, every_piece=split_budget < MIN_RUN)  # a blob cut into short pieces
        text = self._cut_runs(text, scattered, hits, pieces=True, quiet=hot) if scattered else text
        text = self._cut_raw_known(text, hits)
        return self._mask_pseudonyms(text, hits)

    def _known_stretches(self, joined: str, start: int, runs: list[Run]) -> list[Run]:
        """Stretches of base64 (ending in ``joined[start:]``, outside ``runs``) that decode to the extracts' bytes."""
        return [s for s in alphabet_runs(joined, KNOWN_PROBE)
                if s.end > start and not any(r.start < s.end and s.start < r.end for r in runs)
                and self._is_known(joined[s.start: s.end], s.kind)]

    def _cut_runs(self, text: str, runs: list[Run], hits: list[Hit], pieces: bool = False, start: int = 0,
                  quiet: bool = False) -> str:
        """``text[start:]`` with ``runs`` (offsets in ``text``, each ending past ``start``) cut; each
        run is judged whole, even the part of it before ``start`` (already sent)."""
        out, pos = [], start
        for run in runs:
            piece = text[run.start: run.end]
            if pieces:  # judged on the pieces joined: the separators are not data
                kind, known = f"{run.kind} in pieces", self._is_known(joined_pieces(piece, run.kind), run.kind)
            else:
                kind, known = run.kind, self._is_known(piece, run.kind)
            if known:
                hits.append(Hit("known_content", f"{kind} run of {len(piece):,} characters decodes to bytes of the project's extracts"))
                what = f"{len(piece):,} characters of {kind} matching the project's extracts"
            else:
                hits.append(Hit("encoded", f"{kind} run of {len(piece):,} characters", alarm=not quiet))
                what = f"{len(piece):,} characters of {kind}"
            out += [text[pos: max(run.start, start)], notice(what)]
            pos = run.end
        return "".join(out + [text[pos:]])

    def _is_known(self, piece: str, kind: str) -> bool:
        """Whether a run decodes to the extracts' bytes or to many of their pseudonyms (at any alignment:
        a few characters put before a base64 run shift every byte after them)."""
        skips = range(8 if kind == "base32" else 4 if kind == "base64" else 2 if kind == "hex" else 1)
        for probe in _probes(piece):
            for skip in skips:
                decoded = decode_run(probe[skip:], kind)
                if self.known.fingerprints.matches(decoded) >= MIN_MATCHES or self._many_pseudonyms(decoded):
                    return True
        return False

    def _many_pseudonyms(self, decoded: bytes) -> bool:
        words = [m.group(0).decode() for m in HEX_WORD.finditer(decoded) if m.end() - m.start() == PSEUDONYM_HEX]
        return len(self.known.pseudonyms_in(words)) > MAX_PSEUDONYMS

    def _cut_raw_known(self, text: str, hits: list[Hit]) -> str:
        if len(text) < 64:
            return text
        raw = text.encode("latin-1", "ignore")
        if not binary_windows(raw).any():  # plain text: no extract bytes to look for
            return text
        span = self.known.fingerprints.matched_span(raw)
        if span is None or not text.isascii():  # offsets are characters only for ASCII; otherwise cut it all
            if span is None:
                return text
            hits.append(Hit("known_content", f"text of {len(text):,} characters holds bytes of the project's extracts"))
            return notice(f"{len(text):,} characters holding the project's extracts")
        start, end = span
        hits.append(Hit("known_content", f"{end - start:,} characters are bytes of the project's extracts"))
        return text[:start] + notice(f"{end - start:,} characters of the project's extracts") + text[end:]

    def _mask_pseudonyms(self, text: str, hits: list[Hit]) -> str:
        words = [(m.start(), m.group(0).decode()) for m in HEX_WORD.finditer(ascii_view(text)) if m.end() - m.start() == PSEUDONYM_HEX]
        found = self.known.pseudonyms_in([w for _, w in words])
        if len(found) <= MAX_PSEUDONYMS:
            return text
        hits.append(Hit("pseudonyms", f"{len(found)} distinct pseudonyms of the project in one text (limit {MAX_PSEUDONYMS})"))
        out, pos = [], 0
        for start, token in words:
            if token.lower() in found:
                out += [text[pos:start], "‹pseudonym›"]
                pos = start + len(token)
        return "".join(out + [text[pos:]])


def _probes(piece: str) -> list[str]:
    """Up to three slices of a long run (its start, middle and end), :data:`PROBE_CHARS` each: an
    extract's bytes anywhere in a run show in the slice that holds them, and a megabyte-long run is
    judged in milliseconds. A run hiding the extract between other bytes is cut all the same (as
    ``encoded``)."""
    if len(piece) <= 3 * PROBE_CHARS:
        return [piece]
    middle = len(piece) // 2 - PROBE_CHARS // 2
    return [piece[:PROBE_CHARS], piece[middle: middle + PROBE_CHARS], piece[-PROBE_CHARS:]]


class JsonJudge:
    """Every string (and key) of a JSON document judged as text; images under a ``data`` mapping disarmed."""

    def __init__(self, text: TextJudge):
        self.text = text

    def judge(self, document: Any, hits: list[Hit], hot: bool = False) -> Any:
        """``hot``: the channel has just carried an encoded run (cut every piece, see :data:`HOT_SECONDS`)."""
        strings: list[str] = []
        self._collect(document, strings)
        total = sum(short_runs_length(s) for s in strings if len(s) >= 96)
        split_budget = 1 if hot or total >= MIN_RUN else MIN_RUN  # a blob split over many strings: cut every piece
        return self._walk(document, hits, split_budget, mime=None, hot=hot)

    def _collect(self, node: Any, strings: list[str], mime: str | None = None) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                strings.append(key)
                self._collect(value, strings, key if key in IMAGE_TYPES else None)
        elif isinstance(node, list):
            if len(node) > 1 and all(isinstance(v, str) for v in node) and all(v.endswith("\n") for v in node[:-1]):
                if mime is None:
                    strings.append("".join(node))
            else:
                for value in node:
                    self._collect(value, strings)
        elif isinstance(node, str) and mime is None:
            strings.append(node)

    def _walk(self, node: Any, hits: list[Hit], split_budget: int, mime: str | None, hot: bool = False) -> Any:
        if mime is not None:
            return self._image(mime, node, hits)
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                judged = self._walk(value, hits, split_budget, key if key in IMAGE_TYPES else None, hot)
                if key == SVG_TYPE and isinstance(judged, tuple):  # drawn: the browser gets the PNG instead
                    out.setdefault("image/png", judged[0])
                    continue
                out[self.text.judge(key, hits, split_budget, hot=hot) if isinstance(key, str) else key] = judged
            return out
        if isinstance(node, list):
            if len(node) > 1 and all(isinstance(v, str) for v in node) and all(v.endswith("\n") for v in node[:-1]):
                joined = "".join(node)
                judged = self.text.judge(joined, hits, split_budget, hot=hot)
                return node if judged == joined else [judged]
            return [self._walk(v, hits, split_budget, None, hot) for v in node]
        if isinstance(node, str):
            return self.text.judge(node, hits, split_budget, hot=hot)
        return node

    def _image(self, mime: str, node: Any, hits: list[Hit]) -> Any:
        text = "".join(node) if isinstance(node, list) and all(isinstance(v, str) for v in node) else node
        try:
            if not isinstance(text, str):
                raise Dropped("it is not a string")
            if mime == SVG_TYPE:
                return (base64.b64encode(rasterise_svg(text)).decode("ascii"),)  # a PNG, to send under image/png
            return disarm_base64(text)
        except Dropped as exc:
            hits.append(Hit("image", f"{mime} dropped: {exc}"))
            text = notice(f"an image ({exc})")
            return svg_notice(text) if mime == SVG_TYPE else png_notice(text.replace("—", "-"))


def _is_stream(document: Any) -> bool:
    """A kernel's ``stream`` message (stdout or stderr), its text a string."""
    if not isinstance(document, dict) or not isinstance(document.get("content"), dict):
        return False
    header = document.get("header")
    kind = document.get("msg_type") or (header.get("msg_type") if isinstance(header, dict) else None)
    return kind == "stream" and isinstance(document["content"].get("text"), str)


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ContentGuard:
    """The seal's judge of one project's answers and messages (see the module docstring)."""

    def __init__(self, extracts: Path, known: KnownContent | None = None):
        self.known = known or KnownContent(extracts)
        self.text = TextJudge(self.known)
        self.json = JsonJudge(self.text)
        self._streams: dict[str, Any] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._hot: dict[str, float] = {}  # channel: when it last carried an encoded run
        self._tails: OrderedDict[str, str] = OrderedDict()  # output stream: the end of what it sent (see `TextJudge.judge`)
        self._verdicts: OrderedDict[bytes, tuple[bytes, tuple[Hit, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    # --- the protocol ----------------------------------------------------------------------

    def answer(self, path: str, content_type: str, body: bytes) -> Passed:
        """An HTTP answer's body judged, or its verdict reused: judging is a function of the type and
        the bytes alone (the project's extracts do not change under a running guard), and JupyterLab
        fetches the same settings, listings and notebooks again at every reload. Hits found the first
        time are reported again; the charge is worked out each time."""
        key = hashlib.sha256(content_type.encode("utf-8", "replace") + b"\0" + body).digest()
        with self._lock:
            verdict = self._verdicts.get(key)
            if verdict is not None:
                self._verdicts.move_to_end(key)
        if verdict is None:
            judged = self._judge_answer(content_type, body)
            verdict = (judged.payload, tuple(judged.hits))
            with self._lock:
                self._verdicts[key] = verdict
                if len(self._verdicts) > VERDICTS:
                    self._verdicts.popitem(last=False)
        payload, hits = verdict
        return Passed(payload, self._charge_answer(payload), list(hits))

    def _judge_answer(self, content_type: str, body: bytes) -> Passed:
        hits: list[Hit] = []
        kind = (content_type or "").split(";")[0].strip().lower()
        payload = body
        if kind in IMAGE_TYPES:
            payload = self._image_answer(kind, body, hits)
        elif kind.startswith(TEXT_TYPES) or kind.endswith("+json"):
            text = body.decode("utf-8", "replace")
            judged = self._json_or_text(text, kind, hits)
            payload = judged.encode("utf-8") if judged is not text else body
        elif (text := _utf8(body)) is not None:  # text under any other type (a replaced server chooses it)
            judged = self.text.judge(text, hits)
            payload = judged.encode("utf-8") if judged is not text else body
        else:
            span = self.known.fingerprints.matched_span(body)
            if span is not None:
                hits.append(Hit("known_content", f"a {kind or 'untyped'} answer holds bytes of the project's extracts"))
                payload = notice("an answer holding the project's extracts").encode()
        return Passed(payload, 0, hits)

    def message(self, channel: str, data: str | bytes, stream: str = "") -> Passed:
        """One websocket message; ``stream`` names the websocket (its path and connection), so that
        a terminal's output, or a kernel's, is judged as one stream (see :meth:`TextJudge.judge`)."""
        hits: list[Hit] = []
        if isinstance(data, bytes):
            payload: str | bytes = data
            if self.known.fingerprints.matched_span(data) is not None:
                hits.append(Hit("known_content", f"a binary {channel} message holds bytes of the project's extracts"))
                payload = b""
        else:
            now = time.monotonic()
            with self._lock:
                hot = now - self._hot.get(channel, -HOT_SECONDS) < HOT_SECONDS
            payload = self._output(stream or channel, channel, data, hits, hot)
            if payload is None:
                payload = self._json_or_text(data, "application/json", hits, hot)
            if any(h.kind in ("encoded", "known_content") and h.alarm for h in hits):
                with self._lock:
                    self._hot[channel] = now
        return Passed(payload, self.charge(channel, payload), hits)

    # --- judging ----------------------------------------------------------------------------

    def _output(self, stream: str, channel: str, data: str, hits: list[Hit], hot: bool) -> str | None:
        """An output message judged with the end of what its stream sent before (see
        :meth:`TextJudge.judge`): a terminal's (terminado's ``["stdout", text]``) or a kernel's
        ``stream`` message (its text; every other string of it as any message's). None for any
        other message."""
        if not ((channel == "terminal" and data.startswith('["stdout"')) or (channel == "kernel" and '"stream"' in data)):
            return None
        try:
            document = json.loads(data) if len(data) <= MAX_JSON else None
        except ValueError:
            return None
        if channel == "terminal" and isinstance(document, list) and len(document) == 2 and isinstance(document[1], str):
            text = document[1]
        elif channel == "kernel" and _is_stream(document):
            text, stream = document["content"]["text"], f"{stream}:{document['content'].get('name')}"
        else:
            return None
        with self._lock:
            before = self._tails.pop(stream, "")
            tail = (before + text)[-TAIL:]
            self._tails[stream] = tail[len(tail) - _RUN_END.match(tail[::-1]).end():]
            if len(self._tails) > TAILS:
                self._tails.popitem(last=False)
        judged = self.text.judge(text, hits, 1 if hot else MIN_RUN, before=before, hot=hot)
        if channel == "terminal":
            return data if judged == text else json.dumps(["stdout", judged], ensure_ascii=False)
        document["content"]["text"] = ""
        rest = self.json.judge(document, hits, hot)
        if judged == text and rest == document:
            return data
        rest["content"]["text"] = judged
        return json.dumps(rest, ensure_ascii=False)

    def _json_or_text(self, text: str, kind: str, hits: list[Hit], hot: bool = False) -> str:
        if "json" in kind or "ipynb" in kind:
            try:
                document = json.loads(text) if len(text) <= MAX_JSON else None
            except ValueError:
                document = None
            if document is not None:
                before = len(hits)
                judged = self.json.judge(document, hits, hot)
                return text if len(hits) == before and judged == document else json.dumps(judged, ensure_ascii=False)
        return self.text.judge(text, hits, 1 if hot else MIN_RUN, hot=hot)

    def _image_answer(self, kind: str, body: bytes, hits: list[Hit]) -> bytes:
        try:
            return rasterise_svg(body) if kind == SVG_TYPE else disarm(body)
        except Dropped as exc:
            hits.append(Hit("image", f"{kind} answer dropped: {exc}"))
            return notice(f"an {kind} image ({exc})").encode()

    # --- charging ---------------------------------------------------------------------------

    def charge(self, channel: str, payload: str | bytes) -> int:
        """Information bytes ``payload`` adds to what this channel sent before (see the module docstring)."""
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        with self._lock:
            stream = self._streams.get(channel)
            if stream is None:
                stream = self._streams[channel] = zlib.compressobj(1)
            return len(stream.compress(raw)) + len(stream.flush(zlib.Z_SYNC_FLUSH))

    def _charge_answer(self, payload: bytes) -> int:
        digest = hashlib.sha256(payload).digest()
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return REPEAT_CHARGE
            self._seen[digest] = None
            if len(self._seen) > SEEN_ANSWERS:
                self._seen.popitem(last=False)
        return self.charge("http", payload)


_GUARDS: dict[tuple[str, str, str], ContentGuard] = {}
_KNOWN: dict[tuple[str, str], KnownContent] = {}
_GUARDS_LOCK = threading.Lock()


def guard_for(settings, project_slug: str, member: str = "",
              make: Callable[..., ContentGuard] = ContentGuard) -> ContentGuard:
    """``member``'s guard in the project, made once per (projects folder, project, member) and kept;
    the project's :class:`KnownContent` is shared by its members' guards."""
    project = (str(settings.projects_dir), project_slug)
    with _GUARDS_LOCK:
        if (*project, member) not in _GUARDS:
            extracts = extracts_dir(settings.project_dir(project_slug))
            known = _KNOWN.setdefault(project, KnownContent(extracts))
            _GUARDS[(*project, member)] = make(extracts, known)
        return _GUARDS[(*project, member)]
