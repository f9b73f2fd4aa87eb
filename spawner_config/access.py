"""Who may run a server for which project: one decision, from the registry, never from the browser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.errors import EnclaveError
from enclave.membership import is_member
from enclave.models import DATA_REACHABLE, Project, ProjectState
from enclave.suspension import LIFT_COMMAND, current_suspension


class SpawnRefused(EnclaveError):
    """The user may not run a server for this project now; the message is shown to them."""


@dataclass(frozen=True)
class Grant:
    """What a permitted server gets, read from the registry."""

    slug: str
    username: str
    state: ProjectState
    resources: dict


def check_spawn(session: Session, username: str, slug: str, today: date | None = None) -> Grant:
    """A grant if ``username`` is a member of project ``slug`` whose access is not suspended, and
    the project is provisioned or active and unexpired; else :class:`SpawnRefused` saying why."""
    today = today or date.today()
    if not slug:
        raise SpawnRefused("every server belongs to a project", "start one from your projects' list on the home page")
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise SpawnRefused(f"there is no project {slug!r}", "check the name, or ask the operators")
    if not is_member(session, username, slug):
        raise SpawnRefused(f"you are not a member of project {slug}", "ask its principal investigator to add you")
    suspended = current_suspension(session, username, slug)
    if suspended is not None:
        raise SpawnRefused(f"your access to project {slug} is suspended since {suspended.suspended_at:%Y-%m-%d %H:%M} UTC "
                           f"({suspended.reason})", "only the operators can lift it, once they have reviewed the "
                           f"security events: ask them (`{LIFT_COMMAND.format(slug=slug, username=username)}`)")
    if project.expires_on < today:
        raise SpawnRefused(f"project {slug}'s authorisation expired on {project.expires_on}",
                           "it can start again once its renewed authorisation is recorded")
    if project.state not in DATA_REACHABLE:
        raise SpawnRefused(f"project {slug} is {project.state}", "it can start only while provisioned or active; ask the operators")
    return Grant(slug=slug, username=username, state=project.state, resources=dict(project.resources))


def may_run(session: Session, username: str, slug: str, today: date | None = None) -> str | None:
    """None if the server may keep running, else why not (for the reconciler)."""
    try:
        check_spawn(session, username, slug, today)
    except SpawnRefused as refusal:
        return refusal.problem
    return None
