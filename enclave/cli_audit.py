"""The audit log's commands beyond verify|tail|anchor: ``enclave audit export|purge|report|rotate-key``."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import date
from pathlib import Path

import click

from enclave.cli_registry import open_registry
from enclave.db import check_schema, make_engine
from enclave.settings import Settings


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["ecs", "syslog"]), default="ecs", show_default=True,
              help="ecs: JSON lines in the Elastic Common Schema; syslog: RFC 5424 lines.")
@click.option("--since-seq", type=click.IntRange(min=0), default=0, show_default=True,
              help="Start after this event (ignored when the cursor file exists).")
@click.option("--cursor", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the last seq written: read to resume, rewritten after each batch.")
@click.option("--follow", is_flag=True, help="Keep writing new events as they are recorded (until interrupted).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between two looks for new events (--follow).")
def audit_export(fmt: str, since_seq: int, cursor: Path | None, follow: bool, poll: float) -> None:
    """Write the audit events, in seq order, to standard output for a SIEM; each says whether it verified."""
    from enclave.audit_export import export

    settings = Settings.from_env()
    engine = make_engine(settings.db_url)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop between two batches: the cursor stays exact
        signal.signal(signum, lambda *_: stop.set())
    try:
        check_schema(engine)
        export(engine, settings.audit_config, sys.stdout, fmt, since_seq, cursor, follow, poll, warn=sys.stderr,
               stop=stop)
    finally:
        engine.dispose()


@click.command("purge")
@click.option("--retention-days", type=int, help="Override ENCLAVE_AUDIT_RETENTION_DAYS (at least 365).")
def audit_purge(retention_days: int | None) -> None:
    """Remove the events older than the retention period; the purge itself is an audit event."""
    from enclave.audit_retention import purge

    with open_registry() as (session, settings):
        done = purge(session, settings.actor, retention_days or settings.audit_retention_days)
    if done.event is None:
        click.echo(f"no audit event is older than {done.cutoff:%Y-%m-%d %H:%M}Z: nothing purged")
    else:
        d = done.event.details
        click.echo(f"purged {d['count']} audit events ({d['from_seq']}..{d['to_seq']}, older than "
                   f"{done.cutoff:%Y-%m-%d}); recorded as event {done.event.seq}")


@click.command("report")
@click.option("--week", help="ISO week, e.g. 2026-W49 (default: last week).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def audit_report(week: str | None, fmt: str) -> None:
    """The week's reviews: failed logins and lockouts, refusals, out-of-hours access, alarms, suspensions,
    privileged actions."""
    from enclave import audit_report as report

    with open_registry() as (session, settings):
        built = report.build(session, week or report.last_week(date.today()), settings.working_hours)
    click.echo(report.as_json(built) if fmt == "json" else report.as_text(built))


@click.command("rotate-key")
@click.option("--reason", required=True, help="Why (scheduled, suspected exposure…): written to the audit log.")
def audit_rotate_key(reason: str) -> None:
    """Link the events from now on with a new key; the ring keeps the old ones to verify older events."""
    from enclave import audit

    with open_registry() as (session, settings):
        event = audit.rotate_key(session, settings.actor, reason)
    click.echo(f"audit key rotated: key {event.details['new_key_id']} links events from {event.seq} on "
               f"(key ring {settings.audit_config.key_file})")


def attach(main: click.Group) -> None:
    """Add these commands to ``enclave audit`` (called once by :mod:`enclave.cli`)."""
    group = main.commands["audit"]
    assert isinstance(group, click.Group)
    for command in (audit_export, audit_purge, audit_report, audit_rotate_key):
        group.add_command(command)
