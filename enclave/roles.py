"""Which registry roles a user holds: the one reading of them for every permission check above.

A user name the registry does not know holds no role. (:mod:`enclave.auth.roles` maps the same
roles to hub groups at login; :mod:`enclave.shell.roles` keeps them for one page's viewer.)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.models import Role, User


def roles_of(session: Session, username: str) -> frozenset[Role]:
    user = session.scalar(select(User).where(User.username == username))
    return user.roles if user is not None else frozenset()


def has_role(session: Session, username: str, role: Role) -> bool:
    return role in roles_of(session, username)


def is_ops(session: Session, username: str) -> bool:
    """Whether ``username`` is one of the platform's operators (the portal calls them its staff)."""
    return has_role(session, username, Role.ops)
