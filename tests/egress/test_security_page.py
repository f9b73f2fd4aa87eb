"""The security page of the gate's web service: stewards and operators see the seal's alarms and
the suspensions in force, newest first, and how to lift one; researchers are refused."""

from __future__ import annotations

from enclave import audit, suspension
from enclave.audit_actions import AuditAction
from enclave.models import Role

from ..registry.factories import create_user
from .workflow_fixtures import SLUG

SCRIPT = '<script>alert("s")</script>'


def seed(gate_server) -> None:
    with gate_server.gate.session() as session:
        create_user(session, "otto", Role.ops)
        audit.record(session, "remi", AuditAction.seal_alarm, SLUG, kind="encoded", channel="kernel", path="/api/kernels/k1")
        audit.record(session, "mona", AuditAction.seal_refused, SLUG, path=f"/files/{SCRIPT}", reason="a raw file transfer")
        audit.record(session, "remi", AuditAction.seal_content_cut, SLUG, kind="known_content", bytes=2048)
        audit.record(session, "remi", AuditAction.server_start, SLUG)  # not a security event
    with gate_server.gate.session() as session:
        suspension.suspend(session, "reconciler", SLUG, "remi", "3 seal alarms (encoded, known_content) within 10 min")


def test_stewards_and_ops_see_events_and_suspensions(gate_server):
    seed(gate_server)
    for viewer in ("sven", "otto"):  # a steward, an operator
        page = gate_server.page(viewer, "security")
        assert page.status_code == 200, page.text
        text = page.text
        suspensions = text[text.index('id="suspensions"'):text.index("Events, newest first")]
        assert "remi" in suspensions and "3 seal alarms (encoded, known_content) within 10 min" in suspensions
        assert "enclave member lift PROJECT MEMBER --reason" in text
        events = text[text.index('id="security-events"'):]
        rows = events.split("<tr")[2:]
        assert ["project.member.suspend" in rows[0], "seal.content_cut" in rows[1], "seal.refused" in rows[2],
                "seal.alarm" in rows[3]] == [True] * 4  # newest first
        assert ">remi<" in rows[3] and ">encoded<" in rows[3] and SLUG in rows[3]
        assert ">mona<" in rows[2] and "server.start" not in events
        assert SCRIPT not in text and "&lt;script&gt;alert(" in text  # what the seal recorded is shown, escaped
    assert 'href="/services/egress/security"' in gate_server.page("sven", "queue").text  # linked from the steward pages


def test_the_project_filter(gate_server):
    seed(gate_server)
    page = gate_server.page("sven", "security", params={"project": "no-such-project"})
    assert page.status_code == 200
    assert "No member is suspended in no-such-project" in page.text and "No security event in no-such-project" in page.text


def test_researchers_are_refused(gate_server):
    seed(gate_server)
    for researcher in ("remi", "nora"):
        refused = gate_server.page(researcher, "security")
        assert refused.status_code == 403 and "neither the steward nor the ops role" in refused.text
        assert "seal.alarm" not in refused.text
    assert gate_server.page(None, "security", allow_redirects=False).status_code in (302, 403)
