"""Logins that passed OIDC and wait for their TOTP code: kept in the hub's memory, for minutes.

Server-side rather than in a cookie, so that nothing the browser holds is worth anything on its
own: the browser gets only a random handle (in a signed cookie), and a handle is forgotten after
``ttl_seconds``, on success, or on lock-out. A hub restart forgets every pending login; the user
signs in again. (One hub process holds them: this does not fit several hub replicas.)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PendingLogin:
    """What the OIDC step established: the hub's auth model of the user, and where they were going."""

    auth_model: dict[str, Any]
    next_url: str
    expires: float

    @property
    def username(self) -> str:
        return str(self.auth_model["name"])


class PendingLogins:
    """Handle -> :class:`PendingLogin`, each valid for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float = 300, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._logins: dict[str, PendingLogin] = {}

    def add(self, auth_model: dict[str, Any], next_url: str) -> str:
        """Remember a login that passed OIDC; returns the handle to give the browser."""
        self._forget_expired()
        handle = secrets.token_urlsafe(32)
        self._logins[handle] = PendingLogin(auth_model, next_url, self._clock() + self.ttl_seconds)
        return handle

    def get(self, handle: str | None) -> PendingLogin | None:
        """The pending login of ``handle``, or None if unknown or expired."""
        if not handle:
            return None
        login = self._logins.get(handle)
        if login is None or login.expires <= self._clock():
            self._logins.pop(handle, None)
            return None
        return login

    def discard(self, handle: str | None) -> None:
        if handle:
            self._logins.pop(handle, None)

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._logins)

    def _forget_expired(self) -> None:
        now = self._clock()
        for handle in [h for h, login in self._logins.items() if login.expires <= now]:
            del self._logins[handle]
