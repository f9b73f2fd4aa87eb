"""The login settings, read once from the environment, failing fast with the missing variable's name.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.fernet import Fernet

from enclave.errors import EnclaveError
from enclave.settings import require

DEFAULT_SESSION_HOURS = 8.0
DEFAULT_TOTP_MAX_FAILURES = 5
DEFAULT_TOTP_LOCK_MINUTES = 15.0


@dataclass(frozen=True)
class AuthSettings:
    """How the hub logs users in."""

    issuer: str
    client_id: str
    client_secret: str
    callback_url: str
    totp_key: str
    username_claim: str = "sub"
    logout_url: str = ""
    session_hours: float = DEFAULT_SESSION_HOURS
    totp_max_failures: int = DEFAULT_TOTP_MAX_FAILURES
    totp_lock_minutes: float = DEFAULT_TOTP_LOCK_MINUTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if environ is None else environ
        return cls(
            issuer=require("ENCLAVE_OIDC_ISSUER", env).rstrip("/"),
            client_id=require("ENCLAVE_OIDC_CLIENT_ID", env),
            client_secret=require("ENCLAVE_OIDC_CLIENT_SECRET", env),
            callback_url=require("ENCLAVE_OIDC_CALLBACK_URL", env),
            totp_key=totp_key(env),
            username_claim=env.get("ENCLAVE_OIDC_USERNAME_CLAIM") or "sub",
            logout_url=env.get("ENCLAVE_OIDC_LOGOUT_URL", ""),
            session_hours=_hours(env.get("ENCLAVE_SESSION_HOURS") or str(DEFAULT_SESSION_HOURS)),
            totp_max_failures=int(_positive(env, "ENCLAVE_TOTP_MAX_FAILURES", DEFAULT_TOTP_MAX_FAILURES, whole=True)),
            totp_lock_minutes=_positive(env, "ENCLAVE_TOTP_LOCK_MINUTES", DEFAULT_TOTP_LOCK_MINUTES),
        )

    @property
    def session_days(self) -> float:
        """The session lifetime in days, as JupyterHub's ``cookie_max_age_days`` wants it."""
        return self.session_hours / 24

    @property
    def session_seconds(self) -> int:
        return int(self.session_hours * 3600)


def totp_key(environ: Mapping[str, str] | None = None) -> str:
    """``ENCLAVE_TOTP_KEY``, checked to be a Fernet key; an error naming the variable otherwise."""
    key = require("ENCLAVE_TOTP_KEY", environ)
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise EnclaveError("ENCLAVE_TOTP_KEY is not a Fernet key (32 url-safe base64-encoded bytes)",
                           "make one with `python -c 'from cryptography.fernet import Fernet; "
                           "print(Fernet.generate_key().decode())'`") from None
    return key


def _positive(env: Mapping[str, str], name: str, default: float, whole: bool = False) -> float:
    text = env.get(name) or str(default)
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise EnclaveError(f"{name}={text!r} is not a positive {'whole ' if whole else ''}number",
                           f"use e.g. {default} (the default)")
    return value


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 7:
        raise EnclaveError(f"ENCLAVE_SESSION_HOURS={text!r} is not a number of hours",
                           "use a number greater than 0 and at most 168 (default 8)")
    return hours
