"""One member's access to one project, suspended and lifted, each audited in the same transaction.

A suspension stops nothing by itself: the spawner refuses the member a server of that project
(:func:`spawner_config.access.check_spawn`), the reconciler stops the one running, and the seal
stops serving it. Their one question is :func:`is_suspended`, a single indexed lookup cheap enough
for every request (the seal may cache the answer for a few seconds).

The project and the member's other projects are untouched; lifting is for operators only
(``enclave member lift SLUG USER --reason ...``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.errors import EnclaveError
from enclave.membership import is_member
from enclave.models import AuditEvent, MemberSuspension, Project, utcnow

LIFT_COMMAND = "enclave member lift {slug} {username} --reason '...'"


def is_suspended(session: Session, username: str, slug: str) -> bool:
    """Whether ``username``'s access to project ``slug`` is suspended now (False for a non-member)."""
    return session.scalar(_open(username, slug).with_only_columns(MemberSuspension.id).limit(1)) is not None


def current_suspension(session: Session, username: str, slug: str) -> MemberSuspension | None:
    """The suspension in force for ``username`` in ``slug``, if any."""
    return session.scalar(_open(username, slug))


def current_suspensions(session: Session, slug: str | None = None) -> list[MemberSuspension]:
    """Every suspension in force (of one project if given), newest first."""
    query = select(MemberSuspension).where(MemberSuspension.lifted_at.is_(None))
    if slug is not None:
        query = query.where(MemberSuspension.project_slug == slug)
    return list(session.scalars(query.order_by(MemberSuspension.suspended_at.desc(), MemberSuspension.id.desc())))


def handled_through(session: Session, username: str, slug: str) -> int:
    """The last audit event (seq) that a suspension of ``username`` in ``slug`` answered, or that
    its lifting saw (0: none): alarms up to it are never counted again."""
    return session.scalar(select(func.max(MemberSuspension.through_seq)).where(
        MemberSuspension.project_slug == slug, MemberSuspension.username == username)) or 0


def suspend(session: Session, actor: str, slug: str, username: str, reason: str, through_seq: int | None = None,
            **details: object) -> MemberSuspension:
    """Suspend ``username``'s access to project ``slug`` until it is lifted (audited).

    ``through_seq``: the last audit event this suspension answers (default: the newest event now),
    so lifting it does not let those events suspend the member again. ``details`` go into the audit event.
    """
    if not reason.strip():
        raise EnclaveError(f"suspending {username} in project {slug} needs a reason", "pass --reason '...'")
    _check_member(session, username, slug)
    existing = current_suspension(session, username, slug)
    if existing is not None:
        raise EnclaveError(f"{username}'s access to project {slug} is already suspended (since "
                           f"{existing.suspended_at:%Y-%m-%d %H:%M} UTC, by {existing.suspended_by}: {existing.reason})",
                           f"lift it first with `{LIFT_COMMAND.format(slug=slug, username=username)}`")
    if through_seq is None:
        through_seq = _last_seq(session)
    row = MemberSuspension(project_slug=slug, username=username, suspended_at=utcnow(), suspended_by=actor,
                           reason=reason.strip(), through_seq=through_seq)
    session.add(row)
    session.flush()
    record(session, actor, AuditAction.project_member_suspend, slug, username=username, reason=row.reason,
           suspension=row.id, through_seq=through_seq, **details)
    return row


def lift(session: Session, actor: str, slug: str, username: str, reason: str) -> MemberSuspension:
    """Lift the suspension in force of ``username`` in ``slug`` (audited); the member may start again."""
    if not reason.strip():
        raise EnclaveError(f"lifting {username}'s suspension in project {slug} needs a reason", "pass --reason '...'")
    row = current_suspension(session, username, slug)
    if row is None:
        _check_member(session, username, slug)
        raise EnclaveError(f"{username}'s access to project {slug} is not suspended",
                           "see the suspensions in force with `enclave member suspended`")
    row.lifted_at, row.lifted_by, row.lift_reason = utcnow(), actor, reason.strip()
    # Whoever lifts has seen the events so far: none of them may suspend the member again.
    row.through_seq = max(row.through_seq, _last_seq(session))
    session.flush()
    record(session, actor, AuditAction.project_member_lift, slug, username=username, reason=row.lift_reason,
           suspension=row.id, suspended_at=row.suspended_at, suspended_by=row.suspended_by)
    return row


def _last_seq(session: Session) -> int:
    return session.scalar(select(func.max(AuditEvent.seq))) or 0


def _open(username: str, slug: str):
    return select(MemberSuspension).where(MemberSuspension.project_slug == slug, MemberSuspension.username == username,
                                          MemberSuspension.lifted_at.is_(None))


def _check_member(session: Session, username: str, slug: str) -> None:
    if session.scalar(select(Project.id).where(Project.slug == slug)) is None:
        raise EnclaveError(f"project {slug!r} is not in the registry", "see `enclave list` for the registered projects")
    if not is_member(session, username, slug):
        raise EnclaveError(f"{username!r} is not a member of project {slug}", f"see its members with `enclave show {slug}`")
