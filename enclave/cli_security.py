"""The operators' security commands: ``enclave member suspend|lift|suspended`` (one member's access
to one project) and ``enclave audit alarms`` (the security events: the seal's alarms, cuts and
refusals, and the suspensions and their lifting).

The reconciler suspends a member on its own when the seal's alarms repeat (:mod:`enclave.alarms`);
lifting is always an operator's decision, with its reason, written to the audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import click

from enclave import alarms, suspension
from enclave.cli_registry import open_registry
from enclave.errors import EnclaveError
from enclave.models import utcnow

SINCE_HELP = "Only events since then: a duration back from now (30m, 24h, 7d) or a date / time (2026-12-01, 2026-12-01T08:00)."
DURATION = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``24h``, ``7d`` back from ``now``, or an ISO date or time (UTC unless it says otherwise)."""
    duration = DURATION.match(text.strip())
    if duration:
        return now - timedelta(**{UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        when = datetime.fromisoformat(text.strip()) if "T" in text or " " in text.strip() else \
            datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
    except ValueError:
        raise EnclaveError(f"--since {text!r} is neither a duration nor a date", "use e.g. 30m, 24h, 7d, "
                           "2026-12-01 or 2026-12-01T08:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- enclave member -------------------------------------------------------------------------

@click.group()
def member() -> None:
    """One member's access to one project: suspend it, lift it, list the suspensions in force."""


@member.command("suspend")
@click.argument("slug")
@click.argument("username")
@click.option("--reason", required=True, help="Why: written to the audit log and shown to the member.")
def member_suspend(slug: str, username: str, reason: str) -> None:
    """Suspend USERNAME's access to project SLUG: their server stops at the reconciler's next pass
    and cannot start until lifted."""
    with open_registry() as (session, settings):
        row = suspension.suspend(session, settings.actor, slug, username, reason)
    click.echo(f"{username}'s access to project {slug} is suspended (suspension {row.id}); their running server "
               "stops at the reconciler's next pass")


@member.command("lift")
@click.argument("slug")
@click.argument("username")
@click.option("--reason", required=True, help="Why: written to the audit log.")
def member_lift(slug: str, username: str, reason: str) -> None:
    """Lift the suspension of USERNAME in project SLUG: they may start its server again."""
    with open_registry() as (session, settings):
        row = suspension.lift(session, settings.actor, slug, username, reason)
    click.echo(f"{username}'s access to project {slug} is restored (suspension {row.id}, "
               f"since {row.suspended_at:%Y-%m-%d %H:%M} UTC, lifted)")


@member.command("suspended")
@click.option("--project", "slug", help="Only this project's suspensions.")
def member_suspended(slug: str | None) -> None:
    """The suspensions in force, newest first."""
    with open_registry() as (session, _):
        rows = suspension.current_suspensions(session, slug)
        if not rows:
            click.echo("no member is suspended")
        for row in rows:
            click.echo(f"{row.suspended_at:%Y-%m-%d %H:%M:%S}Z {row.project_slug:24} {row.username:24} "
                       f"by {row.suspended_by:12} {row.reason}")


# --- enclave audit alarms -------------------------------------------------------------------

@click.command("alarms")
@click.option("--project", "slug", help="Only this project's events.")
@click.option("--since", default="7d", show_default=True, help=SINCE_HELP)
@click.option("-n", "count", default=200, show_default=True, type=click.IntRange(min=1), help="At most this many events.")
def audit_alarms(slug: str | None, since: str, count: int) -> None:
    """Security events, newest first: the seal's alarms, content cuts and refusals, and members'
    suspensions and lifts, with the user the seal verified."""
    start = parse_since(since, utcnow())
    with open_registry() as (session, _):
        events = alarms.security_events(session, start, slug, count)
    if not events:
        click.echo(f"no security event since {start:%Y-%m-%d %H:%M} UTC")
        return
    click.echo(f"{'SEQ':>6} {'TIME (UTC)':19} {'USER':20} {'PROJECT':24} {'EVENT':22} {'KIND':14} {'BY':12} DETAILS")
    for e in events:
        click.echo(f"{e.seq:>6} {e.at:%Y-%m-%d %H:%M:%S} {e.user:20} {e.project or '-':24} {e.action:22} {e.kind:14} "
                   f"{e.by:12} {e.summary}")


def attach(main: click.Group) -> None:
    """Add ``enclave member`` and ``enclave audit alarms`` (called once by :mod:`enclave.cli`)."""
    main.add_command(member)
    audit_group = main.commands["audit"]
    assert isinstance(audit_group, click.Group)
    audit_group.add_command(audit_alarms)
