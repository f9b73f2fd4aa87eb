"""The append-only, hash-chained audit log: every change to the registry, and who made it.

Each event's ``hash`` is the SHA-256 of a canonical JSON of its fields, ``prev_hash`` included,
so editing, deleting, inserting or reordering an event breaks the chain from that event on.
Removing the *last* events leaves a valid chain, so the newest (seq, hash) is also written,
after each commit, to a head file outside the database (``Settings.audit_head``): :func:`verify`
checks that the log ends exactly there. Database triggers refuse UPDATE and DELETE; the chain and
the head catch whoever drops the triggers first.

The hash is unkeyed: someone able to rewrite both the database and the head file can forge a
consistent log. Keep the head file where database administrators cannot write (or copy it away).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from enclave.audit_actions import AuditAction
from enclave.db import AUDIT_HEAD_KEY, after_commit
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, utcnow

GENESIS = "0" * 64  # prev_hash of the first event
_CHAIN_LOCK = 0x656E636C  # PostgreSQL advisory lock key ("encl") serialising appends
_HEAD_WRITE = "enclave.audit.head"


class _EventFields(Protocol):
    seq: int
    at: datetime
    actor: str
    action: str
    project: str | None
    details: dict[str, Any]
    prev_hash: str


def compute_hash(event: _EventFields) -> str:
    """SHA-256 (hex) of the canonical JSON of every field of ``event`` but its own hash."""
    fields = {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "project": event.project,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(session: Session, actor: str, action: AuditAction | str, project: str | None = None,
           **details: Any) -> AuditEvent:
    """Append an audit event in the session's transaction, so it commits or rolls back with the change.

    ``action`` is one of :class:`AuditAction` (its value is accepted too; any other name is
    refused). ``project`` is a slug; ``details`` must be JSON values (dates, enums, paths and sets
    are converted). The session must come from ``session_scope(engine, audit_head=...)``: the head
    file is rewritten once the transaction has committed (when the scope ends).
    """
    try:
        action = AuditAction(action).value
    except ValueError:
        raise EnclaveError(f"{action!r} is not an audit action",
                           "add it to enclave.audit_actions.AuditAction") from None
    head_path = _head_path(session, action)
    if not actor:
        raise EnclaveError(f"audit event {action!r} has no actor", "set ENCLAVE_ACTOR or pass the acting user name")
    event = _append(session, actor, action, project, _jsonable(action, details))
    after_commit(session, partial(write_head, head_path, event.seq, event.hash), key=_HEAD_WRITE)
    return event


def _head_path(session: Session, action: str) -> Path:
    head_path = session.info.get(AUDIT_HEAD_KEY)
    if head_path is None:
        raise EnclaveError(f"audit event {action!r} written in a session without an audit head file",
                           "open the session with session_scope(engine, audit_head=settings.audit_head)")
    return Path(head_path)


def anchor(session: Session, actor: str, reason: str) -> AuditEvent:
    """Re-anchor the head file on the log as it now is, after checking it by hand.

    For when :func:`verify` fails only because the head file is missing, stale (a crash between
    a commit and the head write) or belongs to a restored backup. The event records the old head.
    """
    head_path = _head_path(session, AuditAction.audit_anchor)
    try:
        seq, hash_ = read_head(head_path)
        previous: dict[str, Any] | str = {"seq": seq, "hash": hash_}
    except EnclaveError:
        previous = "missing" if not head_path.exists() else "unreadable"
    event = record(session, actor, AuditAction.audit_anchor, reason=reason, previous_head=previous)
    after_commit(session, partial(write_head, head_path, event.seq, event.hash, force=True), key=_HEAD_WRITE)
    return event


def _append(session: Session, actor: str, action: str, project: str | None, details: dict[str, Any]) -> AuditEvent:
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit: the next writer reads the tail only once this event is visible.
        # (On SQLite, enclave.db starts every transaction with the write lock.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    event = AuditEvent(seq=last.seq + 1 if last else 1, at=utcnow(), actor=actor, action=action, project=project,
                       details=details, prev_hash=last.hash if last else GENESIS)
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


def _jsonable(action: str, details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as the plain JSON the database will hand back, so the hash verifies later."""

    def encode(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, date | datetime):
            return value.isoformat()
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, set | frozenset):
            return sorted(value)
        raise TypeError(f"detail of audit event {action!r} is not JSON: {value!r}")

    return json.loads(json.dumps(details, default=encode, allow_nan=False))


def read_head(path: Path) -> tuple[int, str]:
    """The (seq, hash) stored in the head file ``path``."""
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnclaveError(f"audit head file {path} is unreadable ({exc})", "restore it from a copy, or "
                           "re-anchor with `enclave audit anchor` after checking the log") from None


def write_head(path: Path, seq: int, hash_: str, force: bool = False) -> None:
    """Atomically replace the head file, unless it already holds a later event (concurrent writers).

    ``force`` also writes an earlier one (re-anchoring).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and path.exists() and read_head(path)[0] >= seq:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps({"seq": seq, "hash": hash_}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``problem`` is None when the log is intact.

    ``events`` and ``head_hash`` describe the chain as far as it holds: the events before the
    first bad one when the chain breaks, the whole chain when only the head file disagrees.
    ``first_bad_seq`` is None when the problem is the head file itself (missing, unreadable).
    """

    events: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log OK: {self.events} events, head {self.head_hash or GENESIS}"
        where = f" at event {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"audit log BROKEN{where}: {self.problem}"


def verify(session: Session, head_path: Path) -> VerifyResult:
    """Check the whole chain, then that it ends at the head file; name the first bad event."""
    columns = [AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.project,
               AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash]
    rows = session.execute(select(*columns).order_by(AuditEvent.seq).execution_options(yield_per=1000))
    count, prev = 0, GENESIS
    for row in rows:
        expected = count + 1
        if row.seq != expected:
            return VerifyResult(count, prev, expected, f"event {expected} is missing: the log jumps from "
                                f"{expected - 1} to {row.seq} (deleted)")
        if compute_hash(row) != row.hash:
            return VerifyResult(count, prev, row.seq, "its content does not match its hash (edited, moved or forged)")
        if row.prev_hash != prev:
            return VerifyResult(count, prev, row.seq, f"it chains to hash {row.prev_hash[:12]}…, but the event "
                                f"before it has hash {prev[:12]}… (that event was edited or inserted, or one "
                                "between them deleted)")
        count, prev = row.seq, row.hash
    return _check_head(count, prev if count else None, head_path)


def _check_head(count: int, last_hash: str | None, head_path: Path) -> VerifyResult:
    """The chain is intact up to event ``count``: does it end where the head file says?"""
    if not head_path.exists():
        if count == 0:
            return VerifyResult(0, None)
        return VerifyResult(count, last_hash, None, f"the head file {head_path} is missing, so truncation "
                            "cannot be ruled out — restore it, or check the log and run `enclave audit anchor`")
    try:
        head_seq, head_hash = read_head(head_path)
    except EnclaveError as exc:
        return VerifyResult(count, last_hash, None, str(exc))
    if head_seq > count:
        return VerifyResult(count, last_hash, count + 1, f"events {count + 1}..{head_seq} are missing: the log ends "
                            f"at {count} but the head file {head_path} records event {head_seq} (truncated)")
    if head_seq < count:
        return VerifyResult(count, last_hash, head_seq + 1, f"events {head_seq + 1}..{count} are past the head "
                            f"file {head_path} (appended behind its back, or a crash before the head was written) "
                            "— check them, then run `enclave audit anchor`")
    if head_hash != last_hash:
        return VerifyResult(count, last_hash, count, f"its hash differs from the one in the head file {head_path} "
                            "(the log was rewritten)")
    return VerifyResult(count, last_hash)


def tail(session: Session, n: int = 20, project: str | None = None) -> list[AuditEvent]:
    """The last ``n`` events (of one project if given), oldest first."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(n)
    if project is not None:
        query = query.where(AuditEvent.project == project)
    return list(reversed(session.scalars(query).all()))
