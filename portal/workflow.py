"""An access request's life: which action moves it from which state to which, written once in TRANSITIONS.

Pages call these functions and never change a state themselves. Each action appends its audit
event (``access_request.<action>``) in the same transaction as the change; the caller's
``session_scope`` commits both or neither. *Who* may act is :mod:`portal.permissions`.

Committee: each member without a conflict gives one opinion, without seeing the others' first — each of the three criteria
(:data:`portal.models.CRITERIA`) met or not, each with its reason. An opinion is favourable when
all three are met. As soon as ``favourable_required`` opinions (configured, frozen on the request
at submission) are favourable the request is approved; as soon as that many are unfavourable it
is rejected. A member may instead send the request back for changes, with a reason; the applicant
answers with a *revision* (:func:`revise`): a new draft linked to the old request by
``resubmits_id``, judged from scratch. The old request keeps its state and opinions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit import record
from enclave.audit_actions import AuditAction, audit_actions_of
from enclave.errors import EnclaveError
from enclave.models import Purpose, User, utcnow
from enclave.state_machine import StateMachine, lock_row
from pseudonymizer.catalog import Catalog
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import check_request, parse_columns

from . import permissions
from .models import CRITERIA, AccessRequest, CommitteeConflict, CommitteeOpinion, RequestComment, RequestState


class Action(StrEnum):
    submit = "submit"
    send_back = "send_back"
    approve = "approve"        # the committee's outcome, applied when the opinions reach it
    reject = "reject"
    revise = "revise"          # a new draft answers a request sent back; this one stays as it is
    authorise = "authorise"    # the authority's decision, recorded by the staff
    refuse = "refuse"
    withdraw = "withdraw"


AUDITED = audit_actions_of("access_request", Action)  # each action's audit event
_S, _A = RequestState, Action
_TABLE: Mapping[tuple[RequestState, Action], RequestState] = {
    (_S.draft, _A.submit): _S.submitted,
    (_S.submitted, _A.send_back): _S.changes_requested,
    (_S.submitted, _A.approve): _S.approved,
    (_S.submitted, _A.reject): _S.rejected,
    (_S.changes_requested, _A.revise): _S.changes_requested,
    (_S.approved, _A.authorise): _S.authorised,
    (_S.approved, _A.refuse): _S.refused,
    (_S.draft, _A.withdraw): _S.withdrawn,
    (_S.submitted, _A.withdraw): _S.withdrawn,
    (_S.changes_requested, _A.withdraw): _S.withdrawn,
}
INITIAL = RequestState.draft
DECIDED = frozenset({_S.changes_requested, _S.approved, _S.rejected, _S.authorised, _S.refused})
TEXT_FIELDS = ("title", "summary", "methodology", "holder_organisation")
MAX_TEXT = {"title": 300, "holder_organisation": 300, "summary": 5000, "methodology": 20000}


class WorkflowError(EnclaveError):
    """An action the request's current state does not allow, or an incomplete request."""


MACHINE = StateMachine(_TABLE, initial=INITIAL, error=WorkflowError)
TRANSITIONS = MACHINE.transitions
allowed_actions = MACHINE.allowed_actions
mermaid_diagram = MACHINE.mermaid


def transition(session: Session, request: AccessRequest, action: Action, actor: str, **details: Any) -> RequestState:
    """Move ``request`` by ``action`` (row locked first) and append its audit event."""
    lock_row(session, request)
    old = request.state
    new = MACHINE.next_state(old, action, f"access request {request.id}")
    request.state = new
    record(session, actor, AUDITED[action], request_id=request.id, title=request.title,
           **{"from": old, "to": new}, **details)
    return new


# --- the applicant ---------------------------------------------------------------------------

def get_request(session: Session, request_id: int) -> AccessRequest:
    request = session.get(AccessRequest, request_id)
    if request is None:
        raise WorkflowError(f"access request {request_id} does not exist", "see your requests' list")
    return request


def create_draft(session: Session, applicant: str, fields: Mapping[str, Any], catalog: Catalog) -> AccessRequest:
    permissions.check_registered(session, applicant)
    request = AccessRequest(applicant=applicant, state=INITIAL)
    _apply_fields(request, fields, catalog)
    session.add(request)
    session.flush()
    record(session, applicant, AuditAction.access_request_create, request_id=request.id, title=request.title)
    return request


def update_draft(session: Session, actor: str, request: AccessRequest, fields: Mapping[str, Any],
                 catalog: Catalog) -> None:
    permissions.check_user_is_applicant(session, actor, request)
    if request.state is not RequestState.draft:
        raise WorkflowError(f"access request {request.id} is {request.state}: only a draft can be edited",
                            "revise it if it was sent back for changes")
    _apply_fields(request, fields, catalog)
    record(session, actor, AuditAction.access_request_edit, request_id=request.id, fields=sorted(fields))


def _apply_fields(request: AccessRequest, fields: Mapping[str, Any], catalog: Catalog) -> None:
    """Copy the known fields, each checked on its own; a draft may be incomplete but never wrong."""
    for name in TEXT_FIELDS:
        if name in fields:
            value = str(fields[name] or "").strip()
            if len(value) > MAX_TEXT[name]:
                raise WorkflowError(f"{name} is {len(value)} characters long", f"keep it under {MAX_TEXT[name]}")
            setattr(request, name, value)
    if "purpose" in fields:
        text = fields["purpose"] or None
        try:
            request.purpose = Purpose(text) if text else None
        except ValueError:
            raise WorkflowError(f"purpose {text!r} is not one of the six legal purposes",
                                f"choose one of: {', '.join(p.value for p in Purpose)}") from None
    if "duration_months" in fields:
        months = fields["duration_months"]
        if months in (None, ""):
            request.duration_months = None
        elif not str(months).isdigit() or not 1 <= int(months) <= 120:
            raise WorkflowError(f"duration {months!r} is not a number of months from 1 to 120", "e.g. 36")
        else:
            request.duration_months = int(months)
    if "team" in fields:
        request.team = [_team_member(i, m) for i, m in enumerate(fields["team"] or [])]
    if "data" in fields:
        request.data = check_data(catalog, fields["data"])


def _team_member(index: int, member: Mapping[str, Any]) -> dict[str, Any]:
    name = str(member.get("name") or "").strip()
    if not name:
        raise WorkflowError(f"team member {index + 1} has no name", "give each team member's name")
    return {"name": name, "role": str(member.get("role") or "").strip(),
            "organisation": str(member.get("organisation") or "").strip(),
            "username": str(member.get("username") or "").strip().lower(), "public": bool(member.get("public"))}


def period_filters(data: Mapping[str, Any]) -> list[str]:
    """The study period as row filters of the manifest's vocabulary."""
    period = data.get("period") or None
    if not period:
        return []
    filters = []
    if period.get("start"):
        filters.append(f"{period['column']} >= {period['start']}")
    if period.get("end"):
        filters.append(f"{period['column']} <= {period['end']}")
    return filters


def check_data(catalog: Catalog, data: Mapping[str, Any]) -> dict[str, Any]:
    """The data asked for, checked against the catalog exactly as a manifest's ``[data]`` would be."""
    tables = [t for t in (data.get("tables") or []) if t]
    columns = [c for c in (data.get("columns") or []) if c]
    where = [w.strip() for w in (data.get("where") or []) if w and w.strip()]
    period = data.get("period") or None
    if period:
        column = str(period.get("column") or "").strip()
        start, end = (str(period.get(k) or "").strip() for k in ("start", "end"))
        for label, value in (("start", start), ("end", end)):
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise WorkflowError(f"period {label} {value!r} is not a date", "write it YYYY-MM-DD") from None
        if start and end and end < start:
            raise WorkflowError(f"the period ends ({end}) before it starts ({start})", "check both dates")
        period = {"column": column, "start": start, "end": end} if column and (start or end) else None
        if period and catalog.tables.get(column.partition(".")[0]) is None:
            raise WorkflowError(f"period column {column!r} is not TABLE.COLUMN of the catalogue",
                                "pick a date column of one of the requested tables")
    result = {"tables": tables, "columns": columns, "where": where, "period": period}
    if tables:
        try:
            check_request(catalog, tables, parse_columns(columns), where + period_filters(result))
        except PseudonymizerError as exc:
            raise WorkflowError(f"data asked for: {exc.problem}", exc.hint or "pick from the catalogue") from None
    elif columns or where or period:
        raise WorkflowError("columns, filters or a period are given but no table", "pick the tables first")
    return result


def missing_for_submission(request: AccessRequest) -> list[str]:
    missing = [name for name in TEXT_FIELDS if not getattr(request, name)]
    if request.purpose is None:
        missing.append("purpose")
    if not request.duration_months:
        missing.append("duration_months")
    if not request.team:
        missing.append("team")
    if not request.data.get("tables"):
        missing.append("data (at least one table)")
    return missing


def submit(session: Session, actor: str, request: AccessRequest, favourable_required: int,
           catalog: Catalog) -> None:
    permissions.check_user_is_applicant(session, actor, request)
    missing = missing_for_submission(request)
    if missing:
        raise WorkflowError(f"access request {request.id} is incomplete: {', '.join(missing)}",
                            "fill them in, then submit")
    check_data(catalog, request.data)  # the catalog may have changed since the draft was saved
    request.favourable_required = favourable_required
    request.submitted_at = utcnow()
    transition(session, request, Action.submit, actor, favourable_required=favourable_required,
               resubmits=request.resubmits_id)


def withdraw(session: Session, actor: str, request: AccessRequest, reason: str) -> None:
    permissions.check_user_is_applicant(session, actor, request)
    transition(session, request, Action.withdraw, actor, reason=reason.strip() or "withdrawn by the applicant")


def revise(session: Session, actor: str, request: AccessRequest, catalog: Catalog) -> AccessRequest:
    """A new draft answering ``request`` (sent back for changes), with its fields copied."""
    permissions.check_user_is_applicant(session, actor, request)
    existing = session.scalar(select(AccessRequest.id).where(AccessRequest.resubmits_id == request.id))
    if existing is not None:
        raise WorkflowError(f"access request {request.id} was already revised, as request {existing}",
                            f"edit request {existing}")
    transition(session, request, Action.revise, actor)
    revision = AccessRequest(applicant=actor, state=INITIAL, resubmits_id=request.id, title=request.title,
                             summary=request.summary, purpose=request.purpose, methodology=request.methodology,
                             holder_organisation=request.holder_organisation, team=list(request.team),
                             duration_months=request.duration_months, data=dict(request.data))
    session.add(revision)
    session.flush()
    record(session, actor, AuditAction.access_request_create, request_id=revision.id, title=revision.title,
           resubmits=request.id)
    return revision


# --- everyone who may see it ------------------------------------------------------------------

def comment(session: Session, actor: str, request: AccessRequest, body: str) -> RequestComment:
    permissions.check_user_can_view(session, actor, request)
    body = body.strip()
    if not body:
        raise WorkflowError("the comment is empty", "write something")
    note = RequestComment(request=request, author=actor, body=body)
    session.add(note)
    session.flush()
    record(session, actor, AuditAction.access_request_comment, request_id=request.id, comment_id=note.id)
    return note


# --- the committee -----------------------------------------------------------------------------

def declare_conflict(session: Session, member: str, request: AccessRequest, note: str) -> None:
    permissions.check_user_is_committee(session, member)
    permissions.check_user_can_view(session, member, request)
    if any(c.member == member for c in request.conflicts):
        raise WorkflowError(f"{member!r} already declared a conflict on access request {request.id}")
    if any(o.member == member for o in request.opinions):
        raise WorkflowError(f"{member!r} already gave an opinion on access request {request.id}",
                            "tell the committee's secretary: the opinion must be reviewed")
    note = note.strip()
    if not note:
        raise WorkflowError("a conflict of interest needs a short description", "e.g. 'co-author of the PI'")
    request.conflicts.append(CommitteeConflict(member=member, note=note))
    session.flush()
    record(session, member, AuditAction.access_request_conflict, request_id=request.id, note=note)


def give_opinion(session: Session, member: str, request: AccessRequest, verdicts: Mapping[str, bool],
                 reasons: Mapping[str, str]) -> RequestState:
    """Record one member's opinion; apply the outcome if it is now reached. Returns the state."""
    permissions.check_user_can_vote(session, member, request)
    session.flush()
    session.refresh(request, with_for_update={"of": AccessRequest})
    if request.state is not RequestState.submitted:
        raise WorkflowError(f"access request {request.id} is {request.state}: opinions are closed")
    if any(o.member == member for o in request.opinions):
        raise WorkflowError(f"{member!r} already gave an opinion on access request {request.id}")
    for criterion in CRITERIA:
        if criterion not in verdicts:
            raise WorkflowError(f"no verdict on {criterion}", "say whether each criterion is met")
        if not str(reasons.get(criterion) or "").strip():
            raise WorkflowError(f"no reason given for {criterion}", "give a reason for each criterion")
    opinion = CommitteeOpinion(member=member, **{c: bool(verdicts[c]) for c in CRITERIA},
                               **{f"{c}_reason": reasons[c].strip() for c in CRITERIA})
    request.opinions.append(opinion)
    session.flush()
    record(session, member, AuditAction.access_request_opinion, request_id=request.id, favourable=opinion.favourable,
           **{c: bool(verdicts[c]) for c in CRITERIA})
    required = request.favourable_required or 1
    favourable = sum(o.favourable for o in request.opinions)
    unfavourable = len(request.opinions) - favourable
    if favourable >= required or unfavourable >= required:
        request.decided_at = utcnow()
        action = Action.approve if favourable >= required else Action.reject
        transition(session, request, action, member, favourable=favourable, unfavourable=unfavourable,
                   required=required)
    return request.state


def visible_opinions(request: AccessRequest, username: str, *, staff: bool, has_voted: bool) -> list[CommitteeOpinion]:
    """Opinions stay independent: a member sees the others' once they gave theirs, the applicant once the
    committee decided; the staff always (they run the committee's secretariat)."""
    if staff or has_voted or request.state in DECIDED or request.state is RequestState.withdrawn:
        return list(request.opinions)
    return []


def send_back(session: Session, member: str, request: AccessRequest, reason: str) -> None:
    permissions.check_user_can_vote(session, member, request)
    reason = reason.strip()
    if not reason:
        raise WorkflowError("sending back needs the changes asked for", "write what the applicant should change")
    request.decided_at = utcnow()
    transition(session, request, Action.send_back, member, reason=reason)
    request.comments.append(RequestComment(author=member, body=f"Sent back for changes: {reason}"))


def committee_queue(session: Session, member: str) -> list[AccessRequest]:
    permissions.check_user_is_committee(session, member)
    return list(session.scalars(select(AccessRequest).where(AccessRequest.state == RequestState.submitted)
                                .order_by(AccessRequest.submitted_at)))


def requests_of(session: Session, username: str) -> list[AccessRequest]:
    return list(session.scalars(select(AccessRequest).where(AccessRequest.applicant == username)
                                .order_by(AccessRequest.id.desc())))


def display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    rows = session.execute(select(User.username, User.display_name).where(User.username.in_(usernames)))
    return {name: display or name for name, display in rows}


def to_judge(session: Session, member: str) -> list[AccessRequest]:
    """The submitted requests on which committee member ``member`` may still give an opinion, oldest first
    (none for a non-member of the committee; a request they gave an opinion on, or declared a conflict on, is done)."""
    if not permissions.is_committee(session, member):
        return []
    pending = session.scalars(select(AccessRequest).where(AccessRequest.state == RequestState.submitted)
                              .order_by(AccessRequest.submitted_at, AccessRequest.id)).all()
    return [r for r in pending if permissions.user_can_vote(session, member, r)
            and not any(o.member == member for o in r.opinions)]


def to_authorise(session: Session) -> list[AccessRequest]:
    """The requests the committee approved whose authority's decision is not recorded yet, oldest first."""
    approved = session.scalars(select(AccessRequest).where(AccessRequest.state == RequestState.approved)
                               .order_by(AccessRequest.decided_at, AccessRequest.id)).all()
    return [r for r in approved if r.authorisation is None]
