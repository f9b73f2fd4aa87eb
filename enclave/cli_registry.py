"""The operators' registry commands: database, users, projects' state, expiry, audit log, lifecycle.

Each command reads the settings once, opens the registry, and leaves the work to
:mod:`enclave.registry`, :mod:`enclave.lifecycle` and :mod:`enclave.audit`; every command that
changes something writes its audit event, with ``$ENCLAVE_ACTOR`` (else the OS user) as actor.
:data:`COMMANDS` is what ``enclave.cli`` adds to its group.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave import audit, lifecycle, registry, suspension
from enclave.db import check_schema, current_revision, make_engine, session_scope, upgrade
from enclave.errors import EnclaveError
from enclave.host_state import follow_state_changes
from enclave.layout import EXTRACT_MANIFEST, extracts_dir
from enclave.models import MemberSuspension, Project, Role, User
from enclave.settings import Settings


@contextmanager
def open_registry() -> Iterator[tuple[Session, Settings]]:
    """A session on the registry the environment names; refuses a database not yet upgraded.
    State changes made in it are followed by Docker and the firewall (:mod:`enclave.host_state`)."""
    settings = Settings.from_env()
    follow_state_changes(settings)
    engine = make_engine(settings.db_url)
    try:
        check_schema(engine)
        with session_scope(engine, settings.audit_head) as session:
            yield session, settings
    finally:
        engine.dispose()


# --- enclave db -----------------------------------------------------------------------------

@click.group()
def db() -> None:
    """The registry database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the registry's tables to the newest schema (safe to repeat)."""
    settings = Settings.from_env()
    engine = make_engine(settings.db_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        if before != after:
            with session_scope(engine, settings.audit_head) as session:
                audit.record(session, settings.actor, audit.AuditAction.db_upgrade, from_revision=before, to_revision=after)
        where = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    change = f"upgraded from {before or 'an empty database'}" if before != after else "already up to date"
    click.echo(f"registry {where} at schema revision {after} ({change})")


# --- enclave user ---------------------------------------------------------------------------

@click.group()
def user() -> None:
    """Researchers, stewards and operators."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice([r.value for r in Role]),
              help="A role of the user; repeat for several.")
@click.option("--display-name", default="", help="Name shown in the hub and the egress gate.")
@click.option("--oidc-sub", help="The user's subject at the identity provider (links logins to this user).")
def user_add(username: str, roles: tuple[str, ...], display_name: str, oidc_sub: str | None) -> None:
    """Register USERNAME (lower case, as the hub will see it)."""
    with open_registry() as (session, settings):
        added = registry.add_user(session, settings.actor, username, roles, display_name, oidc_sub)
        click.echo(f"user {added.username} added ({', '.join(sorted(added.roles))})")


@user.command("list")
def user_list() -> None:
    """Every registered user with their roles."""
    with open_registry() as (session, _):
        users = session.scalars(select(User).order_by(User.username)).all()
        if not users:
            click.echo("no user registered: add one with `enclave user add`")
        for each in users:
            click.echo(f"{each.username:24} {','.join(sorted(each.roles)):26} {each.display_name:30} "
                       f"{each.oidc_sub or '-'}")


# --- enclave list / show --------------------------------------------------------------------

@click.command("list")
def list_projects() -> None:
    """Every project: state, principal investigator, days to expiry, members."""
    with open_registry() as (session, _):
        projects = session.scalars(select(Project).order_by(Project.slug)).all()
        if not projects:
            click.echo("no project registered")
            return
        click.echo(f"{'PROJECT':40} {'STATE':12} {'PI':24} {'DAYS LEFT':>9} {'MEMBERS':>7}")
        for project in projects:
            click.echo(f"{project.slug:40} {project.state:12} {project.principal_investigator.username:24} "
                       f"{project.days_to_expiry():>9} {len(project.memberships):>7}")


@click.command()
@click.argument("slug")
def show(slug: str) -> None:
    """One project: state, members, approvals, expiry, egress policy, extracts."""
    with open_registry() as (session, settings):
        project = registry.get_project(session, slug)
        suspended = {row.username: row for row in suspension.current_suspensions(session, slug)}
        for label, value in _describe(project, extracts_dir(settings.project_dir(slug)) / EXTRACT_MANIFEST, suspended):
            click.echo(f"{label:10} {value}")


def _describe(project: Project, extract_manifest: Path,
              suspended: dict[str, MemberSuspension]) -> Iterator[tuple[str, str]]:
    yield "project", f"{project.slug} — {project.title}"
    yield "state", str(project.state)
    yield "purpose", f"{project.purpose} ({project.purpose.label_fr} / {project.purpose.label_en})"
    for membership in sorted(project.memberships, key=lambda m: (m.role != "pi", m.user.username)):
        name = membership.user.display_name or membership.user.username
        held = suspended.get(membership.user.username)
        note = f" — SUSPENDED since {held.suspended_at:%Y-%m-%d %H:%M} UTC ({held.reason})" if held else ""
        yield "member", f"{membership.user.username} ({membership.role}) {name}{note}"
    yield "committee", f"{project.committee_reference or 'not recorded'} {project.committee_date or ''}".rstrip()
    yield "CNIL", f"{project.cnil_reference or 'not recorded'} {project.cnil_date or ''}".rstrip()
    days = project.days_to_expiry()
    yield "expires", f"{project.expires_on} ({f'in {days} days' if days >= 0 else f'{-days} days ago'})"
    policy = project.egress_policy
    yield "egress", (f"small-cell threshold {policy['small_cell_threshold']}, "
                     f"{policy['stewards_required']} stewards required per release")
    yield from (("extract", line) for line in _extract_lines(extract_manifest))


def _extract_lines(manifest_path: Path) -> list[str]:
    """One line per extract table, from the pseudonymizer's manifest.json, if provisioned."""
    if not manifest_path.exists():
        return [f"none yet ({manifest_path} does not exist)"]
    try:
        tables = json.loads(manifest_path.read_text(encoding="utf-8"))["tables"]
        return [f"{name:12} {entry['rows_out']:>12,} rows {_size(entry['output']['bytes']):>10}"
                for name, entry in sorted(tables.items())]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnclaveError(f"extract manifest {manifest_path} is unreadable ({exc!r})",
                           "re-provision the project to rewrite it") from None


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


# --- enclave project suspend|resume|close ---------------------------------------------------

@click.group()
def project() -> None:
    """Change a project's state (each change is audited, with its reason)."""


def _add_state_command(action: lifecycle.Action, help_text: str) -> None:
    @project.command(str(action), help=help_text)
    @click.argument("slug")
    @click.option("--reason", required=True, help="Why: written to the audit log.")
    def command(slug: str, reason: str) -> None:
        with open_registry() as (session, settings):
            changed = registry.get_project(session, slug)
            event = lifecycle.transition(session, changed, action, settings.actor, reason)
        click.echo(f"project {slug}: {event.details['from']} → {event.details['to']} (audit event {event.seq})")


_add_state_command(lifecycle.Action.suspend, "Suspend SLUG: its servers are stopped and cannot start.")
_add_state_command(lifecycle.Action.resume, "Resume a suspended SLUG (it becomes active).")
_add_state_command(lifecycle.Action.freeze, "Freeze SLUG (an investigation, a legal hold): its servers stop and "
                   "cannot start, its data stays out of reach, nothing is deleted.")
_add_state_command(lifecycle.Action.unfreeze, "Unfreeze a frozen SLUG (it becomes active, if its authorisation "
                   "still runs).")


@click.command()
def expire() -> None:
    """Suspend every provisioned or active project whose authorisation has expired."""
    today = date.today()
    with open_registry() as (session, settings):
        expired = lifecycle.suspend_expired(session, settings.actor, today)
    for each in expired:
        click.echo(f"suspended {each.slug}: expired on {each.expires_on} ({(today - each.expires_on).days} days ago)")
    if not expired:
        click.echo("no provisioned or active project has expired")


# --- enclave audit --------------------------------------------------------------------------

@click.group("audit")
def audit_group() -> None:
    """The append-only, keyed, hash-chained audit log."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every event against the key ring, the head file and the anchors; name the events changed,
    removed, inserted or moved, and a chain rebuilt without the key (exit 1 if any)."""
    with open_registry() as (session, settings):
        result = audit.verify(session, settings.audit_head)
    click.echo(str(result), err=not result.ok)
    if not result.ok:
        sys.exit(1)


@audit_group.command("tail")
@click.option("--project", "slug", help="Only this project's events.")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(min=1), help="How many events.")
def audit_tail(slug: str | None, count: int) -> None:
    """The last events, oldest first."""
    with open_registry() as (session, _):
        for event in audit.tail(session, count, slug):
            details = json.dumps(event.details, ensure_ascii=False, sort_keys=True)
            click.echo(f"{event.seq:>6} {event.at:%Y-%m-%d %H:%M:%S}Z {event.actor:16} {event.action:20} "
                       f"{event.project or '-':24} {details}")


@audit_group.command("anchor")
@click.option("--reason", required=True, help="Why the head file is re-anchored: written to the audit log.")
def audit_anchor(reason: str) -> None:
    """Rewrite the head file to the log's last event, after checking the log by hand."""
    with open_registry() as (session, settings):
        event = audit.anchor(session, settings.actor, reason)
    click.echo(f"audit head re-anchored at event {event.seq} ({event.hash})")


# --- enclave lifecycle ----------------------------------------------------------------------

@click.group("lifecycle")
def lifecycle_group() -> None:
    """The projects' states and the actions between them."""


@lifecycle_group.command("diagram")
def lifecycle_diagram() -> None:
    """Print the transition table as a Mermaid state diagram."""
    click.echo(lifecycle.mermaid_diagram(), nl=False)


COMMANDS: list[click.Command] = [db, user, list_projects, show, project, expire, audit_group, lifecycle_group]
