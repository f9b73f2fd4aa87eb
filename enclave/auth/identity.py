"""Which registered user an OpenID Connect identity is, if any."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.models import User


class UnknownIdentity(Exception):
    """The identity provider vouched for someone the registry does not know."""

    def __init__(self, identity: str) -> None:
        super().__init__(f"identity {identity!r} is not registered")
        self.identity = identity


def find_registered(session: Session, identity: str) -> User | None:
    """The registered user an OIDC identity belongs to.

    An identity matches a user's ``oidc_sub``; failing that, the user name of a user who has no
    ``oidc_sub`` recorded — so a subject can never take over a user linked to another subject.
    """
    user = session.scalar(select(User).where(User.oidc_sub == identity))
    if user is not None:
        return user
    return session.scalar(select(User).where(User.username == identity.lower(), User.oidc_sub.is_(None)))
