"""Who is asking: the seal binds every request to a user the hub vouches for, never to the path.

Two proofs are accepted:

- a hub token in ``Authorization: token ...`` (API clients), checked with ``GET /hub/api/user``;
- the seal's own session cookie, set at the end of the hub's OAuth flow for the ``enclave-seal``
  service (browsers). Its value is signed with a secret only the seal holds (a file under
  ``ENCLAVE_HOME``, mode 0600) and names the user, an expiry and the hub token the flow gave; that
  token is checked again with the hub every :data:`CHECK_TTL` seconds, so a session the hub ended
  (logout, revoked token, deleted user) ends here too.

The cookie is the seal's alone: it is removed from what is forwarded to the server, and a server's
answer cannot set it (:func:`strip_cookie`, :func:`is_seal_cookie`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

COOKIE = "enclave-seal"
STATE_COOKIE = "enclave-seal-state"
COOKIE_PATH = "/user/"
SESSION_SECONDS = 12 * 3600   # a browser session, then the OAuth flow again (transparent while the hub session lasts)
STATE_SECONDS = 600           # an OAuth flow to finish
CHECK_TTL = 60.0              # how long the hub's word on a token is kept
CACHE_MAX = 10_000            # tokens remembered at most (a flood of bogus ones must not grow memory)


def load_secret(path: Path) -> bytes:
    """The seal's signing key: read from ``path``, created (32 random bytes, mode 0600) if absent."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) < 32:
            raise RuntimeError(f"the seal's cookie secret {path} is shorter than 32 bytes: remove it, the seal makes a new one") from None
        return secret
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


class Signer:
    """Values only the seal can have written: ``base64(json).mac``."""

    def __init__(self, secret: bytes):
        self.secret = secret

    def _mac(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.secret, data, hashlib.sha256).digest()).decode().rstrip("=")

    def sign(self, kind: str, payload: dict) -> str:
        data = base64.urlsafe_b64encode(json.dumps({"kind": kind, **payload}, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{data}.{self._mac(data.encode())}"

    def verify(self, kind: str, value: str, now: float | None = None) -> dict | None:
        """The payload of a value this seal signed for ``kind``, if unexpired; None otherwise."""
        data, _, mac = value.partition(".")
        if not data or not hmac.compare_digest(mac, self._mac(data.encode())):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("kind") != kind:
            return None
        if not isinstance(payload.get("exp"), (int, float)) or payload["exp"] < (time.time() if now is None else now):
            return None
        return payload


@dataclass(frozen=True)
class SealSession:
    user: str
    token: str
    expires: float


def session_cookie(signer: Signer, user: str, token: str, now: float | None = None) -> str:
    expires = (time.time() if now is None else now) + SESSION_SECONDS
    return signer.sign("session", {"user": user, "token": token, "exp": int(expires)})


def read_session(signer: Signer, value: str) -> SealSession | None:
    payload = signer.verify("session", value)
    if payload is None or not isinstance(payload.get("user"), str) or not isinstance(payload.get("token"), str):
        return None
    return SealSession(payload["user"], payload["token"], payload["exp"])


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header (the last one if repeated)."""
    found = None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            found = value.strip().strip('"')
    return found


def strip_cookie(header: str, names: tuple[str, ...] = (COOKIE, STATE_COOKIE)) -> str:
    """A ``Cookie`` header without the seal's own cookies."""
    return "; ".join(part.strip() for part in header.split(";")
                     if part.strip() and part.strip().partition("=")[0].strip() not in names)


def is_seal_cookie(set_cookie: str) -> bool:
    """Whether a server's ``Set-Cookie`` would set one of the seal's cookies (never let through)."""
    name = set_cookie.partition("=")[0].strip().lower()
    return name in (COOKIE.lower(), STATE_COOKIE.lower())


def set_cookie_header(name: str, value: str, path: str, max_age: int, secure: bool) -> str:
    cookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"], morsel["max-age"], morsel["httponly"], morsel["samesite"] = path, max_age, True, "Lax"
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


class TokenChecks:
    """The hub's word on tokens (a user name, or None), kept :data:`CHECK_TTL` seconds, keyed by the
    token's hash; at most :data:`CACHE_MAX` remembered."""

    def __init__(self, ttl: float = CHECK_TTL, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self._known: dict[str, tuple[float, str | None]] = {}

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> tuple[bool, str | None]:
        """(known, user): known is False when the hub must be asked again."""
        entry = self._known.get(self.key(token))
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return False, None
        return True, entry[1]

    def put(self, token: str, user: str | None) -> None:
        now = self.clock()
        if len(self._known) >= CACHE_MAX:
            self._known = {k: v for k, v in self._known.items() if now - v[0] < self.ttl}
            if len(self._known) >= CACHE_MAX:
                self._known.clear()
        self._known[self.key(token)] = (now, user)
