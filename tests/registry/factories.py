"""Plain functions that put the registry in a given situation through the real API (audited)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave import lifecycle, registry
from enclave.lifecycle import Action
from enclave.models import (
    MemberRole,
    Membership,
    Project,
    ProjectState,
    Purpose,
    Role,
    User,
)

ACTOR = "operator-olga"

# The actions that take a new project to each state.
PATH: dict[ProjectState, list[Action]] = {
    ProjectState.requested: [],
    ProjectState.reviewed: [Action.review],
    ProjectState.authorised: [Action.review, Action.authorise],
    ProjectState.provisioned: [Action.review, Action.authorise, Action.provision],
    ProjectState.active: [Action.review, Action.authorise, Action.provision, Action.activate],
    ProjectState.suspended: [Action.review, Action.authorise, Action.provision, Action.activate, Action.suspend],
    ProjectState.frozen: [Action.review, Action.authorise, Action.provision, Action.activate, Action.freeze],
    ProjectState.closed: [Action.close],
}


def create_user(session: Session, username: str, *roles: Role) -> User:
    existing = session.scalar(select(User).where(User.username == username))
    return existing or registry.add_user(session, ACTOR, username, roles or [Role.researcher],
                                         display_name=username.title())


def create_project_at_state(session: Session, slug: str, state: ProjectState = ProjectState.requested, *,
                            pi: str = "pia", members: tuple[str, ...] = (), expires_on: date | None = None,
                            approved: bool = True) -> Project:
    """A registered project moved to ``state`` by real transitions; ``expires_on`` is set afterwards
    (a project expires while it runs; it could not have been activated already expired)."""
    project = Project(
        slug=slug, title=f"Study {slug}", purpose=Purpose.health_information,
        principal_investigator=create_user(session, pi), expires_on=date.today() + timedelta(days=365),
        manifest_sha256=hashlib.sha256(slug.encode()).hexdigest(),
        data_request={"tables": ["IR_BEN_R"], "columns": {}, "where": [], "key_version": 1},
    )
    if approved:
        project.committee_reference, project.committee_date = f"CESREES-{slug}", date(2025, 3, 4)
        project.cnil_reference, project.cnil_date = f"DR-2025-{len(slug)}", date(2025, 5, 6)
    for username in members:
        project.memberships.append(Membership(user=create_user(session, username), role=MemberRole.member))
    registry.register_project(session, ACTOR, project)
    for action in PATH[state]:
        lifecycle.transition(session, project, action, ACTOR)
    if expires_on is not None:
        project.expires_on = expires_on
    session.flush()
    return project
