"""Retention: removing audit events older than the retention period, keeping the log verifiable.

A purge removes a prefix of the log (every event up to the last one older than the cutoff) in one
transaction: it writes a marker in ``audit_purges`` — the only thing that lets the append-only
trigger delete an event, and only events up to the marker's seq — deletes the events, and appends
a keyed ``audit.purge`` event recording what went (seq range, count, dates) and the link the
remaining log starts from. Verification trusts a purge only through that keyed event: a marker
written by someone without the key explains no missing event. A log that does not verify is never
purged (the evidence would go with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from enclave.audit import audit_config, record
from enclave.audit_actions import AuditAction
from enclave.audit_verify import verify
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, AuditPurge, utcnow
from enclave.settings import MIN_RETENTION_DAYS


@dataclass(frozen=True)
class Purged:
    event: AuditEvent | None  # the audit.purge event (None: nothing was old enough)
    count: int
    cutoff: datetime


def purge(session: Session, actor: str, retention_days: int, now: datetime | None = None) -> Purged:
    """Remove the events older than ``retention_days`` (at least a year) before ``now``; audited."""
    if retention_days < MIN_RETENTION_DAYS:
        raise EnclaveError(f"a retention of {retention_days} days is less than a year",
                           f"keep at least {MIN_RETENTION_DAYS} days of audit events")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    config = audit_config(session, AuditAction.audit_purge)
    checked = verify(session, config)
    if not checked.ok:
        raise EnclaveError(f"the audit log does not verify, so it is not purged ({checked})",
                           "investigate with `enclave audit verify` first: a purge would remove the evidence")
    first_kept = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.at >= cutoff))
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
    if first_kept is not None:
        query = query.where(AuditEvent.seq < first_kept)
    last_old = session.scalars(query).first()
    if last_old is None:
        return Purged(None, 0, cutoff)
    first_old = session.scalars(select(AuditEvent).order_by(AuditEvent.seq).limit(1)).one()
    session.add(AuditPurge(upto_seq=last_old.seq, at=utcnow()))
    session.flush()
    count = session.execute(delete(AuditEvent).where(AuditEvent.seq <= last_old.seq)).rowcount
    event = record(session, actor, AuditAction.audit_purge, from_seq=first_old.seq, to_seq=last_old.seq,
                   count=count, first_at=first_old.at, last_at=last_old.at, cutoff=cutoff,
                   retention_days=retention_days, starts_from=last_old.hash)
    return Purged(event, count, cutoff)
