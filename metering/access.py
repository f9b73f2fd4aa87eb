"""Who may see a project's usage: its members and the operators; nobody else learns it exists."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.membership import projects_of
from enclave.models import Project
from enclave.roles import is_ops


def visible_projects(session: Session, username: str) -> list[Project]:
    """The projects whose usage ``username`` may see, by slug."""
    if not is_ops(session, username):
        return projects_of(session, username)
    return list(session.scalars(select(Project).order_by(Project.slug)))


def may_see(session: Session, username: str, slug: str) -> bool:
    return any(project.slug == slug for project in visible_projects(session, username))
