"""Who the signed-in person is to the platform, as the navigation needs it: their registry roles and
the projects they are a member of. Read from the registry, the only place roles are decided
(:mod:`enclave.auth.roles` turns the same roles into hub groups at login)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.membership import project_slugs_of
from enclave.models import Role, User


@dataclass(frozen=True)
class Viewer:
    """A person as the shell sees them; ``Viewer.anonymous()`` for a page read without signing in."""

    username: str | None
    registered: bool = False
    roles: frozenset[Role] = frozenset()
    projects: tuple[str, ...] = ()

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls(None)

    @property
    def signed_in(self) -> bool:
        return self.username is not None

    @property
    def member(self) -> bool:
        """A researcher at work: a member of at least one project."""
        return bool(self.projects)

    def has(self, role: Role) -> bool:
        return role in self.roles


def viewer_of(session: Session, username: str | None) -> Viewer:
    """The viewer ``username`` (None: not signed in); a hub user the registry does not know holds no role."""
    if username is None:
        return Viewer.anonymous()
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        return Viewer(username)
    return Viewer(username, registered=True, roles=frozenset(user.roles), projects=tuple(project_slugs_of(session, username)))
