"""Forms that help: one form saves and submits, refusals come back on the form with what was typed,
nothing that decides is pre-ticked, the decision document opens again, and every page (404s too)
offers only the links that answer the person who sees them."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

from portal.models import AccessRequest, CommitteeOpinion, RequestState

from .factories import fields, request_at_state


def _request(server, state: RequestState, applicant: str = "ada", **changes) -> int:
    with server.session() as s:
        return request_at_state(s, server.office.catalog, state, applicant=applicant, tmp=server.root, **changes).id


def _form(**changes) -> dict:
    """The draft's form as the browser posts it."""
    base = fields()
    form = {k: v for k, v in base.items() if isinstance(v, str)}
    form["table"] = base["data"]["tables"]
    for i, member in enumerate(base["team"]):
        form.update({f"team-{i}-{key}": value for key, value in member.items() if key != "public"})
    return {**form, **changes}


def test_submitting_saves_the_edits_typed_in_the_same_form(portal_server):
    rid = _request(portal_server, RequestState.draft)
    sent = portal_server.post("ada", f"requests/{rid}/submit", _form(title="Edited just before submitting"),
                              from_page=f"requests/{rid}")
    assert sent.status_code == 302, re.findall(r'role="alert"[^<]*', sent.text)
    with portal_server.session() as s:
        request = s.get(AccessRequest, rid)
        assert (request.title, request.state) == ("Edited just before submitting", RequestState.submitted)


def test_an_incomplete_submission_comes_back_on_the_form_with_the_edits_kept(portal_server):
    rid = _request(portal_server, RequestState.draft)
    sent = portal_server.post("ada", f"requests/{rid}/submit", _form(title="A new title", summary=""),
                              from_page=f"requests/{rid}")
    assert sent.status_code == 400
    assert 'id="request-form"' in sent.text and 'id="request-form-error"' in sent.text and "summary" in sent.text
    assert 'value="A new title"' in sent.text  # the edit is on the page, and saved
    with portal_server.session() as s:
        request = s.get(AccessRequest, rid)
        assert (request.title, request.state) == ("A new title", RequestState.draft)


def test_an_opinion_with_a_box_left_empty_is_shown_again_with_its_error(portal_server):
    rid = _request(portal_server, RequestState.submitted)
    vote = {"relevance": "met", "adequacy": "not_met", "methodology": "met", "relevance_reason": "clearly of public interest",
            "adequacy_reason": "asks for every column", "methodology_reason": ""}
    sent = portal_server.post("cleo", f"requests/{rid}/opinion", vote, from_page=f"requests/{rid}")
    assert sent.status_code == 400
    assert 'id="opinion-form-error"' in sent.text and "no reason given for methodology" in sent.text
    assert "asks for every column" in sent.text  # what was typed is kept
    assert re.search(r'name="adequacy" value="not_met"\s+checked', sent.text)
    with portal_server.session() as s:
        assert s.query(CommitteeOpinion).count() == 0
    # the control: the same opinion completed is recorded
    assert portal_server.post("cleo", f"requests/{rid}/opinion", {**vote, "methodology_reason": "sound"},
                              from_page=f"requests/{rid}").status_code == 302


def test_nothing_that_decides_is_pre_ticked_and_the_decision_document_opens_again(portal_server):
    rid = _request(portal_server, RequestState.approved)
    page = portal_server.page("otto", f"requests/{rid}").text
    decision = re.findall(r'<input type="radio" name="decision"[^>]*>', page)
    assert len(decision) == 2 and not [d for d in decision if "checked" in d]
    form = {"number": "DR-1", "decided_on": date.today().isoformat(),
            "valid_until": (date.today() + timedelta(days=365)).isoformat(), "slug": "readmissions"}
    document = b"%PDF-1.4 the authority's decision"
    upload = {"document": ("decision.pdf", document, "application/pdf")}
    undecided = portal_server.post("otto", f"requests/{rid}/authorise", form, from_page=f"requests/{rid}", files=upload)
    assert undecided.status_code == 400 and 'id="authorise-form-error"' in undecided.text
    assert 'value="DR-1"' in undecided.text
    recorded = portal_server.post("otto", f"requests/{rid}/authorise", {**form, "decision": "granted"},
                                  from_page=f"requests/{rid}", files=upload)
    assert recorded.status_code == 302, recorded.text[:2000]
    assert 'id="decision-document"' in portal_server.page("ada", f"requests/{rid}").text
    opened = portal_server.page("ada", f"requests/{rid}/decision-document")
    assert opened.status_code == 200 and hashlib.sha256(opened.content).digest() == hashlib.sha256(document).digest()
    assert portal_server.page("ben", f"requests/{rid}/decision-document").status_code == 403  # not his request


def test_navigation_offers_only_what_answers_and_errors_keep_the_way_back(portal_server):
    researcher = portal_server.page("ada", "").text
    assert "committee\"" not in researcher and ">Committee<" not in researcher and ">Staff desk<" not in researcher
    assert ">Committee<" in portal_server.page("cleo", "").text and ">Staff desk<" in portal_server.page("otto", "").text
    for link in re.findall(r'<nav class="shell-nav"[^>]*>(.*?)</nav>', researcher, re.S)[0].split('href="')[1:]:
        path = link.split('"')[0]
        if path.startswith("/services/portal/"):
            assert portal_server.page("ada", path.removeprefix("/services/portal/")).status_code < 400, path
    missing = portal_server.page("ada", "no/such/page")
    assert missing.status_code == 404 and 'id="way-back"' in missing.text and "no/such/page" in missing.text
    assert '<span class="shell-user">ada</span>' in missing.text and 'id="sign-out"' in missing.text
    assert 'id="sign-in"' not in missing.text
    refused = portal_server.page("ada", "staff")
    assert refused.status_code == 403 and 'id="way-back"' in refused.text
