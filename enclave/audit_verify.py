"""Checking the audit log: which events were changed, removed, inserted or moved, and whether the
chain was rebuilt by someone who had the database but not the key.

How each is told apart (schemes in :mod:`enclave.audit_chain`):

- an event whose content no longer matches its keyed MAC, at its own seq or at a nearby one, was
  **changed** (when no genuine event holds its place) or **inserted** (when one does);
- a genuine event whose MAC matches another seq was **moved** there (renumbered around an
  insertion or a removal);
- a seq that no genuine event holds, between the start of the log (after the last retention
  purge) and the newest of: the last genuine event, the head file, the anchors file, was
  **removed**;
- links that chain one to the next but were not made with the key — or events after the keyed
  chain began that carry no key at all — mean the chain was **rebuilt without the key**;
- an anchor or the head file disagreeing with the event at its seq means the log was rewritten
  since it was anchored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit_actions import AuditAction
from enclave.audit_anchors import read_anchors, read_head
from enclave.audit_chain import GENESIS, compute_hash, content_mac, keyed_link
from enclave.audit_config import AuditConfig
from enclave.audit_key import Keyring
from enclave.errors import EnclaveError
from enclave.models import AuditEvent

MOVE_WINDOW = 64  # how far from its seq a genuine event is looked for (renumbering around insertions/removals)


@dataclass(frozen=True)
class RowCheck:
    """What one stored event proves: ``origin`` is the seq its MAC was made for (None: not made with the key)."""

    origin: int | None
    link_ok: bool


def check_row(ring: Keyring, row: Any) -> RowCheck:
    """Authenticate one event by itself (its content and its own link), whatever surrounds it."""
    if row.key_id is None:
        if ring.keyed_from is not None and row.seq >= ring.keyed_from:
            return RowCheck(None, False)  # unkeyed where the keyed chain had begun: made without the key
        ok = hmac.compare_digest(compute_hash(row), row.hash)
        return RowCheck(row.seq if ok else None, ok)
    key = ring.get(row.key_id)
    if key is None or row.mac is None:
        return RowCheck(None, False)
    link_ok = hmac.compare_digest(keyed_link(key, row.prev_hash, row.mac), row.hash)
    for seq in _nearby(row.seq):
        owner = ring.for_seq(seq)
        if owner is not None and owner.id == key.id and hmac.compare_digest(content_mac(key, row, seq), row.mac):
            return RowCheck(seq, link_ok)
    return RowCheck(None, link_ok)


def checked(ring: Keyring, events: Iterable[Any], prev_link: str | None = None) -> Iterator[tuple[Any, RowCheck, bool]]:
    """The one walk along the chain: each event, what it proves by itself, and whether it chains to the
    stored event before it (the first to ``prev_link``; None: the first is not judged on its link).
    :func:`verify` classifies what it yields; :mod:`enclave.audit_export` marks each exported event."""
    for row in events:
        yield row, check_row(ring, row), prev_link is None or row.prev_hash == prev_link
        prev_link = row.hash


def verified(ring: Keyring, events: Iterable[Any], prev_link: str | None = None) -> Iterator[tuple[Any, bool]]:
    """Each event and whether it is intact in its place: made with the key for its own seq, its link
    genuine and chained to the one before."""
    for row, check, chained in checked(ring, events, prev_link):
        yield row, check.origin == row.seq and check.link_ok and chained


def _nearby(seq: int) -> Iterable[int]:
    yield seq
    for distance in range(1, MOVE_WINDOW + 1):
        yield seq - distance
        yield seq + distance


def _plain_relink(row: Any) -> bool:
    """Whether the link is what someone without the key would compute: plain SHA-256."""
    plain = {compute_hash(row)}
    if row.mac is not None:
        plain.add(hashlib.sha256(f"{row.prev_hash}:{row.mac}".encode()).hexdigest())
    return row.hash in plain


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``problem`` is None when the log is intact.

    ``events`` counts the events read, ``head_hash`` is the last one's link. The lists name events
    by seq; ``moved`` pairs (seq now, seq it was made for). ``first_bad_seq`` is the lowest seq
    named, None when the only problem is the head file itself (missing, unreadable).
    """

    events: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None
    changed: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    inserted: tuple[int, ...] = ()
    moved: tuple[tuple[int, int], ...] = ()
    relinked: tuple[int, ...] = ()
    rebuilt_without_key: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log OK: {self.events} events, head {self.head_hash or GENESIS}"
        where = f" at event {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"audit log BROKEN{where}: {self.problem}"


def seqs_text(seqs: Iterable[int]) -> str:
    """``1..3, 7, 9..10``."""
    runs: list[list[int]] = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def events_text(seqs: Iterable[int]) -> str:
    """``event 3`` or ``events 3..6, 9``."""
    seqs = list(seqs)
    return f"event {seqs[0]}" if len(seqs) == 1 else f"events {seqs_text(seqs)}"


_COLUMNS = (AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.project,
            AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.key_id, AuditEvent.mac)


def rows(session: Session, since_seq: int = 0) -> Iterable[Any]:
    """Every event with seq above ``since_seq``, in order, streamed."""
    query = select(*_COLUMNS).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
    return session.execute(query.execution_options(yield_per=1000))


def verify(session: Session, head: Path | AuditConfig) -> VerifyResult:
    """Check the whole log against the key ring, the head file and the anchors; name every bad event."""
    config = head if isinstance(head, AuditConfig) else AuditConfig.from_environ(Path(head))
    try:
        ring = Keyring.load(config.key_file)
        anchors = read_anchors(config.anchors)
    except EnclaveError as exc:
        return VerifyResult(0, None, None, str(exc))
    if not ring.keys:
        keyed = session.scalar(select(AuditEvent.seq).where(AuditEvent.key_id.is_not(None)).limit(1))
        if keyed is not None:
            return VerifyResult(0, None, None, f"the audit key ring {config.key_file} is missing, and the log's "
                                f"events from {keyed} on are keyed: they cannot be checked — restore the key ring "
                                "from its copy (ENCLAVE_AUDIT_KEY_FILE names where it is looked for)")
    return _Walk(ring, config, anchors).run(rows(session))


class _Walk:
    """One pass over the events, keeping only what the classification needs."""

    def __init__(self, ring: Keyring, config: AuditConfig, anchors: list[dict[str, Any]]):
        self.ring, self.config, self.anchors = ring, config, anchors
        self.watched = {a["seq"] for a in anchors}  # seqs whose genuine link must be remembered
        self.origins: set[int] = set()
        self.forged: list[int] = []
        self.moved: list[tuple[int, int]] = []
        self.relinked: list[int] = []
        self.plain = False
        self.breaks: list[int] = []  # events not chained to the stored one before them
        self.links: dict[int, str] = {}
        self.purges: list[dict[str, Any]] = []
        self.unknown_keys: set[str] = set()
        self.count, self.first, self.last_seq, self.last_hash = 0, None, 0, None

    def run(self, events: Iterable[Any]) -> VerifyResult:
        for row, check, chained in checked(self.ring, events):
            self.count += 1
            if self.first is None:
                self.first = (row.seq, row.prev_hash)  # where it starts is judged against the purges, in _result
            elif not chained:
                self.breaks.append(row.seq)
            self._check(row, check, chained)
            self.last_seq, self.last_hash = row.seq, row.hash
        return self._result()

    def _check(self, row: Any, check: RowCheck, chained: bool) -> None:
        if row.key_id is not None and self.ring.get(row.key_id) is None:
            self.unknown_keys.add(row.key_id)
        if check.origin is None:
            self.forged.append(row.seq)
        else:
            self.origins.add(check.origin)
            if check.origin != row.seq:
                self.moved.append((row.seq, check.origin))
            if check.origin in self.watched:
                self.links[check.origin] = row.hash
            if row.action == AuditAction.audit_purge and check.link_ok:
                self.purges.append(row.details)
        keyed_from = self.ring.keyed_from
        made_without_key = not check.link_ok if row.key_id is not None else \
            keyed_from is not None and row.seq >= keyed_from
        if made_without_key:
            self.relinked.append(row.seq)
            if chained:
                self.plain = self.plain or _plain_relink(row)

    def _start(self) -> tuple[int, str]:
        """Where the log must begin: after the last purge a genuine purge event records, or at 1."""
        if not self.purges:
            return 1, GENESIS
        last = max(self.purges, key=lambda d: int(d["to_seq"]))
        return int(last["to_seq"]) + 1, str(last["starts_from"])

    def _result(self) -> VerifyResult:
        start, start_link = self._start()
        head, head_problem = self._head()
        ends = [max(self.origins, default=0), head[0] if head else 0,
                *(a["seq"] for a in self.anchors if a["seq"] >= start)]
        expected = set(range(start, max(ends) + 1))
        missing = expected - self.origins
        changed = sorted(s for s in self.forged if s in missing)
        inserted = sorted(s for s in self.forged if s not in missing)
        removed = sorted(missing - set(changed))
        notes: list[str] = []
        if self.first is not None and self.first[0] == start and self.first[1] != start_link:
            notes.append(f"event {start} does not chain to {'the genesis' if start == 1 else 'the link its purge recorded'}")
            self.breaks.append(start)
        if self.unknown_keys:
            notes.append(f"key ids {', '.join(sorted(self.unknown_keys))} are not in the key ring {self.config.key_file}")
        for anchor in self.anchors:
            link = self.links.get(anchor["seq"])
            if link is not None and link != anchor["head"]:
                notes.append(f"event {anchor['seq']} differs from its anchor of {anchor.get('at', '?')} (rewritten since)")
                self.breaks.append(anchor["seq"])
        if head_problem:
            notes.append(head_problem)
        explained = set(changed) | set(inserted) | set(self.relinked) | {m[0] for m in self.moved} | \
            {s + 1 for s in removed} | {s + 1 for s in changed} | {s + 1 for s in inserted} | \
            {s + 1 for s in self.relinked} | {m[0] + 1 for m in self.moved}
        unexplained = sorted(set(self.breaks) - explained)
        if unexplained:
            notes.append(f"{events_text(unexplained)} not chained to the event before")
        return self._summary(changed, removed, inserted, unexplained, notes, head)

    def _head(self) -> tuple[tuple[int, str] | None, str | None]:
        path = self.config.head
        if not path.exists():
            if self.count == 0:
                return None, None
            return None, (f"the head file {path} is missing, so truncation cannot be ruled out — restore it, or "
                          "check the log and run `enclave audit anchor`")
        try:
            seq, hash_ = read_head(path)
        except EnclaveError as exc:
            return None, str(exc)
        if seq < self.last_seq and seq in self.origins and not self.forged and not self.moved:
            return (seq, hash_), (f"events {seq + 1}..{self.last_seq} are past the head file {path} (appended behind "
                                  "its back, or a crash before the head was written) — check them, then run "
                                  "`enclave audit anchor`")
        if seq == self.last_seq and hash_ != self.last_hash:
            return (seq, hash_), f"event {seq}'s link differs from the one in the head file {path} (the log was rewritten)"
        return (seq, hash_), None

    def _summary(self, changed: list[int], removed: list[int], inserted: list[int], unexplained: list[int],
                 notes: list[str], head: tuple[int, str] | None) -> VerifyResult:
        parts = []
        if changed:
            parts.append(f"changed: {events_text(changed)} (content not what the key signed)")
        if removed:
            parts.append(f"removed: {events_text(removed)}")
        if inserted:
            parts.append(f"inserted: {events_text(inserted)} (not made with the key)")
        if self.moved:
            parts.append("moved: " + ", ".join(f"event {now} (was {was})" for now, was in self.moved))
        rebuilt = bool(self.relinked)
        if self.relinked:
            how = " with plain SHA-256" if self.plain else ""
            links = "the link of" if len(self.relinked) == 1 else "the links of"
            verb = "was" if len(self.relinked) == 1 else "were"
            parts.append(f"rebuilt without the key: {links} {events_text(self.relinked)} {verb} recomputed{how} "
                         "by someone who had the database but not the audit key")
        parts += notes
        named = [*changed, *removed, *inserted, *(m[0] for m in self.moved), *self.relinked, *unexplained]
        if not parts:
            return VerifyResult(self.count, self.last_hash)
        if head and any("past the head" in n for n in notes):
            named.append(head[0] + 1)
        if any("differs from the one in the head" in n for n in notes):
            named.append(self.last_seq)
        return VerifyResult(self.count, self.last_hash, min(named, default=None), "; ".join(parts),
                            tuple(changed), tuple(removed), tuple(inserted), tuple(self.moved),
                            tuple(self.relinked), rebuilt, tuple(notes))
