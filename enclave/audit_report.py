"""The weekly reviews an operator runs on the audit log (``enclave audit report --week 2026-W49``).

One ISO week, Monday 00:00 to Monday 00:00 in Europe/Paris. Each review is a rule over actions,
written once in :data:`REVIEWS`; an event may appear in several (a refused login out of hours).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit_actions import AuditAction
from enclave.audit_export import source_address
from enclave.errors import EnclaveError
from enclave.models import AuditEvent
from enclave.working_hours import PARIS, WorkingHours

_A = AuditAction
FAILED_LOGINS = {_A.auth_refused, _A.totp_failure, _A.totp_locked}
# What counts as someone reaching data or a server: reviewed when it happens out of hours.
ACCESS = {_A.totp_success, _A.server_start, _A.egress_view, _A.egress_preview, _A.egress_download, _A.code_push}
ALARMS = {_A.seal_alarm, _A.seal_content_cut, _A.seal_output_capped}
SUSPENSIONS = {_A.project_suspend, _A.project_close, _A.project_member_suspend, _A.project_member_lift}
PRIVILEGED = {_A.user_add, _A.totp_reset, _A.project_register, _A.project_update, _A.project_member_add,
              _A.project_member_role, _A.project_member_remove, _A.project_authorise, _A.project_provision,
              _A.project_activate, _A.project_resume, _A.project_deprovision, _A.project_reprovision, _A.project_extract,
              _A.package_approve, _A.package_refuse, _A.egress_release, _A.db_upgrade, _A.audit_anchor, _A.audit_keyed,
              _A.audit_key_rotate, _A.audit_purge, _A.access_request_authorise, _A.usage_invoice}


@dataclass(frozen=True)
class Review:
    name: str
    title: str
    rule: Callable[[AuditEvent, WorkingHours], bool]


REVIEWS = (
    Review("failed_logins", "Failed logins and TOTP lockouts", lambda e, _: e.action in FAILED_LOGINS),
    Review("refusals", "Refusals (seal, gate, tools, spawner)",
           lambda e, _: e.action.endswith(".refused") and e.action not in FAILED_LOGINS),
    Review("out_of_hours", "Access out of working hours", lambda e, hours: e.action in ACCESS and not hours.covers(e.at)),
    Review("alarms", "Budget and content alarms", lambda e, _: e.action in ALARMS),
    Review("suspensions", "Suspensions and closures", lambda e, _: e.action in SUSPENSIONS),
    Review("privileged", "Privileged actions", lambda e, _: e.action in PRIVILEGED),
)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """Monday 00:00 and the next Monday 00:00, Paris time, of the ISO week ``YYYY-Www``."""
    match = _WEEK.match(week)
    try:
        if not match:
            raise ValueError("not YYYY-Www")
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise EnclaveError(f"--week {week!r} is not an ISO week ({exc})", "write e.g. 2026-W49") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=PARIS)
    end_day = monday + timedelta(days=7)
    return start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=PARIS)


def last_week(today: date) -> str:
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def build(session: Session, week: str, hours: WorkingHours) -> dict[str, Any]:
    """The week's reviews: for each, the count, the count per actor, and the events."""
    start, end = week_bounds(week)
    query = select(AuditEvent).where(AuditEvent.at >= start, AuditEvent.at < end).order_by(AuditEvent.seq)
    sections: dict[str, dict[str, Any]] = {r.name: {"title": r.title, "count": 0, "by_actor": Counter(), "events": []}
                                           for r in REVIEWS}
    total = 0
    for event in session.scalars(query.execution_options(yield_per=1000)):
        total += 1
        for review in REVIEWS:
            if review.rule(event, hours):
                section = sections[review.name]
                section["count"] += 1
                section["by_actor"][event.actor] += 1
                section["events"].append(_row(event))
    for section in sections.values():
        section["by_actor"] = dict(section["by_actor"].most_common())
    return {"week": week, "from": start.isoformat(), "to": end.isoformat(), "timezone": "Europe/Paris",
            "working_hours": hours.text, "events": total, "reviews": sections}


def _row(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at.astimezone(PARIS).isoformat(timespec="seconds"), "actor": event.actor,
            "action": event.action, "project": event.project, "source": source_address(event.details),
            "details": event.details}


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=False)


def as_text(report: dict[str, Any], limit: int = 50) -> str:
    """The report as readable tables (at most ``limit`` events a review; the counts are whole)."""
    lines = [f"Audit review, week {report['week']} ({report['from'][:10]} to {report['to'][:10]}, Europe/Paris; "
             f"working hours {report['working_hours']}): {report['events']} events", ""]
    for section in report["reviews"].values():
        actors = ", ".join(f"{actor} {n}" for actor, n in section["by_actor"].items()) or "-"
        lines.append(f"== {section['title']}: {section['count']}  (by actor: {actors})")
        for row in section["events"][:limit]:
            details = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
            lines.append(f"  {row['seq']:>7} {row['at'][:19].replace('T', ' ')} {row['actor'][:24]:24} "
                         f"{row['action']:24} {(row['project'] or '-')[:20]:20} {row['source'] or '-':15} {details[:80]}")
        if section["count"] > limit:
            lines.append(f"  … and {section['count'] - limit} more (--format json lists them all)")
        lines.append("")
    return "\n".join(lines)
