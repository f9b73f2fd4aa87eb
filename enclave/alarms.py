"""The seal's alarms, counted towards a member's suspension, and the security events ops and stewards read.

The seal writes an audit event ``seal.alarm`` (actor: the user it verified, project: the slug,
details: ``kind`` and what it saw) on every encoded or known-content hit and when a share of the
daily budget is crossed. Budget shares only inform; every other kind — including a kind this
module does not know yet — counts towards a suspension: ``hits`` alarms of one member in one
project within ``window`` suspend that member there (:func:`suspend_offenders`, run by the
reconciler every pass). Alarms a suspension answered are never counted again
(:func:`enclave.suspension.handled_through`), so a pass repeated, or a suspension lifted, does not
suspend anyone twice for the same events.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave import suspension
from enclave.audit_actions import AuditAction
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, MemberSuspension

log = logging.getLogger("enclave.alarms")

CONTENT_KINDS = frozenset({"encoded", "known_content", "pseudonyms", "image"})
BUDGET_KINDS = frozenset({"budget_50", "budget_90"})  # shares of the daily budget: shown, never counted
SECURITY_ACTIONS = (AuditAction.seal_alarm, AuditAction.seal_content_cut, AuditAction.seal_refused,
                    AuditAction.project_member_suspend, AuditAction.project_member_lift)
SUMMARY_KEYS = ("reason", "path", "channel", "bytes", "hits", "through_seq")


def counts_towards_suspension(details: dict[str, Any]) -> bool:
    return details.get("kind") not in BUDGET_KINDS


def hit_count(details: dict[str, Any]) -> int:
    """How many hits one event stands for: the seal folds a flood into one event with its count."""
    hits = details.get("hits", 1) if details.get("folded") else 1
    return hits if isinstance(hits, int) and hits > 0 else 1


@dataclass(frozen=True)
class Offence:
    """``hits`` counted alarms of ``username`` in ``slug`` within the window, in events ``seqs``."""

    username: str
    slug: str
    hits: int
    kinds: tuple[str, ...]
    seqs: tuple[int, ...]

    def reason(self, window: timedelta) -> str:
        events = ", ".join(map(str, self.seqs)) if len(self.seqs) <= 6 else \
            f"{self.seqs[0]}..{self.seqs[-1]} ({len(self.seqs)} of them)"
        return f"{self.hits} seal alarms ({', '.join(self.kinds)}) within {_duration(window)}: audit events {events}"


def offences(session: Session, hits: int, window: timedelta, now: datetime) -> list[Offence]:
    """Members with at least ``hits`` counted alarms in one project in ``(now - window, now]``,
    none of them answered by a suspension already, and not suspended there now."""
    if hits < 1 or window <= timedelta(0):
        raise ValueError(f"an alarm threshold needs hits >= 1 and a positive window, not {hits} in {window}")
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.actor, AuditEvent.project, AuditEvent.details)
        .where(AuditEvent.action == AuditAction.seal_alarm.value, AuditEvent.at > now - window, AuditEvent.at <= now)
        .order_by(AuditEvent.seq))
    grouped: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    for seq, actor, project, details in rows:
        if project and counts_towards_suspension(details):
            grouped[(actor, project)].append((seq, details))
    found = []
    for (username, slug), events in sorted(grouped.items()):
        handled = suspension.handled_through(session, username, slug)
        fresh = [(seq, details) for seq, details in events if seq > handled]
        count = sum(hit_count(details) for _, details in fresh)
        if count >= hits and not suspension.is_suspended(session, username, slug):
            kinds = tuple(sorted({str(details.get("kind", "unknown")) for _, details in fresh}))
            found.append(Offence(username, slug, count, kinds, tuple(seq for seq, _ in fresh)))
    return found


def suspend_offenders(session: Session, actor: str, hits: int, window: timedelta,
                      now: datetime) -> list[MemberSuspension]:
    """Suspend each member :func:`offences` finds (audited); a user no longer a member is skipped."""
    suspended = []
    for offence in offences(session, hits, window, now):
        try:
            suspended.append(suspension.suspend(session, actor, offence.slug, offence.username, offence.reason(window),
                                                through_seq=offence.seqs[-1], alarms=list(offence.seqs),
                                                kinds=list(offence.kinds), hits=offence.hits))
        except EnclaveError as refusal:  # e.g. removed from the project since: nothing left to suspend
            log.warning("not suspending %s in %s: %s", offence.username, offence.slug, refusal)
    return suspended


@dataclass(frozen=True)
class SecurityEvent:
    """One security event as ops and stewards read it: whose (the user the seal verified, or the
    member suspended or lifted), which project, what kind, who acted, and the event's details."""

    seq: int
    at: datetime
    action: str
    user: str
    project: str | None
    kind: str
    by: str
    summary: str


def security_events(session: Session, since: datetime | None = None, slug: str | None = None,
                    limit: int = 200) -> list[SecurityEvent]:
    """The newest ``limit`` security events (since ``since``, of project ``slug`` if given), newest first."""
    query = select(AuditEvent).where(AuditEvent.action.in_([a.value for a in SECURITY_ACTIONS]))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if slug is not None:
        query = query.where(AuditEvent.project == slug)
    events = session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit))
    return [_security_event(event) for event in events]


def _security_event(event: AuditEvent) -> SecurityEvent:
    details = event.details or {}
    if event.action in (AuditAction.project_member_suspend, AuditAction.project_member_lift):
        user, by = str(details.get("username", "?")), event.actor
        kind = "suspended" if event.action == AuditAction.project_member_suspend else "lifted"
    else:
        user, by = event.actor, "seal"
        kind = str(details.get("kind") or event.action.removeprefix("seal."))
    summary = "; ".join(f"{key} {details[key]}" for key in SUMMARY_KEYS if key in details)
    return SecurityEvent(event.seq, event.at, event.action, user, event.project, kind, by, summary[:300])


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
