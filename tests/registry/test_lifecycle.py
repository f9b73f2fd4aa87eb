"""Every allowed transition and every refusal, each with (or without) its audit event."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from enclave import lifecycle
from enclave.audit import read_head, tail
from enclave.lifecycle import TRANSITIONS, Action, LifecycleError, allowed_actions, mermaid_diagram, transition
from enclave.models import AuditEvent, Project, ProjectState

from .factories import ACTOR, create_project_at_state

S = ProjectState

# Written by hand, apart from the table: changing TRANSITIONS must change this list too.
EXPECTED = {
    ("requested", "review", "reviewed"),
    ("reviewed", "authorise", "authorised"),
    ("authorised", "provision", "provisioned"),
    ("provisioned", "activate", "active"),
    ("provisioned", "suspend", "suspended"),
    ("active", "suspend", "suspended"),
    ("suspended", "resume", "active"),
    ("provisioned", "freeze", "frozen"),
    ("active", "freeze", "frozen"),
    ("suspended", "freeze", "frozen"),
    ("frozen", "unfreeze", "active"),
    ("frozen", "deprovision", "authorised"),
    ("frozen", "close", "closed"),
    ("provisioned", "deprovision", "authorised"),
    ("active", "deprovision", "authorised"),
    ("suspended", "deprovision", "authorised"),
    ("provisioned", "reprovision", "provisioned"),
    ("active", "reprovision", "active"),
    ("requested", "close", "closed"),
    ("reviewed", "close", "closed"),
    ("authorised", "close", "closed"),
    ("provisioned", "close", "closed"),
    ("active", "close", "closed"),
    ("suspended", "close", "closed"),
}
REFUSED = {(state, action) for state in S for action in Action} - set(TRANSITIONS)


def test_transition_table_is_the_expected_one():
    assert {(s.value, a.value, t.value) for (s, a), t in TRANSITIONS.items()} == EXPECTED


def events(session, slug: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.project == slug).order_by(AuditEvent.seq)))


@pytest.mark.parametrize(("state", "action"), list(TRANSITIONS), ids=lambda v: str(v))
def test_allowed_transition_changes_state_and_is_audited(registry, state, action):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-a", state)
    with registry.session() as session:
        project = session.get(Project, project.id)
        event = transition(session, project, action, "operator-omar", reason="scheduled", ticket=42)
    with registry.session() as session:
        assert session.get(Project, project.id).state is TRANSITIONS[state, action]
        last = events(session, "cohort-a")[-1]
    assert last.seq == event.seq
    assert (last.actor, last.action) == ("operator-omar", f"project.{action}")
    assert last.details == {"from": state.value, "to": TRANSITIONS[state, action].value, "reason": "scheduled",
                            "ticket": 42}


@pytest.mark.parametrize("state", list(S), ids=str)
def test_refused_transitions_name_state_action_and_allowed_ones_and_write_nothing(registry, state):
    refused = [action for (source, action) in REFUSED if source is state]
    allowed = allowed_actions(state)
    assert len(refused) + len(allowed) == len(Action)
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-b", state)
        before = len(events(session, "cohort-b"))
    for action in refused:
        with pytest.raises(LifecycleError) as error, registry.session() as session:
            transition(session, session.get(Project, project.id), action, ACTOR)
        message = str(error.value)
        assert f"project 'cohort-b' is {state}: it cannot {action} — allowed now: " in message, action
        assert message.endswith(", ".join(allowed) if allowed else "none (closed is final)"), action
    with registry.session() as session:
        assert session.get(Project, project.id).state is state
        assert len(events(session, "cohort-b")) == before


def test_state_change_and_audit_event_share_one_transaction(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-c", S.active)
        count = session.scalar(select(func.count()).select_from(AuditEvent))
    # The audit event cannot be written (not JSON): the state change must not survive either.
    with pytest.raises(TypeError, match="not JSON"), registry.session() as session:
        transition(session, session.get(Project, project.id), Action.suspend, ACTOR, evidence=object())
    # The state change is rolled back with the session: so is its audit event.
    with registry.session() as session:
        transition(session, session.get(Project, project.id), Action.suspend, ACTOR)
        session.rollback()
    with registry.session() as session:
        assert session.get(Project, project.id).state is S.active
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == count


def test_unknown_action_names_the_valid_ones(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-d", S.active)
        with pytest.raises(LifecycleError, match="'pause' is not a lifecycle action .* use one of: review, "):
            transition(session, project, "pause", ACTOR)


def test_authorise_needs_both_approvals(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-e", S.reviewed, approved=False)
        with pytest.raises(LifecycleError, match="committee_reference, committee_date, cnil_reference, cnil_date "
                                                 "not recorded"):
            transition(session, project, Action.authorise, ACTOR)


@pytest.mark.parametrize(("state", "action"), [(S.authorised, Action.provision), (S.provisioned, Action.activate),
                                               (S.suspended, Action.resume), (S.active, Action.reprovision)])
def test_expired_project_cannot_be_put_within_reach(registry, state, action):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-f", state, expires_on=date.today() - timedelta(days=1))
        with pytest.raises(LifecycleError, match="authorisation expired on"):
            transition(session, project, action, ACTOR)
        transition(session, project, Action.close, ACTOR, reason="expired")  # closing stays possible


def test_hooks_run_after_commit_only(registry, monkeypatch):
    calls = []
    monkeypatch.setattr(lifecycle, "STATE_CHANGE_HOOKS", [lambda p, old, new: calls.append((p.slug, old, new))])
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-g", S.active)
    calls.clear()
    with registry.session() as session:
        transition(session, session.get(Project, project.id), Action.suspend, ACTOR)
        assert calls == []
    assert calls == [("cohort-g", S.active, S.suspended)]
    with registry.session() as session:
        transition(session, session.get(Project, project.id), Action.resume, ACTOR)
        session.rollback()
    assert calls == [("cohort-g", S.active, S.suspended)]


def test_a_failing_hook_is_raised_once_the_change_and_its_event_are_committed(registry, monkeypatch):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-h", S.active)

    def broken(project, old, new):
        raise RuntimeError("docker is down")

    monkeypatch.setattr(lifecycle, "STATE_CHANGE_HOOKS", [broken])
    with pytest.raises(RuntimeError, match="docker is down"), registry.session() as session:
        transition(session, session.get(Project, project.id), Action.suspend, ACTOR)
    with registry.session() as session:
        assert session.get(Project, project.id).state is S.suspended
        (last,) = tail(session, 1)
    assert last.action == "project.suspend"
    assert read_head(registry.audit_head) == (last.seq, last.hash)


def test_mermaid_diagram_has_every_transition():
    diagram = mermaid_diagram()
    assert diagram.startswith("stateDiagram-v2\n    [*] --> requested\n")
    for source, action, target in EXPECTED:
        assert f"    {source} --> {target} : {action}\n" in diagram
    assert diagram.endswith("    closed --> [*]\n")


def test_the_operator_page_shows_the_generated_diagram():
    """docs/operator.md's lifecycle is `enclave lifecycle diagram`'s output, not a copy kept by hand."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text(encoding="utf-8")
    assert "```mermaid\n" + mermaid_diagram() + "```" in page, "paste `enclave lifecycle diagram` into docs/operator.md"
