"""Plain functions putting an egress request in a given state through the real workflow (audited).

The cast: project ``cohort-a`` (PI ``pia``, members ``remi`` the requester and ``mona``; ``max``
is a member who also holds the steward role), stewards from outside it ``sven``, ``stella`` and
``sam``, and ``nora``, a researcher of no project.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from egress_gate import workflow
from egress_gate.models import EgressRequest, RequestState, Vote
from egress_gate.workflow import HeldFile
from enclave.models import ProjectState, Role, default_egress_policy

from ..registry.factories import create_project_at_state, create_user

SLUG = "cohort-a"
REQUESTER = "remi"
MEMBER = "mona"
MEMBER_STEWARD = "max"
STEWARDS = ("sven", "stella", "sam")
OUTSIDER = "nora"


def setup_project(session: Session, stewards_required: int | None = None, slug: str = SLUG) -> None:
    """The cast and an active project; ``stewards_required`` overrides the project's egress policy."""
    for steward in STEWARDS:
        create_user(session, steward, Role.steward)
    create_user(session, MEMBER_STEWARD, Role.researcher, Role.steward)
    create_user(session, OUTSIDER, Role.researcher)
    project = create_project_at_state(session, slug, ProjectState.active,
                                      members=(REQUESTER, MEMBER, MEMBER_STEWARD))
    if stewards_required is not None:
        project.egress_policy = {**default_egress_policy(), "stewards_required": stewards_required}
    session.flush()


def a_file(name: str = "table1.csv", content: bytes = b"age,n\n40-49,120\n") -> HeldFile:
    return HeldFile(name=name, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                         findings=[{"check": "counts", "outcome": "pass", "policy_version": "2025.1"}])


def submit(session: Session, requester: str = REQUESTER, slug: str = SLUG) -> EgressRequest:
    return workflow.submit(session, slug, requester, "Table 1 of the paper: age bands, counts >= 10",
                           [a_file(), a_file("figure.png", b"\x89PNG fake")])


# The steps after submission that reach each state (votes for a request needing the default 2).
def _votes(vote: Vote) -> list[tuple[str, str]]:
    return [("vote", STEWARDS[0]), ("vote:" + vote, STEWARDS[1])]


PATH: dict[RequestState, list[tuple[str, str]]] = {
    RequestState.submitted: [],
    RequestState.under_review: [("start_review", STEWARDS[0])],
    RequestState.approved: [("start_review", STEWARDS[0]), *_votes(Vote.approve)],
    RequestState.changes_requested: [("start_review", STEWARDS[0]), *_votes(Vote.request_changes)],
    RequestState.rejected: [("start_review", STEWARDS[0]), *_votes(Vote.reject)],
    RequestState.released: [("start_review", STEWARDS[0]), *_votes(Vote.approve), ("release", STEWARDS[2])],
    RequestState.withdrawn: [("withdraw", REQUESTER)],
}


def create_request_at_state(session: Session, state: RequestState) -> EgressRequest:
    """A request of ``remi`` in project ``cohort-a`` (set up with :func:`setup_project`, N=2) moved to ``state``."""
    request = submit(session)
    for step, actor in PATH[state]:
        if step == "start_review":
            workflow.start_review(session, request.id, actor)
        elif step.startswith("vote"):
            vote = step.partition(":")[2] or Vote.approve
            workflow.decide(session, request.id, actor, vote, f"{actor} checked every cell")
        elif step == "withdraw":
            workflow.withdraw(session, request.id, actor)
        elif step == "release":
            workflow.mark_released(session, request.id, actor, "ab" * 32)
    assert request.state is state, (request.state, state)
    return request
