"""Who is a member of which project: the registry's one answer, for every permission check above it.

A project's principal investigator is a member too (registration adds them, role ``pi``). The
questions come by user name and project slug, as the services receive them; a name or slug the
registry does not know is simply no member of anything.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from enclave.models import Membership, Project, User


def _project_ids_of(username: str) -> Select:
    return select(Membership.project_id).join(User, Membership.user_id == User.id).where(User.username == username)


def is_member(session: Session, username: str, slug: str) -> bool:
    """Whether ``username`` is a member of project ``slug``."""
    return session.scalar(select(Project.id).where(Project.slug == slug, Project.id.in_(_project_ids_of(username)))) is not None


def has_projects(session: Session, username: str) -> bool:
    """Whether ``username`` is a member of any project."""
    return session.scalar(_project_ids_of(username).limit(1)) is not None


def projects_of(session: Session, username: str) -> list[Project]:
    """The projects ``username`` is a member of, by slug."""
    return list(session.scalars(select(Project).where(Project.id.in_(_project_ids_of(username))).order_by(Project.slug)))


def project_slugs_of(session: Session, username: str) -> list[str]:
    """The slugs of the projects ``username`` is a member of, sorted (without loading the projects)."""
    return list(session.scalars(select(Project.slug).where(Project.id.in_(_project_ids_of(username))).order_by(Project.slug)))
