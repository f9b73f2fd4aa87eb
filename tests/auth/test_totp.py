"""The TOTP rules over a real registry, on SQLite and PostgreSQL: replay, lock window, encryption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from enclave.auth import totp
from enclave.auth.identity import find_registered
from enclave.auth.pending import PendingLogins
from enclave.auth.settings import AuthSettings
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, User
from enclave.registry import add_user, get_user

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def box() -> totp.SecretBox:
    return totp.SecretBox(Fernet.generate_key().decode())


@pytest.fixture
def enrolled(registry, box) -> str:
    """Alice, enrolled at T0 (the confirming code was T0's); returns her secret."""
    with registry.session() as session:
        alice = add_user(session, "ops", "alice", ["researcher"], oidc_sub="sub-alice")
        secret = totp.start_enrolment(session, box, alice)
        assert totp.verify(session, box, alice, pyotp.TOTP(secret).at(T0), now=T0).accepted
    return secret


def check(registry, box, code: str, at: datetime, limits: totp.Limits = totp.DEFAULT_LIMITS) -> totp.Verdict:
    with registry.session() as session:
        return totp.verify(session, box, get_user(session, "alice"), code, now=at, limits=limits)


def actions(registry) -> list[str]:
    with registry.session() as session:
        return [e.action for e in session.query(AuditEvent).order_by(AuditEvent.seq)]


def test_a_code_is_accepted_once(registry, box, enrolled):
    code = pyotp.TOTP(enrolled).at(T0 + timedelta(seconds=30))
    assert check(registry, box, code, T0 + timedelta(seconds=30)).accepted
    replay = check(registry, box, code, T0 + timedelta(seconds=40))
    assert replay.outcome is totp.Outcome.replayed and replay.failures_left == 4
    # An older code, still inside the drift window, is a replay too.
    assert check(registry, box, pyotp.TOTP(enrolled).at(T0), T0 + timedelta(seconds=45)).outcome \
        is totp.Outcome.replayed
    assert check(registry, box, pyotp.TOTP(enrolled).at(T0 + timedelta(seconds=60)), T0 + timedelta(seconds=60)).accepted


def test_five_failures_lock_for_fifteen_minutes_then_a_fresh_count(registry, box, enrolled):
    wrong = "000000" if pyotp.TOTP(enrolled).at(T0 + timedelta(minutes=1)) != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert check(registry, box, wrong, T0 + timedelta(minutes=1)).failures_left == left
    locked = check(registry, box, wrong, T0 + timedelta(minutes=1))
    assert locked.outcome is totp.Outcome.locked and locked.locked_until == T0 + timedelta(minutes=16)
    right_soon = T0 + timedelta(minutes=15, seconds=59)
    assert check(registry, box, pyotp.TOTP(enrolled).at(right_soon), right_soon).outcome is totp.Outcome.locked
    after = T0 + timedelta(minutes=16, seconds=1)
    assert check(registry, box, pyotp.TOTP(enrolled).at(after), after).accepted
    events = actions(registry)
    assert events.count("auth.totp.locked") == 1 and events.count("auth.totp.failure") == 6
    assert events[-1] == "auth.totp.success"


def test_the_lock_limits_are_settings(registry, box, enrolled):
    limits = AuthSettings.from_env({**LOGIN_ENV, "ENCLAVE_TOTP_KEY": Fernet.generate_key().decode(),
                                    "ENCLAVE_TOTP_MAX_FAILURES": "2", "ENCLAVE_TOTP_LOCK_MINUTES": "3"})
    strict = totp.Limits(limits.totp_max_failures, limits.totp_lock_minutes)
    wrong = "000000" if pyotp.TOTP(enrolled).at(T0 + timedelta(minutes=1)) != "000000" else "111111"
    assert check(registry, box, wrong, T0 + timedelta(minutes=1), strict).failures_left == 1
    locked = check(registry, box, wrong, T0 + timedelta(minutes=1), strict)
    assert locked.outcome is totp.Outcome.locked and locked.locked_until == T0 + timedelta(minutes=4)
    after = T0 + timedelta(minutes=4, seconds=1)
    assert check(registry, box, pyotp.TOTP(enrolled).at(after), after, strict).accepted


def test_a_success_resets_the_failure_count(registry, box, enrolled):
    wrong = "000000" if pyotp.TOTP(enrolled).at(T0 + timedelta(minutes=2)) != "000000" else "111111"
    for _ in range(4):
        check(registry, box, wrong, T0 + timedelta(minutes=2))
    assert check(registry, box, pyotp.TOTP(enrolled).at(T0 + timedelta(minutes=2)), T0 + timedelta(minutes=2)).accepted
    assert check(registry, box, wrong, T0 + timedelta(minutes=3)).failures_left == 4


def test_the_secret_is_encrypted_at_rest(registry, box, enrolled):
    with registry.engine.connect() as connection:
        stored = connection.execute(text("SELECT secret_encrypted FROM user_totp")).scalar_one()
    assert enrolled not in stored and enrolled.lower() not in stored.lower()
    other = totp.SecretBox(Fernet.generate_key().decode())
    with pytest.raises(EnclaveError, match="cannot be decrypted with ENCLAVE_TOTP_KEY"):
        check(registry, other, "123456", T0 + timedelta(minutes=1))


def test_enrolment_shows_one_secret_until_confirmed_and_never_after(registry, box):
    with registry.session() as session:
        bob = add_user(session, "ops", "bob", ["researcher"])
        first = totp.start_enrolment(session, box, bob)
        assert totp.start_enrolment(session, box, bob) == first
        assert totp.state(session, bob) is totp.State.not_enrolled
        assert totp.verify(session, box, bob, pyotp.TOTP(first).at(T0), now=T0).accepted
        assert totp.state(session, bob, now=T0) is totp.State.enrolled
        with pytest.raises(EnclaveError, match="already has a second factor"):
            totp.start_enrolment(session, box, bob)


def test_reset_forgets_the_factor_and_is_audited(registry, box, enrolled):
    result = registry.cli("user", "reset-totp", "alice", "--reason", "lost phone")
    assert result.returncode == 0, result.stderr
    with registry.session() as session:
        alice = get_user(session, "alice")
        assert totp.state(session, alice) is totp.State.not_enrolled
        assert totp.start_enrolment(session, box, alice) != enrolled
    assert "auth.totp.reset" in actions(registry)
    missing = registry.cli("user", "reset-totp", "nobody")
    assert missing.returncode == 2 and "user 'nobody' is not in the registry" in missing.stderr


def test_identities_match_the_subject_first_and_names_only_when_unlinked(registry):
    with registry.session() as session:
        add_user(session, "ops", "alice", ["researcher"], oidc_sub="sub-alice")
        add_user(session, "ops", "bob", ["researcher"])
        assert find_registered(session, "sub-alice").username == "alice"
        assert find_registered(session, "Bob").username == "bob"
        assert find_registered(session, "alice") is None  # linked to another subject
        assert find_registered(session, "mallory") is None
        assert isinstance(find_registered(session, "bob"), User)


def test_pending_logins_expire():
    now = [1000.0]
    pending = PendingLogins(ttl_seconds=300, clock=lambda: now[0])
    handle = pending.add({"name": "alice"}, "/hub/home")
    assert pending.get(handle).username == "alice"
    assert pending.get("forged") is None and pending.get(None) is None
    now[0] += 301
    assert pending.get(handle) is None and len(pending) == 0


LOGIN_ENV = {"ENCLAVE_OIDC_ISSUER": "http://127.0.0.1:9400/", "ENCLAVE_OIDC_CLIENT_ID": "hub",
             "ENCLAVE_OIDC_CLIENT_SECRET": "s", "ENCLAVE_OIDC_CALLBACK_URL": "http://hub/hub/oauth_callback"}


def test_login_settings_fail_fast_naming_the_variable():
    env = LOGIN_ENV
    with pytest.raises(EnclaveError, match="environment variable ENCLAVE_TOTP_KEY is not set"):
        AuthSettings.from_env(env)
    with pytest.raises(EnclaveError, match="ENCLAVE_TOTP_KEY is not a Fernet key"):
        AuthSettings.from_env({**env, "ENCLAVE_TOTP_KEY": "short"})
    key = Fernet.generate_key().decode()
    with pytest.raises(EnclaveError, match="ENCLAVE_OIDC_CLIENT_ID is not set"):
        AuthSettings.from_env({**env, "ENCLAVE_OIDC_CLIENT_ID": "", "ENCLAVE_TOTP_KEY": key})
    settings = AuthSettings.from_env({**env, "ENCLAVE_TOTP_KEY": key, "ENCLAVE_SESSION_HOURS": "12"})
    assert settings.issuer == "http://127.0.0.1:9400" and settings.session_days == 0.5
    assert AuthSettings.from_env({**env, "ENCLAVE_TOTP_KEY": key}).session_hours == 8
    with pytest.raises(EnclaveError, match="ENCLAVE_SESSION_HOURS='0'"):
        AuthSettings.from_env({**env, "ENCLAVE_TOTP_KEY": key, "ENCLAVE_SESSION_HOURS": "0"})
    assert (settings.totp_max_failures, settings.totp_lock_minutes) == (5, 15)
    with pytest.raises(EnclaveError, match="ENCLAVE_TOTP_MAX_FAILURES='2.5' is not a positive whole number"):
        AuthSettings.from_env({**env, "ENCLAVE_TOTP_KEY": key, "ENCLAVE_TOTP_MAX_FAILURES": "2.5"})
