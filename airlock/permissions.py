"""Who may act on an import: the egress gate's rules, applied to imports (one place says who a reviewer is).

- create, add files, submit: a member of the project, or ops for a whole project (the CLI's
  ``--as-ops``: the requester is recorded as ``ops:<actor>``);
- review (vote): a steward who is neither the requester nor a member of the project
  (:func:`enclave.membership.is_member` and the gate's ``is_steward``, as for exports);
- view: the project's members and the stewards.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from egress_gate.permissions import NotFound, PermissionDenied, is_steward
from enclave.membership import is_member

from .models import ImportRequest

OPS_PREFIX = "ops:"

__all__ = ["NotFound", "PermissionDenied", "check_user_can_submit", "check_user_can_review", "check_user_can_view"]


def check_user_can_submit(session: Session, requester: str, project_slug: str) -> None:
    if requester.startswith(OPS_PREFIX):
        return  # ops, on the host: the CLI is run by the operator
    if not is_member(session, requester, project_slug):
        raise PermissionDenied(f"{requester!r} is not a member of project {project_slug!r}: they cannot import "
                               "data into it", "ask the project's PI to add them, or ops to import it")


def _review_refusal(session: Session, username: str, request: ImportRequest) -> str | None:
    if username == request.requester:
        return f"{username!r} submitted import {request.id}: nobody reviews their own import"
    if is_member(session, username, request.project_slug):
        return (f"{username!r} is a member of project {request.project_slug!r}: no member of a project reviews "
                f"its imports (import {request.id})")
    if not is_steward(session, username):
        return f"{username!r} does not have the steward role: only stewards review imports"
    return None


def user_can_review(session: Session, username: str, request: ImportRequest) -> bool:
    return _review_refusal(session, username, request) is None


def check_user_can_review(session: Session, username: str, request: ImportRequest) -> None:
    refusal = _review_refusal(session, username, request)
    if refusal is not None:
        raise PermissionDenied(refusal, "another steward, from outside the project, must review it")


def check_user_can_view(session: Session, username: str, request: ImportRequest) -> None:
    if not (username == request.requester or is_member(session, username, request.project_slug)
            or is_steward(session, username)):
        raise NotFound(f"no import {request.id} for {username!r}")
