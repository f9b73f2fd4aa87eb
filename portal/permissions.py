"""Who may act on an access request: ``user_can_X`` (a bool) and ``check_user_can_X`` (raises).

Only *who*; *in which state* is :data:`portal.workflow.TRANSITIONS`. The rules:

- apply (write a draft, edit it, submit, revise, withdraw): any registered user, on their own
  requests only;
- view a request: its applicant; the platform's staff (``ops``: they accompany drafts too); the
  committee (``committee``), once submitted; nobody else — not even a member of its team;
- comment: whoever may view it;
- give an opinion or send back: a committee member who is not the applicant, not named in its
  team, and declared no conflict of interest on it. Committee members never edit a request;
- record the authority's decision: the platform's staff.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.errors import EnclaveError
from enclave.models import Role, User
from enclave.roles import has_role, is_ops

from .models import AccessRequest, RequestState


class PermissionDenied(EnclaveError):
    """The user may not take this action on this request, whatever its state."""


def is_committee(session: Session, username: str) -> bool:
    return has_role(session, username, Role.committee)


def check_registered(session: Session, username: str) -> None:
    if session.scalar(select(User.id).where(User.username == username)) is None:
        raise PermissionDenied(f"{username!r} is not a registered user", "ask the platform's staff to register you")


def user_can_view(session: Session, username: str, request: AccessRequest) -> bool:
    if username == request.applicant or is_ops(session, username):
        return True
    return is_committee(session, username) and request.state is not RequestState.draft


def check_user_can_view(session: Session, username: str, request: AccessRequest) -> None:
    if not user_can_view(session, username, request):
        raise PermissionDenied(f"access request {request.id} is not yours to see",
                               "you see your own requests; the committee sees submitted ones")


def check_user_is_applicant(session: Session, username: str, request: AccessRequest) -> None:
    if username != request.applicant:
        raise PermissionDenied(f"only the applicant ({request.applicant}) may change access request {request.id}",
                               "comment on it instead")


def vote_refusal(session: Session, username: str, request: AccessRequest) -> str | None:
    """Why ``username`` may not give an opinion on ``request`` (None: they may)."""
    if not is_committee(session, username):
        return f"{username!r} is not on the committee"
    if username == request.applicant:
        return f"{username!r} is the applicant of access request {request.id}"
    if username in {m.get("username") for m in request.team}:
        return f"{username!r} is in the team of access request {request.id}"
    if any(c.member == username for c in request.conflicts):
        return f"{username!r} declared a conflict of interest on access request {request.id}"
    return None


def user_can_vote(session: Session, username: str, request: AccessRequest) -> bool:
    return vote_refusal(session, username, request) is None


def check_user_can_vote(session: Session, username: str, request: AccessRequest) -> None:
    refusal = vote_refusal(session, username, request)
    if refusal:
        raise PermissionDenied(f"{refusal}: they cannot give an opinion on it",
                               "another committee member without a conflict must")


def check_user_is_committee(session: Session, username: str) -> None:
    if not is_committee(session, username):
        raise PermissionDenied(f"{username!r} is not on the committee", "only committee members may do this")


def check_user_is_staff(session: Session, username: str) -> None:
    if not is_ops(session, username):
        raise PermissionDenied(f"{username!r} is not on the platform's staff (role ops)",
                               "only the staff record the authority's decisions")
