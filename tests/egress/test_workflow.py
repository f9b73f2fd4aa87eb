"""The egress review workflow on SQLite and PostgreSQL: transitions, refusals, who may act, hidden
votes, N stewards, concurrent decisions, and the audit trail of every action."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from egress_gate import workflow
from egress_gate.models import EgressDecision, EgressRequest, RequestState, Vote
from egress_gate.permissions import PermissionDenied, user_can_review
from egress_gate.workflow import TRANSITIONS, Action, WorkflowError
from enclave.audit import verify
from enclave.models import AuditEvent, Project

from .workflow_fixtures import (
    MEMBER,
    MEMBER_STEWARD,
    OUTSIDER,
    REQUESTER,
    SLUG,
    STEWARDS,
    a_file,
    create_request_at_state,
    setup_project,
    submit,
)

S = RequestState
SVEN, STELLA, SAM = STEWARDS


@pytest.fixture
def gate(registry):
    """The registry with the cast and project ``cohort-a`` (2 stewards per request)."""
    with registry.session() as session:
        setup_project(session)
    return registry


def actions_of(session, request_id: int) -> list[str]:
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    return [e.action for e in events if e.action.startswith("egress.") and e.details.get("request") == request_id]


# --- every allowed transition ----------------------------------------------------------------

def _apply(session, request: EgressRequest, action: Action) -> EgressRequest:
    """Carry out ``action`` on ``request`` through the public API; returns the request to check."""
    if action is Action.start_review:
        return workflow.start_review(session, request.id, SAM)
    if action is Action.vote:
        workflow.decide(session, request.id, SAM, Vote.approve, "fine")
        return request
    if action in (Action.approve, Action.request_changes, Action.reject):
        workflow.decide(session, request.id, SAM, Vote.approve, "fine")
        workflow.decide(session, request.id, STELLA, Vote(action.value), "my reason")
        return request
    if action is Action.withdraw:
        return workflow.withdraw(session, request.id, REQUESTER, "wrong file")
    if action is Action.resubmit:
        new = workflow.resubmit(session, request.id, REQUESTER, "Table 1, cells merged", [a_file(content=b"x")], answer="merged the small cells")
        assert (new.state, new.resubmits_id) == (S.submitted, request.id)
        return request
    if action is Action.release:
        workflow.mark_released(session, request.id, SAM, "cd" * 32)
        return request
    if action is Action.update_file:
        workflow.update_file(session, request.id, REQUESTER, a_file(content=b"age,n\n40-49,125\n"))
        return request
    raise AssertionError(action)


@pytest.mark.parametrize(("source", "action"), list(TRANSITIONS), ids=lambda v: str(v))
def test_every_allowed_transition(gate, source, action):
    with gate.session() as session:
        request = create_request_at_state(session, source)
        _apply(session, request, action)
        assert workflow.get_request(session, request.id).state is TRANSITIONS[(source, action)]
        assert actions_of(session, request.id)[-1] == f"egress.{action}"


# --- every refusal by state ------------------------------------------------------------------

CALLS = {  # the public call of each action, by someone allowed to make it
    Action.start_review: lambda s, r: workflow.start_review(s, r.id, SAM),
    Action.vote: lambda s, r: workflow.decide(s, r.id, SAM, Vote.approve, "fine"),
    Action.withdraw: lambda s, r: workflow.withdraw(s, r.id, REQUESTER),
    Action.resubmit: lambda s, r: workflow.resubmit(s, r.id, REQUESTER, "again", [a_file()], answer="merged the small cells"),
    Action.release: lambda s, r: workflow.mark_released(s, r.id, SAM, "cd" * 32),
    Action.update_file: lambda s, r: workflow.update_file(s, r.id, REQUESTER, a_file(content=b"age,n\n40-49,125\n")),
}


@pytest.mark.parametrize("state", list(S), ids=str)
def test_every_action_the_state_does_not_allow_is_refused(gate, state):
    with gate.session() as session:
        request = create_request_at_state(session, state)
        before = actions_of(session, request.id)
        refused = [action for action in CALLS if (state, action) not in TRANSITIONS]
        assert refused, "every state refuses something"
        for action in refused:
            with pytest.raises(WorkflowError, match=f"egress request {request.id} is {state.words}: it cannot {action}"):
                CALLS[action](session, request)
        assert workflow.get_request(session, request.id).state is state
        assert actions_of(session, request.id) == before


def test_the_final_states_allow_nothing():
    for state in workflow.FINAL:
        assert workflow.allowed_actions(state) == []
    assert workflow.allowed_actions(S.changes_requested) == [Action.resubmit, Action.withdraw]


# --- who may act -----------------------------------------------------------------------------

def test_self_review_is_refused_even_to_a_steward(gate):
    with gate.session() as session:
        request = submit(session, requester=MEMBER_STEWARD)
        with pytest.raises(PermissionDenied, match="submitted egress request .*: nobody reviews their own"):
            workflow.start_review(session, request.id, MEMBER_STEWARD)
        workflow.start_review(session, request.id, SVEN)
        with pytest.raises(PermissionDenied, match="nobody reviews their own request"):
            workflow.decide(session, request.id, MEMBER_STEWARD, Vote.approve, "mine, and fine")
        assert not user_can_review(session, MEMBER_STEWARD, request)


def test_a_project_member_with_the_steward_role_cannot_review(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        with pytest.raises(PermissionDenied, match=f"'{MEMBER_STEWARD}' is a member of project '{SLUG}'"):
            workflow.decide(session, request.id, MEMBER_STEWARD, Vote.approve, "my colleague's, fine")
        for member in (MEMBER, "pia"):  # plain members and the PI are refused too
            with pytest.raises(PermissionDenied, match="is a member of project"):
                workflow.decide(session, request.id, member, Vote.approve, "fine")
        assert request.decisions == []


def test_a_user_without_the_steward_role_cannot_review(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        with pytest.raises(PermissionDenied, match=f"'{OUTSIDER}' does not have the steward role"):
            workflow.decide(session, request.id, OUTSIDER, Vote.approve, "fine")
        with pytest.raises(PermissionDenied, match="does not have the steward role"):
            workflow.mark_released(session, request.id, OUTSIDER, "cd" * 32)


def test_one_steward_votes_once(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        workflow.decide(session, request.id, SVEN, Vote.approve, "fine")
        with pytest.raises(WorkflowError, match=f"'{SVEN}' already decided on egress request {request.id}"):
            workflow.decide(session, request.id, SVEN, Vote.approve, "still fine")
        assert workflow.get_request(session, request.id).state is S.under_review  # one vote of two


def test_the_database_refuses_a_second_vote_that_bypasses_the_workflow(gate):
    with gate.session() as session:
        request_id = create_request_at_state(session, S.under_review).id
        workflow.decide(session, request_id, SVEN, Vote.approve, "fine")
    with pytest.raises(IntegrityError), gate.session() as session:
        session.add(EgressDecision(request_id=request_id, steward=SVEN, vote=Vote.reject, reason="sneaky"))
        session.flush()


def test_approving_a_withdrawn_request_is_refused(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        workflow.withdraw(session, request.id, REQUESTER, "wrong table")
        with pytest.raises(WorkflowError, match="is withdrawn: it cannot vote — allowed now: none"):
            workflow.decide(session, request.id, SVEN, Vote.approve, "fine")
        assert request.decisions == []


def test_only_the_requester_withdraws_and_only_members_submit(gate):
    with gate.session() as session:
        request = submit(session)
        with pytest.raises(PermissionDenied, match=f"'{MEMBER}' did not submit egress request"):
            workflow.withdraw(session, request.id, MEMBER)
        with pytest.raises(PermissionDenied, match=f"'{OUTSIDER}' is not a member of project"):
            submit(session, requester=OUTSIDER)
        with pytest.raises(PermissionDenied, match="not a member of project"):
            submit(session, requester=SVEN)


def test_a_decision_and_a_submission_need_written_reasons(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        for reason in ("", "   "):
            with pytest.raises(WorkflowError, match="a decision needs a written reason"):
                workflow.decide(session, request.id, SVEN, Vote.approve, reason)
            with pytest.raises(WorkflowError, match="needs a written justification"):
                workflow.submit(session, SLUG, REQUESTER, reason, [a_file()])
        with pytest.raises(WorkflowError, match="'maybe' is not a vote"):
            workflow.decide(session, request.id, SVEN, "maybe", "hmm")
        with pytest.raises(WorkflowError, match="at least one file"):
            workflow.submit(session, SLUG, REQUESTER, "nothing", [])
        with pytest.raises(WorkflowError, match="appear twice"):
            workflow.submit(session, SLUG, REQUESTER, "twice", [a_file(), a_file()])
    with pytest.raises(IntegrityError), gate.session() as session:  # and the database agrees
        session.add(EgressRequest(project_slug=SLUG, requester=REQUESTER, justification="  ",
                                  policy_version="2025.1", stewards_required=2))
        session.flush()


# --- votes hidden until all are in; N stewards -----------------------------------------------

def test_votes_are_hidden_from_other_stewards_until_all_are_in(registry):
    with registry.session() as session:
        setup_project(session, stewards_required=3)
        request = create_request_at_state(session, S.under_review)
        workflow.decide(session, request.id, SVEN, Vote.approve, "fine")
        workflow.decide(session, request.id, STELLA, Vote.reject, "cell 3 is small")

        def seen_by(viewer):
            return [(d.steward, d.vote) for d in workflow.visible_decisions(session, request, viewer)]

        assert seen_by(SVEN) == [(SVEN, Vote.approve)]
        assert seen_by(STELLA) == [(STELLA, Vote.reject)]
        assert seen_by(SAM) == [] and seen_by(MEMBER) == []
        # The requester reads each decision as soon as it is cast, to answer it at once.
        assert seen_by(REQUESTER) == [(SVEN, Vote.approve), (STELLA, Vote.reject)]
        assert workflow.votes_in(session, request) == 2
        _, shown = workflow.view(session, request.id, SAM)
        assert shown == []
        with pytest.raises(PermissionDenied, match=f"'{OUTSIDER}' may not see egress request"):
            workflow.visible_decisions(session, request, OUTSIDER)

        workflow.decide(session, request.id, SAM, Vote.approve, "fine")
        assert request.state is S.rejected
        everyone = [(SVEN, Vote.approve), (STELLA, Vote.reject), (SAM, Vote.approve)]
        for viewer in (SVEN, STELLA, SAM, REQUESTER, MEMBER):
            assert seen_by(viewer) == everyone


@pytest.mark.parametrize(("required", "votes", "outcome"), [
    (None, [Vote.approve, Vote.approve], S.approved),  # the default is 2
    (None, [Vote.approve, Vote.request_changes], S.changes_requested),
    (1, [Vote.approve], S.approved),
    (1, [Vote.reject], S.rejected),
    (3, [Vote.approve, Vote.approve, Vote.approve], S.approved),
    (3, [Vote.request_changes, Vote.approve, Vote.request_changes], S.changes_requested),
    (3, [Vote.request_changes, Vote.reject, Vote.approve], S.rejected),
], ids=lambda v: str(v))
def test_the_outcome_comes_only_when_the_required_votes_are_in(registry, required, votes, outcome):
    with registry.session() as session:
        setup_project(session, stewards_required=required)
        request = create_request_at_state(session, S.under_review)
        assert request.stewards_required == (required or 2)
        for i, (steward, vote) in enumerate(zip(STEWARDS, votes, strict=False)):
            workflow.decide(session, request.id, steward, vote, f"{steward}'s reason")
            last = i == len(votes) - 1
            assert request.state is (outcome if last else S.under_review)
        outcomes = [a for a in actions_of(session, request.id) if a not in ("egress.submit", "egress.start_review",
                                                                            "egress.vote")]
        assert outcomes == [f"egress.{workflow._OUTCOME_ACTION[workflow.outcome_of(votes)]}"]


def test_the_number_of_stewards_is_frozen_at_submission(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        project = session.scalar(select(Project).where(Project.slug == SLUG))
        project.egress_policy = {**project.egress_policy, "stewards_required": 1}
        workflow.decide(session, request.id, SVEN, Vote.approve, "fine")
        assert request.state is S.under_review


def test_a_resubmission_is_a_new_request_with_fresh_votes(gate):
    with gate.session() as session:
        old = create_request_at_state(session, S.changes_requested)
        new = workflow.resubmit(session, old.id, REQUESTER, "cells under 10 merged", [a_file(content=b"merged")], answer="merged the small cells")
        assert (new.state, new.resubmits_id, new.decisions) == (S.submitted, old.id, [])
        assert old.state is S.changes_requested and len(old.decisions) == 2
        with pytest.raises(WorkflowError, match=f"egress request {old.id} was already resubmitted"):
            workflow.resubmit(session, old.id, REQUESTER, "again", [a_file()], answer="merged the small cells")
        with pytest.raises(PermissionDenied, match="only its requester"):
            workflow.resubmit(session, old.id, MEMBER, "mine now", [a_file()], answer="merged the small cells")


# --- downloads -------------------------------------------------------------------------------

def test_members_download_only_released_files_and_reviewers_the_held_ones(gate):
    with gate.session() as session:
        request = create_request_at_state(session, S.under_review)
        assert workflow.download(session, request.id, SAM, "table1.csv").sha256 == a_file().sha256
        with pytest.raises(WorkflowError, match="is under review: its files cannot be downloaded"):
            workflow.download(session, request.id, REQUESTER, "table1.csv")
        with pytest.raises(PermissionDenied, match=f"'{OUTSIDER}' may not download"):
            workflow.download(session, request.id, OUTSIDER, "table1.csv")
        released = create_request_at_state(session, S.released)
        assert workflow.download(session, released.id, MEMBER, "figure.png").name == "figure.png"
        with pytest.raises(WorkflowError, match="has no file 'secret.csv'"):
            workflow.download(session, released.id, MEMBER, "secret.csv")
        assert released.release is not None and released.release.ledger_hash == "ab" * 32


# --- concurrency -----------------------------------------------------------------------------

def test_two_concurrent_decisions_give_exactly_one_outcome_and_lose_nothing(gate):
    rounds = 4
    with gate.session() as session:
        ids = [create_request_at_state(session, S.under_review).id for _ in range(rounds)]
    for request_id in ids:
        barrier, errors = threading.Barrier(2), []

        def vote(steward: str, vote: Vote, request_id: int = request_id, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait(10)
                with gate.session() as session:
                    workflow.decide(session, request_id, steward, vote, f"{steward} decided")
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=vote, args=(SVEN, Vote.approve)),
                   threading.Thread(target=vote, args=(STELLA, Vote.request_changes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        with gate.session() as session:
            request = workflow.get_request(session, request_id)
            assert request.state is S.changes_requested
            assert sorted(d.steward for d in request.decisions) == sorted([SVEN, STELLA])
            actions = actions_of(session, request_id)
            assert actions.count("egress.vote") == 2
            assert actions.count("egress.request_changes") == 1
            assert actions[-1] == "egress.request_changes"
    with gate.session() as session:
        assert verify(session, gate.audit_head).ok


# --- the audit trail -------------------------------------------------------------------------

def test_every_action_is_an_audit_event_and_the_log_verifies(gate):
    with gate.session() as session:
        request = submit(session)
        workflow.view(session, request.id, REQUESTER)
        workflow.start_review(session, request.id, SVEN)
        workflow.view(session, request.id, SVEN)
        workflow.download(session, request.id, SVEN, "table1.csv")
        workflow.decide(session, request.id, SVEN, Vote.approve, "counts all >= 10")
        workflow.decide(session, request.id, STELLA, Vote.approve, "fine, release the rounded version",
                        anonymised=True)
        workflow.mark_released(session, request.id, SAM, "ef" * 32)
        workflow.download(session, request.id, MEMBER, "table1.csv")
        other = submit(session)
        workflow.withdraw(session, other.id, REQUESTER, "duplicate")
    with gate.session() as session:
        assert actions_of(session, request.id) == [
            "egress.submit", "egress.view", "egress.start_review", "egress.view", "egress.download",
            "egress.vote", "egress.vote", "egress.approve", "egress.release", "egress.download"]
        assert actions_of(session, other.id) == ["egress.submit", "egress.withdraw"]
        events = {e.action: e for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("egress.%")))}
        assert events["egress.submit"].project == SLUG
        assert {f["name"] for f in events["egress.submit"].details["files"]} == {"table1.csv", "figure.png"}
        assert events["egress.approve"].details["release_anonymised"] is True
        assert events["egress.release"].details == {"request": request.id, "from": "approved", "to": "released",
                                                    "ledger_hash": "ef" * 32, "release_anonymised": True}
        assert events["egress.release"].actor == SAM
        assert verify(session, gate.audit_head).ok


def test_a_refused_action_leaves_no_trace(gate):
    with gate.session() as session:
        request_id = create_request_at_state(session, S.under_review).id
    with pytest.raises(PermissionDenied), gate.session() as session:
        workflow.decide(session, request_id, REQUESTER, Vote.approve, "mine")
    with gate.session() as session:
        assert actions_of(session, request_id) == ["egress.submit", "egress.start_review"]
        assert verify(session, gate.audit_head).ok


def test_the_diagram_is_generated_from_the_table():
    diagram = workflow.mermaid_diagram()
    assert diagram.startswith("stateDiagram-v2\n    [*] --> submitted : submit\n")
    for (source, action), target in TRANSITIONS.items():
        assert f"    {source} --> {target} : {action}\n" in diagram
    assert "    withdrawn --> [*]\n" in diagram
