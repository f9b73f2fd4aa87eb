"""The access request's life on a real registry: the committee's rules, revision, authorisation and
the generated manifest, each step in the audit log."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from enclave.audit import verify
from enclave.manifest import load_manifest
from enclave.models import AuditEvent
from portal import authorisation, workflow
from portal.models import RequestState
from portal.permissions import PermissionDenied
from portal.workflow import WorkflowError

from .factories import GOOD, REASONS, request_at_state


@pytest.fixture
def office(portal_server):
    return portal_server.office


def test_two_favourable_opinions_approve_and_a_conflicted_member_cannot_vote(office):
    with office.session() as s:
        request = request_at_state(s, office.catalog, RequestState.submitted)
        workflow.declare_conflict(s, "cora", request, "co-author of the applicant")
        with pytest.raises(PermissionDenied, match="declared a conflict of interest"):
            workflow.give_opinion(s, "cora", request, GOOD, REASONS)
        with pytest.raises(PermissionDenied, match="not on the committee"):
            workflow.give_opinion(s, "ada", request, GOOD, REASONS)
        assert workflow.give_opinion(s, "cleo", request, GOOD, REASONS) is RequestState.submitted
        with pytest.raises(WorkflowError, match="already gave an opinion"):
            workflow.give_opinion(s, "cleo", request, GOOD, REASONS)
        with pytest.raises(WorkflowError, match="no reason given for methodology"):
            workflow.give_opinion(s, "cyril", request, GOOD, {**REASONS, "methodology": " "})
        assert workflow.give_opinion(s, "cyril", request, GOOD, REASONS) is RequestState.approved
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions[-5:] == ["access_request.submit", "access_request.conflict", "access_request.opinion",
                            "access_request.opinion", "access_request.approve"]


def test_a_committee_member_cannot_vote_on_their_own_request_nor_one_naming_them(office):
    with office.session() as s:
        own = request_at_state(s, office.catalog, RequestState.submitted, applicant="cleo")
        with pytest.raises(PermissionDenied, match="is the applicant"):
            workflow.give_opinion(s, "cleo", own, GOOD, REASONS)
        team = [{"name": "Cyril", "role": "statistician", "organisation": "X", "username": "cyril"}]
        named = request_at_state(s, office.catalog, RequestState.submitted, team=team)
        with pytest.raises(PermissionDenied, match="is in the team"):
            workflow.give_opinion(s, "cyril", named, GOOD, REASONS)


def test_unfavourable_opinions_reject_with_their_reasons(office):
    with office.session() as s:
        request = request_at_state(s, office.catalog, RequestState.rejected)
        assert request.state is RequestState.rejected
        assert [o.favourable for o in request.opinions] == [False, False]


def test_sent_back_request_is_revised_once_as_a_linked_draft(office):
    with office.session() as s:
        old = request_at_state(s, office.catalog, RequestState.changes_requested)
        assert "narrow the period" in old.comments[-1].body
        with pytest.raises(PermissionDenied):
            workflow.revise(s, "ben", old, office.catalog)
        new = workflow.revise(s, "ada", old, office.catalog)
        assert (new.state, new.resubmits_id, new.title, new.data) == (RequestState.draft, old.id, old.title, old.data)
        with pytest.raises(WorkflowError, match="already revised"):
            workflow.revise(s, "ada", old, office.catalog)
        workflow.submit(s, "ada", new, 2, office.catalog)
        assert old.state is RequestState.changes_requested and new.state is RequestState.submitted


def test_only_the_applicant_edits_and_only_a_draft(office):
    with office.session() as s:
        request = request_at_state(s, office.catalog, RequestState.draft)
        for intruder in ("ben", "cleo", "otto"):
            with pytest.raises(PermissionDenied, match="only the applicant"):
                workflow.update_draft(s, intruder, request, {"title": "hijacked"}, office.catalog)
        workflow.submit(s, "ada", request, 2, office.catalog)
        with pytest.raises(WorkflowError, match="only a draft can be edited"):
            workflow.update_draft(s, "ada", request, {"title": "late change"}, office.catalog)


@pytest.mark.parametrize("data, problem", [
    ({"tables": ["NOPE"]}, "NOPE"),
    ({"tables": ["IR_BEN_R"], "columns": ["IR_BEN_R.BEN_NOM"]}, "BEN_NOM"),  # a direct identifier
    ({"tables": ["IR_BEN_R"], "where": ["IR_BEN_R.BEN_NAI_ANN >= nineteen"]}, "nineteen"),
    ({"tables": ["IR_BEN_R"], "period": {"column": "IR_BEN_R.BEN_NAI_DTE", "start": "2020-13-01"}}, "2020-13-01"),
    ({"columns": ["IR_BEN_R.BEN_SEX_COD"]}, "no table"),
])
def test_data_is_checked_against_the_catalogue_like_a_manifest(office, data, problem):
    with office.session() as s, pytest.raises(WorkflowError, match=problem):
        workflow.create_draft(s, "ada", {"data": data}, office.catalog)


def test_incomplete_request_cannot_be_submitted(office):
    with office.session() as s:
        request = workflow.create_draft(s, "ada", {"title": "Only a title"}, office.catalog)
        with pytest.raises(WorkflowError, match="incomplete: summary, methodology"):
            workflow.submit(s, "ada", request, 2, office.catalog)


def test_authorisation_generates_a_valid_manifest_from_the_request(office, tmp_path):
    with office.session() as s:
        request = request_at_state(s, office.catalog, RequestState.authorised, tmp=tmp_path)
        auth = request.authorisation
        users = set(s.scalars(select(AuditEvent.actor))) | {"ada"}
    path = tmp_path / "projects" / f"{auth.project_slug}.toml"
    manifest = load_manifest(path, office.catalog, users)
    spec = tomllib.loads(path.read_text())
    assert manifest.principal_investigator == "ada" and manifest.members == ("ada",)
    assert manifest.approvals.cnil_reference == auth.number and manifest.approvals.expires_on == auth.valid_until
    assert manifest.data["tables"] == ["IR_BEN_R", "T_MCOaaB", "T_MCOaaC"]
    assert spec["data"]["where"] == ["T_MCOaaB.SEJ_NBJ >= 1", "T_MCOaaC.EXE_SOI_DTD >= 2019-01-01",
                                     "T_MCOaaC.EXE_SOI_DTD <= 2024-12-31"]
    assert auth.manifest_sha256 == manifest.sha256
    document = tmp_path / "decisions" / auth.document_sha256
    assert document.read_bytes() == b"%PDF-1.4 decision" and oct(document.stat().st_mode)[-3:] == "400"
    with office.session() as s:
        assert verify(s, office.config.settings.audit_head).ok


def test_authorisation_is_refused_before_approval_and_never_overwrites_a_manifest(office, tmp_path):
    kwargs = dict(granted=True, number="DR-1", decided_on=date.today(), valid_until=date.today() + timedelta(days=9),
                  document=b"pdf", document_name="d.pdf", decisions_dir=tmp_path / "d", projects_dir=tmp_path / "p",
                  catalog=office.catalog)
    with office.session() as s:
        submitted = request_at_state(s, office.catalog, RequestState.submitted)
        with pytest.raises(WorkflowError, match="only a request the committee approved"):
            authorisation.record_decision(s, "otto", submitted, slug="study-x", **kwargs)
        approved = request_at_state(s, office.catalog, RequestState.approved)
        with pytest.raises(PermissionDenied, match="not on the platform's staff"):
            authorisation.record_decision(s, "cleo", approved, slug="study-x", **kwargs)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "taken.toml").write_text("# an operator's manifest\n")
    with pytest.raises(WorkflowError, match="a manifest already exists"):
        with office.session() as s:
            authorisation.record_decision(s, "otto", s.merge(approved), slug="taken", **kwargs)
    assert (tmp_path / "p" / "taken.toml").read_text() == "# an operator's manifest\n"
    with office.session() as s:
        assert s.merge(approved).state is RequestState.approved  # nothing half-recorded


def test_state_diagram_comes_from_the_table():
    diagram = workflow.mermaid_diagram()
    assert all(f"{src} --> {dst} : {act}" in diagram for (src, act), dst in workflow.TRANSITIONS.items())


def test_demo_seed_puts_one_request_at_each_stage_once(office):
    from enclave.models import Role
    from portal.seed import STAGES, seed

    from ..registry.factories import create_user

    with office.session() as s:
        for name, role in (("alice", Role.researcher), ("bob", Role.researcher), ("oscar", Role.ops),
                           ("claire", Role.committee), ("hugo", Role.committee), ("ines", Role.committee)):
            create_user(s, name, role)
    made = seed(office)
    assert [stage for stage, _ in made] == [stage for stage, _, _ in STAGES]
    with office.session() as s:
        states = {workflow.get_request(s, rid).state.value: rid for _, rid in made}
    assert set(states) == {stage for stage, _, _ in STAGES}
    assert (office.config.settings.projects_dir / "demo-readmissions.toml").exists()
    assert seed(office) == []  # a second run adds nothing
