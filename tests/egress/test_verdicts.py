"""Verdicts bind: a request with a failing finding is not released on votes alone.

Through the real gate service: the stewards' form, the workflow, the audit log and the release
ledger. ``ids.csv`` of the service fixtures holds three pseudonyms of the project (a ``fail``).
"""

from __future__ import annotations

import json

from sqlalchemy import select

from egress_gate import workflow
from egress_gate.models import EgressRequest
from enclave.models import AuditEvent


def submit(server, paths=("outputs/ids.csv",)) -> dict:
    response = server.submit("remi", list(paths))
    assert response.status_code == 201, response.text
    return response.json()


def failing_keys(body: dict) -> list[str]:
    return [workflow.finding_key(f["name"], x) for f in body["files"] for x in f["findings"] if x["outcome"] == "fail"]


def approve_with(server, user: str, rid: int, overrides: dict[str, str]):
    data = {"vote": "approve", "reason": "checked every cell",
            "override_finding": list(overrides), "override_reason": list(overrides.values())}
    return server.form_post(user, f"requests/{rid}/decision", data, from_page=f"requests/{rid}")


def state_of(server, rid: int) -> str:
    return server.api("remi", "GET", f"requests/{rid}").json()["state"]


def test_a_failing_request_is_not_released_on_votes_alone(gate_server):
    body = submit(gate_server)
    rid, keys = body["id"], failing_keys(body)
    assert keys == ["ids.csv/pseudonyms"]
    page = gate_server.page("sven", f"requests/{rid}")
    assert 'name="override_finding" value="ids.csv/pseudonyms"' in page.text  # the form asks for each override
    refused = gate_server.decide("sven", rid)  # a plain approval
    assert refused.status_code == 409 and "ids.csv/pseudonyms" in refused.text and "override" in refused.text
    # an override with an empty reason is no override
    assert approve_with(gate_server, "sven", rid, {"ids.csv/pseudonyms": "   "}).status_code == 409
    # one steward overrides, the other only votes: the second vote is refused, nothing is released
    assert approve_with(gate_server, "sven", rid, {"ids.csv/pseudonyms": "synthetic ids, agreed with the DPO"}).status_code == 302
    assert gate_server.decide("stella", rid).status_code == 409
    assert state_of(gate_server, rid) == "under_review"
    assert gate_server.gate.releases.entries() == []


def test_the_required_stewards_each_overriding_every_failing_finding_release_it_audited(gate_server):
    body = submit(gate_server, ("outputs/ids.csv", "outputs/table1.csv"))
    rid = body["id"]
    reasons = {"sven": "visit codes, not pseudonyms: checked with the data manager",
               "stella": "same check, confirmed against the extract dictionary"}
    for steward, reason in reasons.items():
        assert approve_with(gate_server, steward, rid, {"ids.csv/pseudonyms": reason}).status_code == 302
    assert state_of(gate_server, rid) == "released"
    with gate_server.gate.session() as session:
        votes = session.scalars(select(AuditEvent).where(AuditEvent.action == "egress.vote")).all()
        recorded = {e.actor: json.loads(e.details) if isinstance(e.details, str) else e.details for e in votes}
    for steward, reason in reasons.items():
        overrides = recorded[steward]["overrides"]
        assert [(o["finding"], o["check"], o["reason"]) for o in overrides] == [("ids.csv/pseudonyms", "pseudonyms", reason)]
    entry = gate_server.gate.releases.entries()[0]
    assert {d["steward"]: d["overrides"][0]["reason"] for d in entry.decisions} == reasons
    page = gate_server.page("remi", f"requests/{rid}")
    assert reasons["sven"] in page.text  # the requester sees why it was let through


def test_an_override_must_name_a_finding_of_the_request(gate_server):
    rid = submit(gate_server)["id"]
    response = approve_with(gate_server, "sven", rid, {"ids.csv/pseudonyms": "ok", "ids.csv/nir": "no such finding"})
    assert response.status_code == 409 and "no failing finding ids.csv/nir" in response.text


def test_request_changes_needs_no_override_and_a_clean_request_needs_none(gate_server):
    failing = submit(gate_server)["id"]
    assert gate_server.decide("sven", failing, vote="request_changes").status_code == 302
    assert gate_server.decide("stella", failing, vote="request_changes").status_code == 302
    assert state_of(gate_server, failing) == "changes_requested"
    clean = submit(gate_server, ("outputs/table1.csv",))
    assert failing_keys(clean) == []
    assert gate_server.decide("sven", clean["id"]).status_code == 302
    assert gate_server.decide("stella", clean["id"]).status_code == 302
    assert state_of(gate_server, clean["id"]) == "released"


def test_a_release_without_the_overrides_is_refused_even_if_the_state_says_approved(gate_server):
    """Defence in depth: a request pushed to 'approved' without overrides (here by hand, in the
    database) is still not released, neither by the gate nor by the workflow."""
    rid = submit(gate_server)["id"]
    with gate_server.gate.session() as session:
        session.get(EgressRequest, rid).state = workflow.RequestState.approved
    response = gate_server.form_post("sven", f"requests/{rid}/release", {}, from_page=f"requests/{rid}")
    assert response.status_code == 409 and "failing findings" in response.text
    assert gate_server.gate.releases.entries() == []


def test_the_vote_form_is_gone_once_the_steward_has_voted(gate_server):
    rid = submit(gate_server, ("outputs/table1.csv",))["id"]
    assert 'id="decision-form"' in gate_server.page("sven", f"requests/{rid}").text
    assert gate_server.decide("sven", rid).status_code == 302
    page = gate_server.page("sven", f"requests/{rid}").text
    assert 'id="decision-form"' not in page and 'id="my-vote"' in page and "approve" in page
    assert 'id="decision-form"' in gate_server.page("stella", f"requests/{rid}").text

