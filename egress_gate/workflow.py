"""An egress request's review: which action moves it from which state to which, written once in TRANSITIONS.

This module owns the workflow; the gate's pages and API call it and never change a state
themselves. Every action — submit, view, download, each decision, withdraw, release — appends its
audit event (``egress.<action>``) in the same transaction as the change, through
:func:`enclave.audit.record`; the caller's ``session_scope`` commits both or neither.

*Who* may act is :mod:`egress_gate.permissions`; *in which state* is :data:`TRANSITIONS` (the
policy). The docs' diagram is generated from the table (:func:`mermaid_diagram`).

Decisions: ``stewards_required`` independent stewards (the project's ``egress_policy``, default 2,
frozen on the request at submission) each vote once, with a written reason. A vote alone changes
nothing; when the last required vote is in, the outcome is computed — any ``reject`` →
rejected, else any ``request_changes`` → changes requested, else approved — and applied as its
own transition. Until then a steward sees only their own vote (:func:`visible_decisions`): the
votes are independent. The requester sees each decision and its reason as soon as it is cast, so
they can answer at once — by changing a file (:func:`update_file`) or, once changes are
requested, by resubmitting. The
request's row is locked before a vote is counted (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every transaction already holds the write lock, see :mod:`enclave.db`), so two votes
arriving together are both recorded and produce exactly one outcome.

Verdicts bind: a request with a ``fail`` finding cannot be approved on votes alone. Each steward
who approves it must record an *override* for every failing finding — naming it (file, check,
part) and giving a reason — in the same call as their vote (:func:`failing_findings`); a vote
that does not is refused. The overrides are in the vote's audit event, and the release checks
again that the required number of approving stewards each overrode every failing finding. The
other way out is the researcher's: a resubmission with the problem fixed. Some failing findings
take no override at all (:data:`NEVER_OVERRIDDEN`: a model refused by its membership-inference
attack, a model file naming code to run, a model the gate could not attack): such a request can
only be rejected or sent back.

Resubmission: a request in ``changes_requested`` is answered by a *new* request
(:func:`resubmit`), linked to the old one by ``resubmits_id``, with its own snapshot and its own
votes from scratch — the stewards approve exact bytes (invariant 3), and changed files are other
bytes. The old request keeps its state and decisions as the record of that round; it can be
resubmitted once; the new request carries the researcher's ``answer`` to the stewards' comments.

A file that changes after a vote cancels the votes on it (:func:`update_file`): while a request
is submitted or under review its requester may replace a file by new bytes (snapshotted again
from the workspace); every vote already cast on the request is then deleted — a vote covers the
exact bytes of every file in the request — and listed in the ``egress.update_file`` audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enclave.audit import record
from enclave.audit_actions import AuditAction, audit_actions_of
from enclave.errors import EnclaveError
from enclave.models import DATA_REACHABLE, AuditEvent, Project, default_egress_policy
from enclave.state_machine import StateMachine

from . import permissions
from .anonymise import KINDS as ANONYMISABLE
from .models import EgressDecision, EgressFile, EgressRelease, EgressRequest, RequestKind, RequestState, Vote
from .policy import DEFAULT_POLICY
from .tables import file_type

# Failing checks the anonymised version fixes by construction (suppression, then secondary suppression).
ANONYMISER_RESOLVES = frozenset({"small_counts"})
# Failing findings no override answers: a model that tells its training rows apart, a model file naming code to
# run, a model the gate could not attack here (no sandbox, no sacroml): a steward cannot check a model by eye.
NEVER_OVERRIDDEN = frozenset({"model_attacks", "model_file", "sandbox", "model_tools"})


class Action(StrEnum):
    submit = "submit"  # creates the request; the [*] --> submitted edge of the diagram
    start_review = "start_review"
    vote = "vote"  # a decision recorded while others are still awaited
    approve = "approve"  # the outcome once all votes are in
    request_changes = "request_changes"
    reject = "reject"
    withdraw = "withdraw"
    resubmit = "resubmit"  # a new request answers this one; this one stays as it is
    update_file = "update_file"  # new bytes for one file; the votes cast on the request are cancelled
    release = "release"


AUDITED = audit_actions_of("egress", Action)  # each action's audit event
_S, _A = RequestState, Action
_TABLE: Mapping[tuple[RequestState, Action], RequestState] = {
    (_S.submitted, _A.start_review): _S.under_review,
    (_S.under_review, _A.vote): _S.under_review,
    (_S.under_review, _A.approve): _S.approved,
    (_S.under_review, _A.request_changes): _S.changes_requested,
    (_S.under_review, _A.reject): _S.rejected,
    (_S.approved, _A.release): _S.released,
    (_S.changes_requested, _A.resubmit): _S.changes_requested,
    (_S.submitted, _A.update_file): _S.submitted,
    (_S.under_review, _A.update_file): _S.under_review,
    (_S.submitted, _A.withdraw): _S.withdrawn,
    (_S.under_review, _A.withdraw): _S.withdrawn,
    (_S.changes_requested, _A.withdraw): _S.withdrawn,
}
INITIAL = RequestState.submitted
FINAL = frozenset({RequestState.rejected, RequestState.released, RequestState.withdrawn})
# Once the outcome is known every vote is shown, to the stewards and the requester alike.
OUTCOME_KNOWN = frozenset({_S.approved, _S.changes_requested, _S.rejected, _S.released})
_OUTCOME_ACTION = {Vote.approve: Action.approve, Vote.request_changes: Action.request_changes,
                   Vote.reject: Action.reject}

# The project states in which its members may submit outputs.
SUBMITTABLE_PROJECT_STATES = DATA_REACHABLE
# Downloads: members get the released files; reviewers the held ones, to review them.
MEMBER_DOWNLOAD_STATES = frozenset({_S.released})
REVIEWER_DOWNLOAD_STATES = frozenset(RequestState) - {_S.withdrawn}


class WorkflowError(EnclaveError):
    """An action the request's current state does not allow, or a malformed submission or decision."""


class RequestMissing(WorkflowError, permissions.NotFound):
    """No request has this id: a workflow error to the workflow's callers, "not found" (404) to a browser."""


MACHINE = StateMachine(_TABLE, initial=INITIAL, initial_action=Action.submit, final=FINAL, error=WorkflowError)
TRANSITIONS = MACHINE.transitions
allowed_actions = MACHINE.allowed_actions
mermaid_diagram = MACHINE.mermaid


@dataclass(frozen=True)
class HeldFile:
    """A file as snapshotted into quarantine: its name in the request, hash, size and findings."""

    name: str
    sha256: str
    size: int
    findings: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] | None = None  # egress_gate.provenance.find
    context: dict[str, Any] | None = None  # the researcher's {"what", "population", "controls"}


CONTEXT_FIELDS = {"what": "what the file is", "population": "the population it describes",
                  "controls": "the disclosure controls applied"}


def missing_context(file: EgressFile) -> list[str]:
    """The context fields (:data:`CONTEXT_FIELDS`, in words) the researcher left empty for ``file``."""
    given = file.context or {}
    return [words for key, words in CONTEXT_FIELDS.items() if not str(given.get(key) or "").strip()]


def is_allowed(request: EgressRequest, action: Action) -> bool:
    return MACHINE.is_allowed(request.state, action)


def check_allowed(request: EgressRequest, action: Action) -> RequestState:
    """The state ``action`` takes ``request`` to; raises :class:`WorkflowError` if its state forbids it."""
    return MACHINE.next_state(request.state, action, f"egress request {request.id}")


def _transition(session: Session, request: EgressRequest, action: Action, actor: str,
                **details: Any) -> AuditEvent:
    old = request.state
    request.state = check_allowed(request, action)
    session.flush()
    return record(session, actor, AUDITED[action], request.project_slug, request=request.id,
                  **{"from": old, "to": request.state}, **details)


def get_request(session: Session, request_id: int, lock: bool = False) -> EgressRequest:
    """The request ``request_id``, re-read from the database; ``lock`` holds its row until commit."""
    query = select(EgressRequest).where(EgressRequest.id == request_id).execution_options(populate_existing=True)
    request = session.scalar(query.with_for_update() if lock else query)
    if request is None:
        raise RequestMissing(f"egress request {request_id} does not exist", "see the gate's list of requests")
    return request


# The states in which a request still needs a steward (a review, a vote, or the release).
QUEUE_STATES = (RequestState.submitted, RequestState.under_review, RequestState.approved)


def requests_of(session: Session, requester: str) -> list[EgressRequest]:
    """The requests ``requester`` submitted, newest first."""
    return list(session.scalars(select(EgressRequest).where(EgressRequest.requester == requester)
                                .order_by(EgressRequest.id.desc())))


def review_queue(session: Session, steward: str) -> list[EgressRequest]:
    """The requests that still need a steward and that ``steward`` may review, oldest first (none for a non-steward)."""
    pending = session.scalars(select(EgressRequest).where(EgressRequest.state.in_(QUEUE_STATES))
                              .order_by(EgressRequest.id)).all()
    return [r for r in pending if permissions.user_can_review(session, steward, r)]


# --- actions -------------------------------------------------------------------------------


def submit(session: Session, project: str, requester: str, justification: str, files: Iterable[HeldFile],
           policy_version: str = DEFAULT_POLICY.version, resubmits: EgressRequest | None = None,
           kind: RequestKind = RequestKind.files, answer: str | None = None,
           model_data: Mapping[str, Any] | None = None) -> EgressRequest:
    """Hold ``files`` (already snapshotted by the caller) for review, as a new request in ``submitted``.

    ``model_data`` (kind ``model``): the training and held-out rows' names and hashes, and the target
    column, recorded in the submission's audit event."""
    slug = project
    permissions.check_user_can_submit(session, requester, slug)
    project_row = session.scalar(select(Project).where(Project.slug == slug))
    assert project_row is not None  # a member was found, so the project exists
    if project_row.state not in SUBMITTABLE_PROJECT_STATES:
        raise WorkflowError(f"project {slug!r} is {project_row.state}: its outputs cannot be submitted",
                            "outputs leave only a provisioned or active project")
    justification = (justification or "").strip()
    if not justification:
        raise WorkflowError("an egress request needs a written justification",
                            "say what the files are and why they are safe to release")
    held = _check_files(list(files))
    stewards_required = int({**default_egress_policy(), **(project_row.egress_policy or {})}["stewards_required"])
    if stewards_required < 1:
        raise WorkflowError(f"project {slug!r} requires {stewards_required} stewards per egress request",
                            "set egress_policy.stewards_required to 1 or more in its manifest")
    request = EgressRequest(project_slug=slug, requester=requester, justification=justification,
                            kind=kind, state=INITIAL, policy_version=policy_version, stewards_required=stewards_required,
                            resubmits_id=resubmits.id if resubmits else None, answer=(answer or "").strip() or None,
                            files=[EgressFile(name=f.name, sha256=f.sha256, size=f.size, findings=f.findings,
                                              provenance=f.provenance, context=f.context) for f in held])
    session.add(request)
    session.flush()
    record(session, requester, AuditAction.egress_submit, slug, request=request.id, to=INITIAL, kind=kind,
           justification=justification, policy_version=policy_version, stewards_required=stewards_required,
           files=[{"name": f.name, "sha256": f.sha256, "size": f.size, "provenance": f.provenance} for f in held],
           **({"resubmits": resubmits.id, "answer": request.answer} if resubmits else {}),
           **({"model_data": dict(model_data)} if model_data else {}))
    return request


def _check_files(files: Sequence[HeldFile]) -> list[HeldFile]:
    if not files:
        raise WorkflowError("an egress request needs at least one file", "name the output files to release")
    names = [f.name for f in files]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WorkflowError(f"file name(s) {', '.join(duplicates)} appear twice in the request",
                            "submit each file once")
    for f in files:
        if not f.name or len(f.sha256) != 64 or any(c not in "0123456789abcdef" for c in f.sha256) or f.size < 0:
            raise WorkflowError(f"file {f.name!r} is not a snapshot (name, lower-case SHA-256, size >= 0)",
                                "snapshot it into quarantine first")
    return sorted(files, key=lambda f: f.name)


def resubmit(session: Session, request_id: int, requester: str, justification: str,
             files: Iterable[HeldFile], policy_version: str = DEFAULT_POLICY.version,
             answer: str | None = None, model_data: Mapping[str, Any] | None = None) -> EgressRequest:
    """Answer a ``changes_requested`` request with a new one, linked to it; the old one is left as it was."""
    old = get_request(session, request_id, lock=True)
    permissions.check_user_can_withdraw(session, requester, old)
    check_allowed(old, Action.resubmit)
    if session.scalar(select(EgressRequest.id).where(EgressRequest.resubmits_id == old.id)) is not None:
        raise WorkflowError(f"egress request {old.id} was already resubmitted", "follow the newer request")
    if not (answer or "").strip():
        raise WorkflowError(f"a resubmission of egress request {old.id} needs an answer to the stewards' comments",
                            "say what you changed and why, in reply to each comment")
    new = submit(session, old.project_slug, requester, justification, files, policy_version, resubmits=old,
                 kind=old.kind, answer=answer, model_data=model_data)
    _transition(session, old, Action.resubmit, requester, new_request=new.id)
    return new


def update_file(session: Session, request_id: int, requester: str, file: HeldFile) -> list[EgressDecision]:
    """Replace a file of a request still in review by new bytes; the votes cast on it are cancelled.

    Returns the cancelled decisions (deleted; the audit event lists them). The same bytes again
    change nothing and cancel nothing."""
    request = get_request(session, request_id, lock=True)
    permissions.check_user_can_withdraw(session, requester, request)
    check_allowed(request, Action.update_file)
    held = next((f for f in request.files if f.name == file.name), None)
    if held is None:
        raise WorkflowError(f"egress request {request.id} has no file {file.name!r}",
                            f"its files: {', '.join(f.name for f in request.files)}")
    _check_files([file])
    if held.sha256 == file.sha256:
        return []
    cancelled = _decisions(session, request)
    old = {"sha256": held.sha256, "size": held.size, "provenance": held.provenance}
    held.sha256, held.size, held.findings = file.sha256, file.size, file.findings
    held.provenance = file.provenance
    held.context = file.context or held.context
    for decision in cancelled:
        session.delete(decision)
    session.flush()
    _transition(session, request, Action.update_file, requester, file=file.name, old=old,
                new={"sha256": file.sha256, "size": file.size, "provenance": file.provenance},
                cancelled_votes=[{"steward": d.steward, "vote": d.vote, "reason": d.reason} for d in cancelled])
    session.expire(request, ["decisions"])
    return cancelled


def start_review(session: Session, request_id: int, steward: str) -> EgressRequest:
    """A steward takes a submitted request into review."""
    request = get_request(session, request_id, lock=True)
    permissions.check_user_can_review(session, steward, request)
    _transition(session, request, Action.start_review, steward)
    return request


def finding_key(file: str, finding: Mapping[str, Any]) -> str:
    """How an override names a finding: ``file/check`` (``file/check@part`` for a sheet or part)."""
    part = finding.get("part")
    return f"{file}/{finding.get('check')}" + (f"@{part}" if part else "")


def failing_findings(request: EgressRequest, anonymised: bool = False) -> dict[str, dict[str, Any]]:
    """The request's ``fail`` findings by :func:`finding_key` (one key per file, check and part).

    ``anonymised``: those left when the anonymised version is released — the anonymiser removes
    small counts (with secondary suppression) from the tables it handles, so those need no override."""
    return {finding_key(f.name, x): {"file": f.name, **x} for f in request.files for x in f.findings or []
            if x.get("outcome") == "fail"
            and not (anonymised and x.get("check") in ANONYMISER_RESOLVES and file_type(Path(f.name)) in ANONYMISABLE)}


def _check_overrides(request: EgressRequest, vote: Vote, overrides: Mapping[str, str] | None,
                     anonymised: bool = False) -> list[dict]:
    """The overrides to record with ``vote``: an approval must override every failing finding, with a reason."""
    given = {k: (v or "").strip() for k, v in (overrides or {}).items() if (v or "").strip()}
    failing = failing_findings(request)
    unknown = sorted(set(given) - set(failing))
    if unknown:
        raise WorkflowError(f"egress request {request.id} has no failing finding {', '.join(unknown)}",
                            f"its failing findings: {', '.join(failing) or 'none'}")
    if vote is not Vote.approve:
        return [{"finding": k, "reason": r} for k, r in given.items()]
    failing = failing_findings(request, anonymised)
    absolute = [k for k, x in failing.items() if x.get("check") in NEVER_OVERRIDDEN]
    if absolute:
        raise WorkflowError(f"egress request {request.id} is refused by {', '.join(absolute)}: no approval can release it",
                            "reject it or request changes (e.g. a model retrained with more regularisation)")
    missing = [k for k in failing if k not in given]
    if missing:
        raise WorkflowError(f"egress request {request.id} has failing finding(s) {', '.join(missing)}: an approval "
                            "must override each one, naming it and giving a reason",
                            "write an override reason for every failing finding, or request changes")
    return [{"finding": k, "file": failing[k]["file"], "check": failing[k].get("check"),
             "part": failing[k].get("part"), "reason": given[k]} for k in given]


def overridden_by_all(request: EgressRequest) -> bool:
    """Whether enough approving stewards each overrode every failing finding (true when none fails)."""
    failing_now = failing_findings(request, release_anonymised(request))
    if any(x.get("check") in NEVER_OVERRIDDEN for x in failing_now.values()):
        return False
    failing = set(failing_now)
    if not failing:
        return True
    covering = [d for d in request.decisions if d.vote is Vote.approve
                and failing <= {o.get("finding") for o in d.overrides or []}]
    return len(covering) >= request.stewards_required


def decide(session: Session, request_id: int, steward: str, vote: Vote | str, reason: str,
           anonymised: bool = False, overrides: Mapping[str, str] | None = None) -> EgressDecision:
    """Record ``steward``'s vote; when it is the last one required, apply the outcome too.

    ``anonymised`` asks that the anonymised version (cells suppressed, counts rounded) be released
    instead of the original bytes. ``overrides`` maps :func:`finding_key` to a reason: an approval
    of a request with failing findings must give one for each. Returns the decision;
    ``decision.request.state`` tells the outcome.
    """
    request = get_request(session, request_id, lock=True)
    permissions.check_user_can_review(session, steward, request)
    check_allowed(request, Action.vote)
    try:
        vote = Vote(vote)
    except ValueError:
        raise WorkflowError(f"{vote!r} is not a vote", f"vote one of: {', '.join(Vote)}") from None
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("a decision needs a written reason", "say what you checked and why you decided so")
    if any(d.steward == steward for d in _decisions(session, request)):
        raise WorkflowError(f"{steward!r} already decided on egress request {request.id}",
                            "each steward votes once; the decision stands")
    # The anonymised version is released if any approving steward asks for it, earlier votes included.
    recorded_overrides = _check_overrides(request, vote, overrides, bool(anonymised) or release_anonymised(request))
    decision = EgressDecision(request=request, steward=steward, vote=vote, reason=reason,
                              release_anonymised=bool(anonymised), overrides=recorded_overrides)
    session.add(decision)
    session.flush()
    votes = _decisions(session, request)
    record(session, steward, AuditAction.egress_vote, request.project_slug, request=request.id, vote=vote,
           reason=reason, release_anonymised=bool(anonymised), votes_in=len(votes),
           votes_required=request.stewards_required,
           **({"overrides": recorded_overrides} if recorded_overrides else {}))
    if len(votes) >= request.stewards_required:
        outcome = outcome_of([d.vote for d in votes])
        _transition(session, request, _OUTCOME_ACTION[outcome], steward,
                    votes={d.steward: d.vote for d in votes},
                    release_anonymised=any(d.release_anonymised for d in votes))
    return decision


def outcome_of(votes: Sequence[Vote]) -> Vote:
    """Any reject rejects; else any request for changes asks for them; else all approved."""
    if Vote.reject in votes:
        return Vote.reject
    if Vote.request_changes in votes:
        return Vote.request_changes
    return Vote.approve


def withdraw(session: Session, request_id: int, requester: str, reason: str | None = None) -> EgressRequest:
    """The requester takes back a request no steward has decided yet (or one sent back for changes)."""
    request = get_request(session, request_id, lock=True)
    permissions.check_user_can_withdraw(session, requester, request)
    _transition(session, request, Action.withdraw, requester, **({"reason": reason} if reason else {}))
    return request


def mark_released(session: Session, request_id: int, actor: str, ledger_hash: str) -> EgressRelease:
    """Record that an approved request's files went to the release store (ledger entry ``ledger_hash``).

    ``actor`` is the steward releasing it, who must be allowed to review it.
    """
    request = get_request(session, request_id, lock=True)
    permissions.check_user_can_review(session, actor, request)
    check_allowed(request, Action.release)
    session.refresh(request, ["decisions"])
    if not overridden_by_all(request):
        raise WorkflowError(f"egress request {request.id} has failing findings ({', '.join(failing_findings(request))}) "
                            f"that {request.stewards_required} approving steward(s) did not each override",
                            "it cannot be released; the researcher resubmits with the problem fixed")
    if len(ledger_hash) != 64:
        raise WorkflowError(f"ledger entry hash {ledger_hash!r} is not a SHA-256", "pass the ledger entry's hash")
    release = EgressRelease(request=request, released_by=actor, ledger_hash=ledger_hash)
    session.add(release)
    _transition(session, request, Action.release, actor, ledger_hash=ledger_hash,
                release_anonymised=release_anonymised(request))
    return release


def release_anonymised(request: EgressRequest) -> bool:
    """Whether the anonymised version is released: any approving steward asked for it."""
    return any(d.release_anonymised for d in request.decisions if d.vote is Vote.approve)


# --- reading, audited ----------------------------------------------------------------------


def _decisions(session: Session, request: EgressRequest) -> list[EgressDecision]:
    return list(session.scalars(select(EgressDecision).where(EgressDecision.request_id == request.id)
                                .order_by(EgressDecision.id)))


def visible_decisions(session: Session, request: EgressRequest, viewer: str) -> list[EgressDecision]:
    """The decisions ``viewer`` may see: its requester all, at once; a steward all once the outcome
    is known, until then only their own (the votes are independent)."""
    permissions.check_user_can_view(session, viewer, request)
    decisions = _decisions(session, request)
    if request.state in OUTCOME_KNOWN or viewer == request.requester:
        return decisions
    return [d for d in decisions if d.steward == viewer]


def votes_in(session: Session, request: EgressRequest) -> int:
    """How many votes are in (a count, not who voted how: safe to show to every steward)."""
    return session.scalar(select(func.count()).select_from(EgressDecision)
                          .where(EgressDecision.request_id == request.id)) or 0


def view(session: Session, request_id: int, viewer: str) -> tuple[EgressRequest, list[EgressDecision]]:
    """The request and the decisions ``viewer`` may see; the view is an audit event."""
    request = get_request(session, request_id)
    decisions = visible_decisions(session, request, viewer)
    record(session, viewer, AuditAction.egress_view, request.project_slug, request=request.id, state=request.state)
    return request, decisions


def download(session: Session, request_id: int, user: str, file_name: str) -> EgressFile:
    """Authorise and audit ``user``'s download of one file; the caller then serves its bytes.

    Members download released files; reviewers the held files of a request they may review.
    """
    request = get_request(session, request_id)
    permissions.check_user_can_download(session, user, request)
    reviewer = permissions.user_can_review(session, user, request)
    states = REVIEWER_DOWNLOAD_STATES if reviewer else MEMBER_DOWNLOAD_STATES
    if request.state not in states:
        raise WorkflowError(f"egress request {request.id} is {request.state.words}: its files cannot be downloaded",
                            "members download files once released")
    file = next((f for f in request.files if f.name == file_name), None)
    if file is None:
        raise WorkflowError(f"egress request {request.id} has no file {file_name!r}",
                            f"its files: {', '.join(f.name for f in request.files)}")
    record(session, user, AuditAction.egress_download, request.project_slug, request=request.id, file=file.name,
           sha256=file.sha256, as_reviewer=reviewer)
    return file
