"""The gate's web service, end to end in-process: API, pages, attacks, and release.

Everything is real (registry on SQLite, quarantine, checks, workflow, release store, Jinja2
templates, JupyterHub's XSRF and scope checks) except the hub's identity lookup, replaced by
``TestOnlyIdentityProvider`` (see service_fixtures.py).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io

from markupsafe import escape
from sqlalchemy import select

from egress_gate.anonymise import anonymise_table
from egress_gate.models import EgressDecision
from enclave.models import AuditEvent

from .service_fixtures import NASTY, PREFIX, TABLE1

SCRIPT = '<script>alert("j")</script><img src=x onerror=alert(1)>'


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def submitted(server, paths, **kw) -> dict:
    response = server.submit("remi", paths, **kw)
    assert response.status_code == 201, response.text
    return response.json()


def audit_actions(server) -> list[tuple[str, str]]:
    with server.gate.session() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


# --- API -------------------------------------------------------------------------------------


def test_api_submit_snapshots_checks_and_holds(gate_server):
    body = submitted(gate_server, ["outputs/table1.csv", "outputs/ids.csv"])
    files = {f["name"]: f for f in body["files"]}
    assert body["state"] == "submitted" and files["table1.csv"]["sha256"] == sha(TABLE1)
    assert gate_server.gate.quarantine.open(sha(TABLE1)) == TABLE1
    # the project's pseudonym set was used: a pseudonym in an innocuously named column fails
    pseudonym_findings = [f for f in files["ids.csv"]["findings"] if f["check"] == "pseudonyms"]
    assert pseudonym_findings and pseudonym_findings[0]["outcome"] == "fail"
    # a later change to the workspace does not change the request
    (gate_server.workspace() / "outputs" / "table1.csv").write_bytes(b"age_band,n\n40-49,3\n")
    again = gate_server.api("remi", "GET", f"requests/{body['id']}").json()
    assert {f["name"]: f["sha256"] for f in again["files"]}["table1.csv"] == sha(TABLE1)
    assert again["state"] == "submitted" and again["requester"] == "remi" and again["decisions"] == []
    assert ("remi", "egress.submit") in audit_actions(gate_server)


def test_api_needs_a_token_and_membership(gate_server):
    assert gate_server.api(None, "POST", "requests", json={}).status_code == 403
    refused = gate_server.api("nora", "POST", "requests", json={"project": "cohort-a", "paths": ["outputs/table1.csv"],
                                                              "justification": "x"})
    assert refused.status_code == 403 and "not a member" in refused.json()["error"]
    rid = submitted(gate_server, ["outputs/table1.csv"])["id"]
    other = gate_server.api("nora", "GET", f"requests/{rid}")  # another project's request: not found, unnamed
    assert other.status_code == 404 and "does not exist" in other.text and "cohort-a" not in other.text
    assert gate_server.api("remi", "POST", "requests", data=b"not json").status_code == 400


def test_symlink_and_dotdot_submissions_are_refused_with_their_reason(gate_server):
    link = gate_server.submit("remi", ["outputs/link.csv"])
    assert link.status_code == 400 and "symbolic link" in link.json()["error"]
    up = gate_server.submit("remi", ["../secret.csv"])
    assert up.status_code == 400 and "'..'" in up.json()["error"]
    mixed = gate_server.submit("remi", ["outputs/table1.csv", "outputs/../../secret.csv"])
    assert mixed.status_code == 400  # one bad path refuses the whole request
    assert gate_server.api("remi", "GET", "requests").json()["requests"] == []
    # the web form says the same, escaped, on its error page
    page = gate_server.form_post("remi", "requests", {"project": "cohort-a", "path": "outputs/link.csv",
                                                      "justification": "j"})
    assert page.status_code == 400 and "symbolic link" in page.text


# --- pages: escaping, formula injection ------------------------------------------------------


def test_xss_in_a_justification_is_rendered_escaped(gate_server):
    rid = submitted(gate_server, ["outputs/table1.csv"], justification=SCRIPT)["id"]
    for user in ("remi", "sven"):
        page = gate_server.page(user, f"requests/{rid}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert (str(escape(SCRIPT)) in page.text) is (user == "sven")  # the requester reads it after review only
        assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script runs
    listing = gate_server.page("remi", "requests")
    assert listing.status_code == 200 and f"requests/{rid}" in listing.text


def test_xss_and_formulas_in_csv_cells_are_shown_as_text(gate_server):
    rid = submitted(gate_server, ["outputs/nasty.csv"])["id"]
    page = gate_server.page("sven", f"requests/{rid}/files/nasty.csv/preview")
    assert page.status_code == 200, page.text
    assert "<script>alert(1)</script>" not in page.text and "<img src=x onerror" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    for formula in ('=HYPERLINK(', "+1+2", "@SUM(A1:A9)", "-2+3"):
        assert f'title="starts like a spreadsheet formula: shown as text">&#39;{html.escape(formula)}' in page.text
    # the preview's CSV download quotes every formula-like cell
    download = gate_server.page("sven", f"requests/{rid}/files/nasty.csv/preview.csv")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    labels = [row[0] for row in rows[1:]]
    original = [row[0] for row in list(csv.reader(io.StringIO(NASTY.decode())))[1:]]
    assert len(labels) == len(original) == 6
    for shown, raw in zip(labels, original):
        assert shown == ("'" + raw if raw[0] in "=+-@\t\r" else raw)
        assert shown[0] not in "=+-@\t\r"
    assert ("sven", "egress.preview") in audit_actions(gate_server)


def test_flagged_cells_are_highlighted_and_the_anonymised_table_is_beside(gate_server):
    rid = submitted(gate_server, ["outputs/small.csv"])["id"]
    page = gate_server.page("sven", f"requests/{rid}")
    assert page.status_code == 200
    assert '<td class="flagged ">3</td>' in page.text  # the count under 10
    assert 'id="anonymised-0"' in page.text and "Anonymised version" in page.text
    assert 'id="decision-form"' in page.text and 'name="_xsrf"' in page.text
    # the researcher sees findings, not the preview or the decision form
    mine = gate_server.page("remi", f"requests/{rid}")
    assert "small_counts" in mine.text and 'id="decision-form"' not in mine.text and "anonymised-0" not in mine.text
    assert gate_server.page("remi", f"requests/{rid}/files/small.csv/preview").status_code == 403


# --- decisions: CSRF, who may review ---------------------------------------------------------


def decisions_of(server, rid) -> list[str]:
    with server.gate.session() as session:
        return list(session.scalars(select(EgressDecision.steward).where(EgressDecision.request_id == rid)))


def test_a_decision_without_the_csrf_token_is_refused(gate_server):
    rid = submitted(gate_server, ["outputs/table1.csv"])["id"]
    forged = gate_server.decide("sven", rid, with_token=False)
    assert forged.status_code == 403 and "_xsrf" in forged.text
    wrong = gate_server.browser("sven").post(gate_server.url + PREFIX + f"requests/{rid}/decision", timeout=30,
                                             data={"vote": "approve", "reason": "r", "_xsrf": "2|forged|token|1"})
    assert wrong.status_code == 403
    assert decisions_of(gate_server, rid) == []
    ok = gate_server.decide("sven", rid)
    assert ok.status_code == 302 and decisions_of(gate_server, rid) == ["sven"]


def test_self_review_is_refused(gate_server):
    response = gate_server.api("rita", "POST", "requests", json={"project": "cohort-a", "paths": ["outputs/table1.csv"],
                                                                "justification": "mine"})
    rid = response.json()["id"]
    refused = gate_server.decide("rita", rid)
    assert refused.status_code == 403 and "nobody reviews their own request" in refused.text
    assert decisions_of(gate_server, rid) == []


def test_a_project_member_cannot_review(gate_server):
    rid = submitted(gate_server, ["outputs/table1.csv"])["id"]
    refused = gate_server.decide("max", rid)
    assert refused.status_code == 403 and "is a member of project" in refused.text
    assert gate_server.page("max", f"requests/{rid}/files/table1.csv/preview").status_code == 403
    assert gate_server.page("max", "queue").text.count(f"requests/{rid}") == 0
    assert decisions_of(gate_server, rid) == []


def test_a_steward_votes_once_and_votes_stay_hidden(gate_server):
    rid = submitted(gate_server, ["outputs/table1.csv"])["id"]
    assert f"requests/{rid}" in gate_server.page("sven", "queue").text
    assert gate_server.decide("sven", rid, reason="sven's secret reason").status_code == 302
    assert "sven&#39;s secret reason" not in gate_server.page("stella", f"requests/{rid}").text
    again = gate_server.decide("sven", rid, vote="reject")
    assert again.status_code == 409 and "already decided" in again.text
    no_reason = gate_server.decide("stella", rid, reason="   ")
    assert no_reason.status_code == 409 and "written reason" in no_reason.text


# --- release ----------------------------------------------------------------------------------


def test_two_stewards_approve_and_the_researcher_downloads_the_quarantined_bytes(gate_server):
    body = submitted(gate_server, ["outputs/table1.csv"])
    rid, held = body["id"], body["files"][0]["sha256"]
    assert gate_server.page("remi", f"requests/{rid}/files/table1.csv").status_code == 409  # not released yet
    assert gate_server.decide("sven", rid).status_code == 302
    assert gate_server.api("remi", "GET", f"requests/{rid}").json()["state"] == "under_review"
    assert gate_server.decide("stella", rid).status_code == 302
    state = gate_server.api("remi", "GET", f"requests/{rid}").json()
    assert state["state"] == "released" and state["release"]["released_by"] == "stella"
    download = gate_server.page("remi", f"requests/{rid}/files/table1.csv")
    assert download.status_code == 200 and download.content == TABLE1
    assert sha(download.content) == held == sha(gate_server.gate.quarantine.open(held))
    store = gate_server.gate.releases
    assert store.verify_ledger().ok and store.entries()[0].hash == state["release"]["ledger_hash"]
    page = gate_server.page("remi", f"requests/{rid}")
    assert "sven" in page.text and state["release"]["ledger_hash"] in page.text  # votes shown once all are in
    actions = audit_actions(gate_server)
    for expected in [("sven", "egress.start_review"), ("sven", "egress.vote"), ("stella", "egress.approve"),
                     ("stella", "egress.release"), ("remi", "egress.download"), ("remi", "egress.view")]:
        assert expected in actions
    # a colleague downloads too; an outsider cannot
    assert gate_server.page("mona", f"requests/{rid}/files/table1.csv").content == TABLE1
    assert gate_server.page("nora", f"requests/{rid}/files/table1.csv").status_code == 403


def test_the_anonymised_version_is_released_when_a_steward_chooses_it(gate_server, tmp_path):
    body = submitted(gate_server, ["outputs/small.csv"])
    rid, held = body["id"], body["files"][0]["sha256"]
    assert gate_server.decide("sven", rid, anonymised=True).status_code == 302
    assert gate_server.decide("stella", rid).status_code == 302
    state = gate_server.api("remi", "GET", f"requests/{rid}").json()
    assert state["state"] == "released"
    download = gate_server.page("remi", f"requests/{rid}/files/small.csv")
    assert download.status_code == 200
    # the anonymiser's own output on the held bytes, computed here independently
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "small.csv"
    src.write_bytes(gate_server.gate.quarantine.open(held))
    anonymise_table(src, tmp_path / "expected.csv", gate_server.gate.policy_for_slug("cohort-a"))
    expected = (tmp_path / "expected.csv").read_bytes()
    assert download.content == expected and sha(download.content) != held
    assert state["files"][0]["released_sha256"] == sha(expected)
    assert b"B,,patients" in download.content or b'"B",,"patients"' in download.content
    assert gate_server.gate.releases.verify_ledger().ok


def test_pages_need_a_login(gate_server):
    response = gate_server.page(None, "requests", allow_redirects=False)
    assert response.status_code == 302 and "/hub/api/oauth2/authorize" in response.headers["Location"]
    assert gate_server.page("remi", "queue").status_code == 403  # not a steward
