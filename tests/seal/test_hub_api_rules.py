"""The hub API gate's allow-list (spawner_config.hub_api_rules), pure: what jupyterhub-singleuser sends
passes; everything else, and every trick on the path or the body, is refused. (The gate in front of a
real hub, from a real enclave: test_hub_api_gate.py.)"""

from __future__ import annotations

import json

import pytest

from spawner_config.hub_api_rules import MAX_ACTIVITY, MAX_FORM, Refused, check_body, match

ACTIVITY = json.dumps({"servers": {"alpha-1a2b": {"last_activity": "2026-12-05T08:00:00.123456Z"}},
                       "last_activity": "2026-12-05T08:00:00.123456Z"}).encode()
OAUTH = b"client_id=jupyterhub-user-bob-alpha&client_secret=abc&grant_type=authorization_code&code=xyz&redirect_uri=%2Fuser%2Fbob%2F"


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/hub/api/", b""),
    ("GET", "/hub/api", b""),
    ("GET", "/hub/api/user", b""),
    ("POST", "/hub/api/oauth2/token", OAUTH),
    ("POST", "/hub/api/users/bob/activity", ACTIVITY),
])
def test_what_a_single_user_server_sends_passes(method, path, body):
    rule, forwarded = match(method, path)
    check_body(rule, body)
    assert forwarded == path


@pytest.mark.parametrize("method, path", [
    ("POST", "/hub/api/users/bob/tokens"),  # a token, and its note: a place to store an extract
    ("GET", "/hub/api/users/bob/tokens"),
    ("PATCH", "/hub/api/users/bob/tokens/abc"),
    ("GET", "/hub/api/users"),
    ("GET", "/hub/api/users/bob"),
    ("POST", "/hub/api/users/bob/servers/alpha"),
    ("DELETE", "/hub/api/users/bob/servers/alpha"),
    ("GET", "/hub/api/proxy"),
    ("POST", "/hub/api/shares/bob/alpha"),
    ("GET", "/hub/login"),
    ("GET", "/hub/api/user/"),
    ("POST", "/hub/api/user"),
    ("PUT", "/hub/api/users/bob/activity"),
    ("GET", "/hub/api/users/bob/activity"),
    ("POST", "/hub/api/users/Bob/activity"),
    ("POST", "/hub/api/users/bob/activity/../tokens"),
    ("POST", "/hub/api/users/bob/%2e%2e/tokens"),
    ("POST", "/hub/api/users/bob%2Ftokens"),
    ("GET", "/hub/api/user%252f..%252fusers"),  # encoded twice
    ("GET", "/hub//api/user"),
    ("GET", "/hub/api/user?note=x"),
    ("GET", "/hub/api/%ff"),
    ("GET", "/hub/api/user%00"),
])
def test_anything_else_is_refused(method, path):
    with pytest.raises(Refused) as refused:
        match(method, path)
    assert refused.value.status == 403


@pytest.mark.parametrize("path, body, status", [
    ("/hub/api/users/bob/activity", b"{" + b" " * MAX_ACTIVITY + b"}", 413),
    ("/hub/api/oauth2/token", OAUTH + b"&code_verifier=" + b"a" * MAX_FORM, 413),
    ("/hub/api/users/bob/activity", b"not json", 403),
    ("/hub/api/users/bob/activity", json.dumps({"last_activity": "2026-12-05T08:00:00Z", "note": "data"}).encode(), 403),
    ("/hub/api/users/bob/activity", json.dumps({"last_activity": "UEFSMQ=="}).encode(), 403),
    ("/hub/api/users/bob/activity", json.dumps({"servers": {"a": {"last_activity": "2026-12-05T08:00:00Z", "x": 1}}}).encode(), 403),
    ("/hub/api/users/bob/activity", json.dumps({"servers": {"a": {"last_activity": "2026-12-05T08:00:00Z"},
                                                            "b": {"last_activity": "2026-12-05T08:00:00Z"}}}).encode(), 403),
    ("/hub/api/users/bob/activity", b"", 403),
    ("/hub/api/oauth2/token", OAUTH.replace(b"authorization_code", b"client_credentials"), 403),
    ("/hub/api/oauth2/token", OAUTH + b"&note=PAR1", 403),
    ("/hub/api/oauth2/token", OAUTH + b"&code=again", 403),
    ("/hub/api/oauth2/token", b"\xff\xfe", 403),
])
def test_bodies_past_their_limit_or_shape_are_refused(path, body, status):
    rule, _ = match("POST", path)
    with pytest.raises(Refused) as refused:
        check_body(rule, body)
    assert refused.value.status == status


def test_a_get_carries_no_body():
    rule, _ = match("GET", "/hub/api/user")
    with pytest.raises(Refused) as refused:
        check_body(rule, b"x")
    assert refused.value.status == 413
