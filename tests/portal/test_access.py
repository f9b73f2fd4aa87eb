"""Who sees and does what in the portal's pages: applicants see only their requests, the committee
never edits, the public sees only published material; every form needs its XSRF token; output is escaped."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlalchemy import select

from egress_gate.models import EgressFile, EgressRelease, EgressRequest, RequestState as EgressState
from egress_gate.release import ReleaseStore
from enclave.models import AuditEvent, ProjectState
from portal.models import AccessRequest, PublishedResult, RequestState

from ..registry.factories import create_project_at_state
from .factories import fields, request_at_state


def _request(server, state: RequestState, applicant: str = "ada", **changes) -> int:
    with server.session() as s:
        return request_at_state(s, server.office.catalog, state, applicant=applicant, tmp=server.root, **changes).id


def test_an_applicant_sees_only_their_own_requests(portal_server):
    mine = _request(portal_server, RequestState.draft, title="Ada's draft study")
    theirs = _request(portal_server, RequestState.submitted, applicant="ben", title="Ben's submitted study")
    listing = portal_server.page("ada", "requests")
    assert "Ada&#39;s draft study" in listing.text and "Ben" not in listing.text
    assert portal_server.page("ada", f"requests/{mine}").status_code == 200
    for user in ("ada", "nina"):
        refused = portal_server.page(user, f"requests/{theirs}")
        assert refused.status_code == 403 and "Ben&#39;s submitted study" not in refused.text
    # The committee sees submitted requests, never drafts; the staff see drafts too (they accompany them).
    assert portal_server.page("cleo", f"requests/{theirs}").status_code == 200
    assert portal_server.page("cleo", f"requests/{mine}").status_code == 403
    assert portal_server.page("otto", f"requests/{mine}").status_code == 200


def test_committee_members_cannot_edit_requests(portal_server):
    rid = _request(portal_server, RequestState.draft)
    form = {**{k: v for k, v in fields().items() if isinstance(v, str)}, "title": "Rewritten by the committee"}
    # A draft: the committee does not even see it. Once submitted: seen, never edited.
    assert portal_server.post("cleo", f"requests/{rid}", form).status_code == 403
    assert portal_server.post("ada", f"requests/{rid}/submit", {}).status_code == 302
    refused = portal_server.post("cleo", f"requests/{rid}", form)
    assert refused.status_code == 403 and "only the applicant" in refused.text
    page = portal_server.page("cleo", f"requests/{rid}")
    assert 'id="request-form"' not in page.text and 'id="opinion-form"' in page.text
    with portal_server.session() as s:
        assert s.get(AccessRequest, rid).title == fields()["title"]


def test_a_conflicted_member_is_shown_why_and_refused(portal_server):
    rid = _request(portal_server, RequestState.submitted)
    assert portal_server.post("cora", f"requests/{rid}/conflict", {"note": "my student"},
                              from_page=f"requests/{rid}").status_code == 302
    page = portal_server.page("cora", f"requests/{rid}")
    assert "declared a conflict of interest" in page.text and 'id="opinion-form"' not in page.text
    vote = {"relevance": "met", "adequacy": "met", "methodology": "met", "relevance_reason": "r",
            "adequacy_reason": "r", "methodology_reason": "r"}
    assert portal_server.post("cora", f"requests/{rid}/opinion", vote).status_code == 403
    assert portal_server.post("cleo", f"requests/{rid}/opinion", vote).status_code == 302
    assert portal_server.post("cyril", f"requests/{rid}/opinion", vote).status_code == 302
    applicant_view = portal_server.page("ada", f"requests/{rid}").text
    assert 'id="state">approved' in applicant_view and 'id="opinions"' in applicant_view


def test_the_applicant_sees_no_opinion_before_the_outcome(portal_server):
    rid = _request(portal_server, RequestState.submitted)
    vote = {"relevance": "met", "adequacy": "not_met", "methodology": "met", "relevance_reason": "fine",
            "adequacy_reason": "too many columns", "methodology_reason": "fine"}
    assert portal_server.post("cleo", f"requests/{rid}/opinion", vote).status_code == 302
    assert "too many columns" not in portal_server.page("ada", f"requests/{rid}").text
    # Opinions stay independent: another member sees it only once they gave theirs; the staff always.
    assert "too many columns" not in portal_server.page("cyril", f"requests/{rid}").text
    assert "too many columns" in portal_server.page("otto", f"requests/{rid}").text
    assert portal_server.post("cyril", f"requests/{rid}/opinion", {**vote, "adequacy": "met"}).status_code == 302
    assert "too many columns" in portal_server.page("cyril", f"requests/{rid}").text


def test_every_form_needs_its_xsrf_token(portal_server):
    rid = _request(portal_server, RequestState.draft)
    for path in ("requests", f"requests/{rid}", f"requests/{rid}/submit", f"requests/{rid}/comment", "publish"):
        assert portal_server.post("ada", path, {"body": "x", "title": "x"}, with_token=False).status_code == 403, path
    with portal_server.session() as s:
        assert s.get(AccessRequest, rid).state is RequestState.draft


def test_signed_in_pages_send_the_public_to_the_hub_login(portal_server):
    for path in ("requests", "requests/new", "committee", "staff", "publish"):
        response = portal_server.page(None, path)
        assert response.status_code == 302 and "/hub/api/oauth2/authorize" in response.headers["Location"], path
    assert portal_server.page("ada", "staff").status_code == 403
    assert portal_server.page("ada", "committee").status_code == 403


def test_output_is_escaped_and_pages_carry_a_strict_csp(portal_server):
    rid = _request(portal_server, RequestState.draft, title="<script>alert(1)</script>")
    page = portal_server.page("ada", f"requests/{rid}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]


def _released_output(server, slug: str) -> int:
    """A released egress request of ``slug`` with its real ledger entry."""
    store = ReleaseStore(server.office.config.releases_dir)
    data = b"age_band,n\n40-49,120\n"
    sha = hashlib.sha256(data).hexdigest()
    with server.session() as s:
        request = EgressRequest(project_slug=slug, requester="ada", justification="Table 1", policy_version="v1",
                                stewards_required=2, state=EgressState.released)
        request.files.append(EgressFile(name="table1.csv", sha256=sha, size=len(data), findings=[]))
        s.add(request)
        s.flush()
        entry = store.release(str(request.id), [("table1.csv", sha, data)], [], [], "v1")
        request.release = EgressRelease(released_by="sven", ledger_hash=entry.hash)
        return request.id


def test_the_public_sees_only_published_material(portal_server):
    _request(portal_server, RequestState.draft, title="A draft nobody should see")
    _request(portal_server, RequestState.submitted, title="A submission under review")
    rid = _request(portal_server, RequestState.authorised, title="An authorised study")
    with portal_server.session() as s:
        slug = s.get(AccessRequest, rid).authorisation.project_slug
        # As `make provision` registers it from the generated manifest (same title), then in use.
        create_project_at_state(s, slug, ProjectState.active, pi="ada").title = "An authorised study"
        create_project_at_state(s, "hidden-request", pi="ada")  # registered, not yet authorised
    egress_id = _released_output(portal_server, slug)
    unpublished = _released_output(portal_server, slug)

    public = portal_server.page(None, "directory").text
    assert "An authorised study" in public and "Ada Lovelace" in public  # consented to be named
    for secret in ("A draft nobody should see", "A submission under review", "hidden-request",
                   "Secret Statistician", "table1.csv"):
        assert secret not in public, secret

    # Only a member publishes, only a released output, and the embargo holds it back.
    form = {"egress_request": str(egress_id), "title": "Readmission rates by age band",
            "embargo_until": (date.today() + timedelta(days=30)).isoformat()}
    assert portal_server.post("ben", "publish", form).status_code == 403
    assert portal_server.post("ada", "publish", form).status_code == 302
    assert "Readmission rates by age band" not in portal_server.page(None, "directory").text
    with portal_server.session() as s:
        result = s.scalar(select(PublishedResult))
        result.embargo_until = date.today()
        ledger_hash = result.ledger_hash
        assert ledger_hash == s.get(EgressRequest, egress_id).release.ledger_hash
    public = portal_server.page(None, "directory").text
    assert "Readmission rates by age band" in public and ledger_hash in public
    assert public.count("table1.csv") == 1  # the unpublished release stays hidden
    with portal_server.session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "result.publish")).details["ledger_hash"] == ledger_hash
    assert unpublished != egress_id
