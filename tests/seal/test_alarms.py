"""Alarms and response on the real platform: repeated seal alarms of one member stop their server
and suspend their access to that project until ops lift it; the other member is untouched; all audited.

The alarms are written to the registry as the seal writes them (``seal.alarm``, actor the user it
verified, project the slug); the reconciler's pass is the real one, against the real hub.
"""

from __future__ import annotations

import time

from enclave import audit
from enclave.audit_actions import AuditAction
from enclave.db import make_engine, session_scope
from spawner_config.reconciler import Hub, reconcile

from ..enclave.platform import ADMIN_TOKEN, slug
from .conftest import Researcher, audit_events, last_seq


def write_alarm(platform, user: str, project: str, kind: str) -> None:
    settings = platform.settings()
    engine = make_engine(settings.db_url)
    try:
        with session_scope(engine, settings.audit_head) as session:
            audit.record(session, user, AuditAction.seal_alarm, project, kind=kind, channel="kernel",
                         path=f"/user/{user}/{project}/api/kernels/k/channels")
    finally:
        engine.dispose()


def reconciler_pass(platform) -> list[tuple[str, str, str]]:
    settings = platform.settings()
    engine = make_engine(settings.db_url)
    try:
        return reconcile(settings, engine, Hub(f"{platform.hub_url}/hub/api", ADMIN_TOKEN))
    finally:
        engine.dispose()


def servers(platform, user: str) -> dict:
    return platform.api("GET", f"/users/{user}").json().get("servers", {})


def wait_gone(platform, user: str, project: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while project in servers(platform, user) and time.monotonic() < deadline:
        time.sleep(1)
    assert project not in servers(platform, user), f"{user}'s server of {project} still there after {timeout}s"


def test_repeated_alarms_stop_and_suspend_the_member_until_lifted(sealed):
    project, since = slug("open"), last_seq(sealed)
    bob, alice = Researcher(sealed, "bob"), Researcher(sealed, "alice")
    bob.start("open")
    alice.start("open")
    assert bob.get("open", "api/status").status_code == 200

    write_alarm(sealed, "bob", project, "encoded")
    write_alarm(sealed, "bob", project, "known_content")
    for kind in ("budget_50", "budget_90", "budget_90"):  # alice crosses budget shares: informs, never suspends
        write_alarm(sealed, "alice", project, kind)
    assert reconciler_pass(sealed) == []  # two content hits: not yet
    write_alarm(sealed, "bob", project, "image")

    stopped = reconciler_pass(sealed)
    assert [(user, server) for user, server, _ in stopped] == [("bob", project)]
    assert stopped[0][2].startswith(f"your access to project {project} is suspended since")
    wait_gone(sealed, "bob", project)
    assert sealed.api("GET", "/users/alice").json()["servers"][project]["ready"]  # the positive control
    assert alice.get("open", "api/status").status_code == 200
    assert bob.get("open", "api/status").status_code != 200
    assert reconciler_pass(sealed) == []  # the same alarms never act twice

    response = sealed.start_server("bob", project, timeout=60)
    assert project not in servers(sealed, "bob") or not servers(sealed, "bob")[project].get("ready")
    words = response.text + sealed.hub_log()[-20000:]
    assert f"your access to project {project} is suspended" in words
    assert "only the operators can lift it" in words and f"enclave member lift {project} bob" in words

    listed = sealed.enclave("audit", "alarms", "--project", project, "--since", "1h").stdout
    assert "project.member.suspend" in listed.splitlines()[1] and "reconciler" in listed.splitlines()[1]
    sealed.enclave("member", "lift", project, "bob", "--reason", "reviewed with the PI: a mistake")
    bob.start("open")
    assert bob.get("open", "api/status").status_code == 200
    assert reconciler_pass(sealed) == []  # lifted: nothing to stop, and the old alarms are spent

    (suspended,) = audit_events(sealed, AuditAction.project_member_suspend.value, since)
    assert (suspended["actor"], suspended["project"], suspended["username"], suspended["hits"]) == ("reconciler", project, "bob", 3)
    stops = [e for e in audit_events(sealed, AuditAction.server_stop.value, since) if e["project"] == project]
    assert [(e["actor"], e["username"]) for e in stops] == [("reconciler", "bob")]
    (lifted,) = audit_events(sealed, AuditAction.project_member_lift.value, since)
    assert (lifted["actor"], lifted["username"], lifted["reason"]) == ("test-ops", "bob", "reviewed with the PI: a mistake")
    starts = [e["actor"] for e in audit_events(sealed, AuditAction.server_start.value, since) if e["project"] == project]
    assert starts.count("bob") >= 1 and starts[-1] == "bob"
    assert "audit log OK" in sealed.enclave("audit", "verify").stdout
