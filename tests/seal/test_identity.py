"""The seal's proof of identity, without Docker: signed values only the seal can make (forged,
altered, expired or of another kind: refused), the secret file (0600, kept), the cookie handling
(the seal's own cookies stripped from what is forwarded, a server's Set-Cookie for them spotted),
and the cache of the hub's answers (bounded, kept for its TTL only)."""

from __future__ import annotations

import stat
import time

import pytest

from spawner_config.seal_identity import (
    CACHE_MAX,
    COOKIE,
    STATE_COOKIE,
    Signer,
    TokenChecks,
    cookie_value,
    is_seal_cookie,
    load_secret,
    read_session,
    session_cookie,
    set_cookie_header,
    strip_cookie,
)


def test_the_secret_is_made_once_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "seal" / "cookie_secret"
    secret = load_secret(path)
    assert len(secret) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == secret
    path.write_bytes(b"short")
    with pytest.raises(RuntimeError, match="remove it"):
        load_secret(path)


def test_a_session_cookie_names_its_user_and_cannot_be_forged_altered_or_kept():
    signer = Signer(b"k" * 32)
    value = session_cookie(signer, "alice", "hub-token")
    session = read_session(signer, value)
    assert (session.user, session.token) == ("alice", "hub-token")
    assert read_session(Signer(b"x" * 32), value) is None                      # another secret
    data, mac = value.split(".")
    forged = signer.sign("session", {"user": "bob", "token": "t", "exp": time.time() + 60}).split(".")[0] + "." + mac
    assert read_session(signer, forged) is None                                # bob's payload, alice's signature
    assert read_session(signer, data + "." + mac[:-2] + "AA") is None
    assert read_session(signer, session_cookie(signer, "alice", "t", now=time.time() - 13 * 3600)) is None  # expired
    state = signer.sign("state", {"state": "s", "next": "/user/alice/p/", "exp": time.time() + 60})
    assert read_session(signer, state) is None                                 # a state value is no session
    for junk in ("", ".", "abc", "a.b.c", "%%%.%%%"):
        assert read_session(signer, junk) is None


def test_the_seals_cookies_never_reach_the_server_nor_come_from_it():
    header = f"_xsrf=abc; {COOKIE}=secret.mac; jupyterhub-user-alice=x; {STATE_COOKIE}=s"
    assert cookie_value(header, COOKIE) == "secret.mac"
    assert strip_cookie(header) == "_xsrf=abc; jupyterhub-user-alice=x"
    assert strip_cookie(f"{COOKIE}=a") == ""
    assert is_seal_cookie(f"{COOKIE}=forged; Path=/user/") and is_seal_cookie(f" {COOKIE.upper()}=x")
    assert not is_seal_cookie("_xsrf=abc; Path=/")
    header = set_cookie_header(COOKIE, "v.m", "/user/", 60, secure=False)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/user/" in header and "Secure" not in header


def test_the_hubs_word_is_kept_for_its_ttl_and_the_cache_stays_bounded():
    now = [0.0]
    checks = TokenChecks(ttl=60, clock=lambda: now[0])
    assert checks.get("t") == (False, None)
    checks.put("t", "alice")
    checks.put("bogus", None)
    assert checks.get("t") == (True, "alice") and checks.get("bogus") == (True, None)
    now[0] = 60
    assert checks.get("t") == (False, None)                                    # asked again: a revoked token ends access
    for i in range(CACHE_MAX + 10):
        checks.put(f"flood-{i}", None)
    assert len(checks._known) <= CACHE_MAX
