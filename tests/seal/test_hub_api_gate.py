"""The hub API from inside an enclave: only through the gate (spawner_config.hub_api_gate), and only what a
single-user server needs. The attack of issue 21: a token made in the browser, used from inside the
container, stored the extracts in a token's note (POST /hub/api/users/<u>/tokens) for the browser to
read back. Now the hub API itself is closed to the container (it listens on the host's loopback), and
the gate refuses, and audits with the container's user and project, token creation, token notes,
listing users and every other call; a body over a call's limit is refused. The server itself (its
start, its OAuth, its activity reports) goes through the same gate: bob's server starting at all,
and the seal's and JupyterLab's tests, show that nothing it needs is cut.
"""

from __future__ import annotations

import json
import socket

from ..enclave.platform import slug
from ..enclave.test_isolation import can_connect, gateway
from .conftest import last_seq, wait_for_audit
from .test_cross_project import call

CALL = r"""
import json, sys, urllib.request, urllib.error
method, url, token, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
headers = {"Authorization": "token " + token, "Content-Type": "application/json"} if token else {}
request = urllib.request.Request(url, method=method, data=body.encode() if body else None, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=20) as answer:
        print(json.dumps({"status": answer.status, "body": answer.read().decode()[:4000],
                          "version": answer.headers.get("X-JupyterHub-Version")}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": error.read().decode()[:4000]}))
"""

# What the container's environment says the hub is: the gate, never the hub API's own port.
ENVIRONMENT = r"""
import json, os
print(json.dumps({k: os.environ.get(k) for k in ("JUPYTERHUB_API_URL", "JUPYTERHUB_ACTIVITY_URL")}))
"""


def test_the_hub_api_from_an_enclave_answers_only_what_a_server_needs(sealed, bob):
    settings = sealed.settings()
    inside = bob.start("open")
    gw = gateway("open")
    gate = f"http://{gw}:{settings.hub_api_enclave_port}/hub/api"

    environment = call(inside, ENVIRONMENT)
    assert environment["JUPYTERHUB_API_URL"] == gate
    assert environment["JUPYTERHUB_ACTIVITY_URL"] == f"{gate}/users/bob/activity"

    # The hub API itself: listening (the host reaches it on loopback), but closed to the container,
    # at its gateway as anywhere else; the gate's port answers (positive control).
    socket.create_connection(("127.0.0.1", settings.hub_api_port), timeout=5).close()
    assert not can_connect(inside, gw, settings.hub_api_port), "the hub API itself reached from an enclave"
    assert can_connect(inside, gw, settings.hub_api_enclave_port)
    version = call(inside, CALL, "GET", f"{gate}/", "", "")
    assert version["status"] == 200 and version["version"], version
    own = call(inside, CALL, "GET", f"{gate}/user", bob.token, "")  # what HubAuth asks of a browser's token
    assert own["status"] == 200 and json.loads(own["body"])["name"] == "bob", own

    # bob's browser-made token, typed in the container: no token, no note, no list of users, no servers.
    marker = "PAR1" + "ab" * 64
    since = last_seq(sealed)
    attempts = [
        ("POST", "/users/bob/tokens", json.dumps({"note": marker, "expires_in": 3600})),
        ("GET", "/users/bob/tokens", ""),
        ("PATCH", "/users/bob/tokens/1", json.dumps({"note": marker})),
        ("GET", "/users", ""),
        ("GET", "/users/bob", ""),
        ("POST", f"/users/bob/servers/{slug('tight')}", "{}"),
        ("POST", "/users/bob/%2e%2e/bob/tokens", json.dumps({"note": marker})),
    ]
    for method, path, body in attempts:
        answer = call(inside, CALL, method, gate + path, bob.token, body)
        assert answer["status"] == 403 and "Refused by the enclave" in answer["body"], (method, path, answer)
    tokens = sealed.api("GET", "/users/bob/tokens").json()
    assert not any(marker in (t.get("note") or "") for t in tokens["api_tokens"] + tokens.get("oauth_tokens", [])), tokens

    events = wait_for_audit(sealed, "hub_api.refused", since, hits=len(attempts))
    assert sum(e.get("hits", 1) if e.get("folded") else 1 for e in events) == len(attempts), events
    assert {(e["actor"], e["project"]) for e in events} == {("bob", slug("open"))}, events
    assert events[0]["container"] == inside.name and "tokens" in events[0]["path"], events[0]

    # A body over a call's limit: refused before it is read, and audited.
    since = last_seq(sealed)
    oversized = json.dumps({"last_activity": "2026-12-05T08:00:00Z", "pad": "x" * 64 * 1024})
    answer = call(inside, CALL, "POST", f"{gate}/users/bob/activity", bob.token, oversized)
    assert answer["status"] == 413, answer
    refused = wait_for_audit(sealed, "hub_api.refused", since, hits=1)
    assert refused and "over this call's limit" in refused[0]["reason"], refused
    # ... while the activity report as the server sends it passes (positive control).
    report = json.dumps({"servers": {slug("open"): {"last_activity": "2026-12-05T08:00:00Z"}},
                         "last_activity": "2026-12-05T08:00:00Z"})
    answer = call(inside, CALL, "POST", f"{gate}/users/bob/activity", "", report)
    assert answer["status"] == 403, answer  # no token: the hub itself refuses (the gate passed it on)
    assert "Refused by the enclave" not in answer["body"], answer


def test_a_flood_of_refused_calls_is_folded_in_the_audit_log(sealed, bob):
    settings = sealed.settings()
    inside = bob.start("open")
    gate = f"http://{gateway('open')}:{settings.hub_api_enclave_port}/hub/api"
    flood = r"""
import sys, urllib.request, urllib.error
for i in range(int(sys.argv[2])):
    try:
        urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="GET"), timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 403, error.code
print("{}")
"""
    since = last_seq(sealed)
    call(inside, flood, f"{gate}/users", "200")
    events = wait_for_audit(sealed, "hub_api.refused", since, hits=200)
    assert sum(e.get("hits", 1) if e.get("folded") else 1 for e in events) == 200
    assert len(events) < 20, f"{len(events)} events for 200 refusals: not folded"
