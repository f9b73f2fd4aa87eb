"""Looking up and adding users and projects, each addition audited in the same transaction.

Permissions ("who may act") and lifecycle ("in which state") live elsewhere; this module only
keeps the registry's rows and its audit log in step.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.errors import EnclaveError
from enclave.models import MemberRole, Membership, Project, ProjectState, Role, User


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise EnclaveError(f"user {username!r} is not in the registry", "add them with `enclave user add`")
    return user


def get_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise EnclaveError(f"project {slug!r} is not in the registry", "see `enclave list` for the registered projects")
    return project


def add_user(session: Session, actor: str, username: str, roles: Iterable[Role | str], display_name: str = "",
             oidc_sub: str | None = None) -> User:
    """Register a user with at least one role; a taken user name or OIDC subject is refused."""
    chosen = frozenset(Role(role) for role in roles)
    if not chosen:
        raise EnclaveError(f"user {username!r} has no role", f"give at least one of: {', '.join(Role)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise EnclaveError(f"user {username!r} already exists", "see `enclave user list`")
    if oidc_sub and session.scalar(select(User.username).where(User.oidc_sub == oidc_sub)) is not None:
        raise EnclaveError(f"OIDC subject {oidc_sub!r} already belongs to another user", "see `enclave user list`")
    user = User(username=username, display_name=display_name, oidc_sub=oidc_sub)
    user.roles = chosen
    session.add(user)
    session.flush()
    record(session, actor, AuditAction.user_add, username=username, roles=chosen, display_name=display_name, oidc_sub=oidc_sub)
    return user


def register_project(session: Session, actor: str, project: Project) -> Project:
    """Insert a new project (state ``requested``), its PI as member ``pi``, and the audit event.

    The caller builds ``project`` (from its manifest) with ``principal_investigator`` set.
    """
    if session.scalar(select(Project.id).where(Project.slug == project.slug)) is not None:
        raise EnclaveError(f"project {project.slug!r} is already registered", f"see `enclave show {project.slug}`")
    if project.state not in (None, ProjectState.requested):
        raise ValueError(f"a new project starts {ProjectState.requested}, not {project.state}: "
                         "change its state with lifecycle.transition")
    project.state = ProjectState.requested
    pi = project.principal_investigator
    pi_membership = next((m for m in project.memberships if m.user is pi), None)
    if pi_membership is None:
        project.memberships.append(Membership(user=pi, role=MemberRole.pi))
    else:
        pi_membership.role = MemberRole.pi
    session.add(project)
    session.flush()
    record(session, actor, AuditAction.project_register, project.slug, title=project.title, purpose=project.purpose,
           principal_investigator=pi.username, state=project.state, expires_on=project.expires_on,
           manifest_sha256=project.manifest_sha256)
    return project
