"""Who may act on an egress request: each rule as ``user_can_X`` (a bool) and ``check_user_can_X`` (raises).

Only *who*: in which state an action is allowed is the workflow's table
(:data:`egress_gate.workflow.TRANSITIONS`). The rules:

- submit: a member (or the PI) of the project;
- review (start a review, decide, release): a user with the steward role who is neither the
  requester nor any member of the project — so never on their own request, nor a colleague's;
- withdraw, resubmit: the requester only;
- view (the request, its findings, the visible decisions): the project's members and the
  stewards;
- download: the project's members (once released) and the stewards who may review it;
- watch the security events (the seal's alarms, members' suspensions): stewards and operators.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from enclave.errors import EnclaveError
from enclave.membership import is_member
from enclave.models import Role
from enclave.roles import has_role, roles_of

from .models import EgressRequest


class PermissionDenied(EnclaveError):
    """The user may not take this action on this request, whatever its state."""


class NotFound(PermissionDenied):
    """What a user who may not see a request is told: it does not exist (for them)."""


def is_steward(session: Session, username: str) -> bool:
    return has_role(session, username, Role.steward)


def user_can_submit(session: Session, username: str, project_slug: str) -> bool:
    return is_member(session, username, project_slug)


def check_user_can_submit(session: Session, username: str, project_slug: str) -> None:
    if not user_can_submit(session, username, project_slug):
        raise PermissionDenied(f"{username!r} is not a member of project {project_slug!r}: they cannot submit "
                               "its outputs", "ask the project's PI to add them as a member")


def _review_refusal(session: Session, username: str, request: EgressRequest) -> str | None:
    """Why ``username`` may not review ``request`` (None: they may)."""
    if username == request.requester:
        return f"{username!r} submitted egress request {request.id}: nobody reviews their own request"
    if is_member(session, username, request.project_slug):
        return (f"{username!r} is a member of project {request.project_slug!r}: no member of a project reviews "
                f"its requests (egress request {request.id})")
    if not is_steward(session, username):
        return f"{username!r} does not have the steward role: only stewards review egress requests"
    return None


def user_can_review(session: Session, username: str, request: EgressRequest) -> bool:
    return _review_refusal(session, username, request) is None


def check_user_can_review(session: Session, username: str, request: EgressRequest) -> None:
    refusal = _review_refusal(session, username, request)
    if refusal is not None:
        raise PermissionDenied(refusal, "another steward, from outside the project, must review it")


def user_can_withdraw(session: Session, username: str, request: EgressRequest) -> bool:
    return username == request.requester


def check_user_can_withdraw(session: Session, username: str, request: EgressRequest) -> None:
    if not user_can_withdraw(session, username, request):
        raise PermissionDenied(f"{username!r} did not submit egress request {request.id}: only its requester "
                               f"({request.requester}) may withdraw or resubmit it")


def user_can_view(session: Session, username: str, request: EgressRequest) -> bool:
    return is_member(session, username, request.project_slug) or is_steward(session, username)


def check_user_can_view(session: Session, username: str, request: EgressRequest) -> None:
    if not user_can_view(session, username, request):
        # The project is not named: to an outsider, another project's request does not exist.
        raise PermissionDenied(f"{username!r} may not see egress request {request.id}: they are neither a member "
                               "of its project nor a steward")


def user_can_download(session: Session, username: str, request: EgressRequest) -> bool:
    return is_member(session, username, request.project_slug) or user_can_review(session, username, request)


def check_user_can_download(session: Session, username: str, request: EgressRequest) -> None:
    if not user_can_download(session, username, request):
        raise PermissionDenied(f"{username!r} may not download the files of egress request {request.id}",
                               "only the project's members, and the stewards who may review it, can")


def user_can_watch_security(session: Session, username: str) -> bool:
    return bool({Role.steward, Role.ops} & roles_of(session, username))


def check_user_can_watch_security(session: Session, username: str) -> None:
    if not user_can_watch_security(session, username):
        raise PermissionDenied(f"{username!r} has neither the steward nor the ops role",
                               "only stewards and operators see the security events")
