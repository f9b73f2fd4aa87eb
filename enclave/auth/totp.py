"""The TOTP second factor over the registry: enrolment, verification, lock-out and reset.

Rules (DESIGN.md invariant 5): a code is accepted once — the time step of the last accepted code
is stored and only a later step is accepted; ``Limits.max_failures`` wrong codes in a row lock the
factor for ``Limits.lock_minutes`` (settings ``ENCLAVE_TOTP_*``), during which even a right code is
refused. Secrets are stored encrypted
(Fernet, key ``ENCLAVE_TOTP_KEY``). Every success, failure, lock, enrolment and reset is an audit
event written in the same transaction as the change, so the log and the state never disagree.

The functions take a session from ``session_scope(engine, audit_head)`` and commit nothing
themselves; they lock the user's row (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite)
so two browsers racing with the same code cannot both be accepted.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.auth.settings import DEFAULT_TOTP_LOCK_MINUTES, DEFAULT_TOTP_MAX_FAILURES
from enclave.errors import EnclaveError
from enclave.models import User, UserTotp, utcnow

STEP_SECONDS = 30
# One step either side absorbs clock drift between the phone and the hub.
VALID_WINDOW = 1


@dataclass(frozen=True)
class Limits:
    """How many wrong codes in a row lock the factor, and for how long."""

    max_failures: int = DEFAULT_TOTP_MAX_FAILURES
    lock_minutes: float = DEFAULT_TOTP_LOCK_MINUTES

    @property
    def lock_duration(self) -> timedelta:
        return timedelta(minutes=self.lock_minutes)


DEFAULT_LIMITS = Limits()


class Outcome(StrEnum):
    accepted = "accepted"
    wrong = "wrong"
    replayed = "replayed"
    locked = "locked"
    not_enrolled = "not_enrolled"


@dataclass(frozen=True)
class Verdict:
    """What became of one code; ``failures_left`` counts down to the lock."""

    outcome: Outcome
    failures_left: int = DEFAULT_LIMITS.max_failures
    locked_until: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.accepted


class State(StrEnum):
    """Where a user stands with the second factor, for the login pages."""

    not_enrolled = "not_enrolled"  # no secret yet, or one shown but never confirmed by a code
    enrolled = "enrolled"
    locked = "locked"


class SecretBox:
    """Encrypts TOTP secrets for the database: a copy of the registry alone gives no codes."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("ascii")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise EnclaveError("a TOTP secret in the registry cannot be decrypted with ENCLAVE_TOTP_KEY",
                               "restore the key it was written with, or reset the user's second factor with "
                               "`enclave user reset-totp NAME`") from None


def _row(session: Session, user: User) -> UserTotp | None:
    return session.scalar(select(UserTotp).where(UserTotp.user_id == user.id).with_for_update())


def state(session: Session, user: User, now: datetime | None = None) -> State:
    row = session.get(UserTotp, user.id)
    if row is None or row.confirmed_at is None:
        return State.not_enrolled
    if row.locked_until is not None and (now or utcnow()) < row.locked_until:
        return State.locked
    return State.enrolled


def locked_until(session: Session, user: User) -> datetime | None:
    row = session.get(UserTotp, user.id)
    return row.locked_until if row is not None else None


def start_enrolment(session: Session, box: SecretBox, user: User) -> str:
    """The secret to show a user who has not confirmed one yet (made and stored on first call).

    Showing the same secret until it is confirmed lets a user reload the page, or scan again,
    without ending up with a phone and a hub that disagree.
    """
    row = _row(session, user)
    if row is not None and row.confirmed_at is not None:
        raise EnclaveError(f"user {user.username!r} already has a second factor",
                           "an operator can reset it with `enclave user reset-totp NAME`")
    if row is not None:
        return box.open(row.secret_encrypted)
    secret = pyotp.random_base32()
    session.add(UserTotp(user_id=user.id, secret_encrypted=box.seal(secret), failures=0))
    session.flush()
    record(session, user.username, AuditAction.totp_enrolment_started, username=user.username)
    return secret


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step (within the window around ``at``) whose code is ``code``, or None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = now_step + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(session: Session, box: SecretBox, user: User, code: str, now: datetime | None = None,
           limits: Limits = DEFAULT_LIMITS) -> Verdict:
    """Check ``code`` for ``user``, update the replay and lock state, and audit the outcome."""
    now = now or utcnow()
    row = _row(session, user)
    if row is None:
        return Verdict(Outcome.not_enrolled)
    if row.locked_until is not None:
        if now < row.locked_until:
            record(session, user.username, AuditAction.totp_failure, username=user.username, reason="locked",
                   locked_until=row.locked_until.isoformat())
            return Verdict(Outcome.locked, 0, row.locked_until)
        row.locked_until, row.failures = None, 0  # the lock has run out: a fresh count
    step = matching_step(box.open(row.secret_encrypted), code, now)
    if step is not None and (row.last_step is None or step > row.last_step):
        return _accept(session, user, row, step, now)
    return _fail(session, user, row, Outcome.replayed if step is not None else Outcome.wrong, now, limits)


def _accept(session: Session, user: User, row: UserTotp, step: int, now: datetime) -> Verdict:
    row.last_step, row.failures = step, 0
    if row.confirmed_at is None:
        row.confirmed_at = now
        record(session, user.username, AuditAction.totp_enrolled, username=user.username)
    record(session, user.username, AuditAction.totp_success, username=user.username)
    session.flush()
    return Verdict(Outcome.accepted)


def _fail(session: Session, user: User, row: UserTotp, outcome: Outcome, now: datetime, limits: Limits) -> Verdict:
    row.failures += 1
    record(session, user.username, AuditAction.totp_failure, username=user.username, reason=outcome.value,
           failures=row.failures)
    if row.failures >= limits.max_failures:
        row.locked_until = now + limits.lock_duration
        record(session, user.username, AuditAction.totp_locked, username=user.username, failures=row.failures,
               locked_until=row.locked_until.isoformat())
        session.flush()
        return Verdict(Outcome.locked, 0, row.locked_until)
    session.flush()
    return Verdict(outcome, limits.max_failures - row.failures)


def reset(session: Session, actor: str, user: User, reason: str = "") -> bool:
    """Forget ``user``'s second factor (lost phone): they enrol again at their next login.

    Returns False when there was nothing to reset (still audited: the operator's intent is).
    """
    row = _row(session, user)
    if row is not None:
        session.delete(row)
        session.flush()
    record(session, actor, AuditAction.totp_reset, username=user.username, had_factor=row is not None, reason=reason)
    return row is not None
