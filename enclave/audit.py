"""The append-only, keyed, hash-chained audit log: every change to the registry, and who made it.

Each event is linked to the one before it by an HMAC with a key the database does not hold (the
key ring, :mod:`enclave.audit_key`; the schemes in :mod:`enclave.audit_chain`), so editing,
deleting, inserting or reordering events — or rebuilding the whole chain with the database alone —
is named by :func:`verify`. Events written before the keyed chain keep their plain SHA-256 links;
the first keyed event is the marked transition ``audit.keyed``. Removing the *last* events leaves a
valid chain, so the newest (seq, link) is also written after each commit to a head file outside the
database, and anchored at intervals in an append-only anchors file (and to a notary where one is
configured): :mod:`enclave.audit_anchors`. Database triggers refuse UPDATE and DELETE (but of what a
retention purge covers, :mod:`enclave.audit_retention`); the chain and the anchors catch whoever
drops the triggers first.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from enclave.audit_actions import AuditAction
from enclave.audit_anchors import append_anchor, read_head, write_head
from enclave.audit_chain import GENESIS, compute_hash, content_mac, keyed_link
from enclave.audit_config import AuditConfig
from enclave.audit_key import AuditKey, Keyring
from enclave.db import AUDIT_HEAD_KEY, after_commit
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, utcnow

__all__ = ["GENESIS", "AuditAction", "anchor", "compute_hash", "read_head", "record", "rotate_key", "tail",
           "verify", "VerifyResult", "write_head"]

_CHAIN_LOCK = 0x656E636C  # PostgreSQL advisory lock key ("encl") serialising appends
_HEAD_WRITE = "enclave.audit.head"


def record(session: Session, actor: str, action: AuditAction | str, project: str | None = None,
           **details: Any) -> AuditEvent:
    """Append an audit event in the session's transaction, so it commits or rolls back with the change.

    ``action`` is one of :class:`AuditAction` (its value is accepted too; any other name is
    refused). ``project`` is a slug; ``details`` must be JSON values (dates, enums, paths and sets
    are converted). The session must come from ``session_scope(engine, audit_head=...)``: the head
    file is rewritten (and the head anchored when due) once the transaction has committed.
    """
    try:
        action = AuditAction(action).value
    except ValueError:
        raise EnclaveError(f"{action!r} is not an audit action",
                           "add it to enclave.audit_actions.AuditAction") from None
    config = audit_config(session, action)
    if not actor:
        raise EnclaveError(f"audit event {action!r} has no actor", "set ENCLAVE_ACTOR or pass the acting user name")
    event = _append(session, config, actor, action, project, _jsonable(action, details))
    after_commit(session, partial(_after_commit, config, event.seq, event.hash, event.key_id), key=_HEAD_WRITE)
    return event


def audit_config(session: Session, action: str = "audit") -> AuditConfig:
    """The audit files of the session: its ``audit_head`` (a path, or a whole :class:`AuditConfig`)."""
    head = session.info.get(AUDIT_HEAD_KEY)
    if head is None:
        raise EnclaveError(f"audit event {action!r} written in a session without an audit head file",
                           "open the session with session_scope(engine, audit_head=settings.audit_head)")
    return head if isinstance(head, AuditConfig) else AuditConfig.from_environ(Path(head))


def _after_commit(config: AuditConfig, seq: int, hash_: str, key_id: str | None, force: bool = False) -> None:
    write_head(config.head, seq, hash_, force=force)
    append_anchor(config, seq, hash_, key_id)


def anchor(session: Session, actor: str, reason: str) -> AuditEvent:
    """Re-anchor the head file on the log as it now is, after checking it by hand.

    For when :func:`verify` fails only because the head file is missing, stale (a crash between
    a commit and the head write) or belongs to a restored backup. The event records the old head.
    """
    config = audit_config(session, AuditAction.audit_anchor)
    try:
        seq, hash_ = read_head(config.head)
        previous: dict[str, Any] | str = {"seq": seq, "hash": hash_}
    except EnclaveError:
        previous = "missing" if not config.head.exists() else "unreadable"
    event = record(session, actor, AuditAction.audit_anchor, reason=reason, previous_head=previous)
    after_commit(session, partial(_after_commit, config, event.seq, event.hash, event.key_id, force=True),
                 key=_HEAD_WRITE)
    return event


def rotate_key(session: Session, actor: str, reason: str) -> AuditEvent:
    """Start a new audit key from the next event on (the old ones stay in the ring to verify theirs)."""
    config = audit_config(session, AuditAction.audit_key_rotate)
    last = _lock_tail(session)
    ring = Keyring.load(config.key_file)
    old = ring.for_seq(last.seq) if last else None
    if old is None:
        raise EnclaveError("the audit log has no key yet to rotate", "the first event written creates one")
    new = ring.add(last.seq + 1)
    return record(session, actor, AuditAction.audit_key_rotate, reason=reason, old_key_id=old.id, new_key_id=new.id)


def _lock_tail(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit: the next writer reads the tail only once this event is visible.
        # (On SQLite, enclave.db starts every transaction with the write lock.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    return session.execute(select(AuditEvent.seq, AuditEvent.hash, AuditEvent.key_id)
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()


def _append(session: Session, config: AuditConfig, actor: str, action: str, project: str | None,
            details: dict[str, Any]) -> AuditEvent:
    last = _lock_tail(session)
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    ring = Keyring.current(config.key_file)
    if last is not None and last.key_id is not None and ring.get(last.key_id) is None:
        raise EnclaveError(f"the audit log is keyed with key {last.key_id}, which the key file {config.key_file} "
                           "does not hold", "point ENCLAVE_AUDIT_KEY_FILE at the audit key ring (restore it "
                           "from its copy); no event is written without it")
    key = ring.for_seq(seq) or ring.add(seq)
    if last is not None and last.key_id is None:  # the first keyed event after unkeyed ones: a marked transition
        transition = _add(session, key, seq, prev_hash, actor, AuditAction.audit_keyed.value, None,
                          {"key_id": key.id, "unkeyed_events": seq - 1, "unkeyed_head": prev_hash})
        seq, prev_hash = seq + 1, transition.hash
    return _add(session, key, seq, prev_hash, actor, action, project, details)


def _add(session: Session, key: AuditKey, seq: int, prev_hash: str, actor: str, action: str, project: str | None,
         details: dict[str, Any]) -> AuditEvent:
    event = AuditEvent(seq=seq, at=utcnow(), actor=actor, action=action, project=project, details=details,
                       prev_hash=prev_hash, key_id=key.id)
    event.mac = content_mac(key, event)
    event.hash = keyed_link(key, prev_hash, event.mac)
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


def tail(session: Session, n: int = 20, project: str | None = None) -> list[AuditEvent]:
    """The last ``n`` events (of one project if given), oldest first."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(n)
    if project is not None:
        query = query.where(AuditEvent.project == project)
    return list(reversed(session.scalars(query).all()))


from enclave.audit_verify import VerifyResult, verify  # noqa: E402 (it uses this module's neighbours, not this module)
