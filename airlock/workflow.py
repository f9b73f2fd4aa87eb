"""The import workflow: the one module that changes an import's state, each change with its audit event.

The allowed moves are one table, :data:`TRANSITIONS` ((state, action) -> new state)::

    draft --submit--> submitted --scan (clean)--> scanned --vote--> in review --approve--> approved
                                \\--scan (a failing finding)--> blocked by scan       \\--reject--> rejected

A scanned import may be scanned again before its first vote (``enclave import scan``: e.g. once ops
have installed malware signatures); a ``submitted`` one whose background scan failed likewise.

A ``fail`` finding of the scan blocks the import: stewards never see it (nothing to outvote).
``stewards_required`` is the project's egress policy's (the same N independent stewards as for
exports); any rejecting vote rejects. The last approving vote publishes the files read-only at
``~/imports`` (:mod:`airlock.publish`) in the same transaction as the state change.
The scan itself runs outside any transaction (:func:`files_to_scan`, then :func:`record_scan`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.errors import EnclaveError
from enclave.layout import import_quarantine_dir
from enclave.models import DATA_REACHABLE, Project, default_egress_policy
from enclave.state_machine import StateMachine

from . import permissions
from .models import ImportDecision, ImportFile, ImportRequest, ImportState, ImportVote
from .publish import publish
from .scan import blocked
from .staging import Staged


class WorkflowError(EnclaveError):
    """An action the import's state does not allow, or an incomplete request."""


class ImportMissing(WorkflowError, permissions.NotFound):
    """No import of that number: a 404 on the web, not a state conflict."""


class Action(StrEnum):
    add_file = "add_file"
    submit = "submit"
    scan = "scan"  # the scan found nothing failing
    block = "block"  # the scan found something failing: stewards never see it
    vote = "vote"
    approve = "approve"
    reject = "reject"


S = ImportState
MACHINE = StateMachine({
    (S.draft, Action.add_file): S.draft,
    (S.draft, Action.submit): S.submitted,
    (S.submitted, Action.scan): S.scanned,
    (S.submitted, Action.block): S.blocked,  # the scan's outcome decides which (record_scan)
    (S.scanned, Action.vote): S.in_review,
    (S.scanned, Action.scan): S.scanned,  # scanned again before any vote (e.g. once signatures are installed)
    (S.scanned, Action.block): S.blocked,
    (S.in_review, Action.vote): S.in_review,
    (S.in_review, Action.approve): S.approved,
    (S.in_review, Action.reject): S.rejected,
}, initial=S.draft, final={S.approved, S.rejected, S.blocked}, error=WorkflowError)
TRANSITIONS = MACHINE.transitions
mermaid_diagram = MACHINE.mermaid


def check_allowed(request: ImportRequest, action: Action) -> ImportState:
    """The state ``action`` takes ``request`` to; raises :class:`WorkflowError` if its state forbids it."""
    return MACHINE.next_state(request.state, action, f"import {request.id}")


def get_request(session: Session, request_id: int) -> ImportRequest:
    request = session.get(ImportRequest, request_id)
    if request is None:
        raise ImportMissing(f"no import {request_id}", "see `enclave import list`")
    return request


def create(session: Session, slug: str, requester: str, purpose: str) -> ImportRequest:
    """A draft import into project ``slug``; files are then added (:func:`add_file`) and it is submitted."""
    permissions.check_user_can_submit(session, requester, slug)
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None or project.state not in DATA_REACHABLE:
        raise WorkflowError(f"project {slug!r} is not open: data is imported into a provisioned or active project")
    purpose = (purpose or "").strip()
    if not purpose:
        raise WorkflowError("an import needs a purpose", "say what the data is and what the analysis needs it for")
    required = int({**default_egress_policy(), **(project.egress_policy or {})}["stewards_required"])
    request = ImportRequest(project_slug=slug, requester=requester, purpose=purpose, state=S.draft,
                            stewards_required=max(required, 1))
    session.add(request)
    session.flush()
    record(session, requester, AuditAction.import_create, slug, request=request.id, purpose=purpose)
    return request


def add_file(session: Session, request_id: int, actor: str, staged: Staged, project_dir: Path) -> ImportFile:
    """Move a completed upload into the import's quarantine folder (one rename) and record it."""
    request = get_request(session, request_id)
    check_allowed(request, Action.add_file)
    if actor != request.requester or staged.request_id != request.id:
        raise permissions.PermissionDenied(f"{actor!r} may not add files to import {request.id}",
                                           f"only its requester ({request.requester}) may")
    if any(f.name == staged.name for f in request.files):
        raise WorkflowError(f"import {request.id} already has a file {staged.name!r}", "rename one of them")
    folder = import_quarantine_dir(project_dir) / str(request.id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(staged.path, folder / staged.name)
    os.chmod(folder / staged.name, 0o444)
    file = ImportFile(request=request, name=staged.name, sha256=staged.sha256, size=staged.size, findings=[])
    session.add(file)
    session.flush()
    record(session, actor, AuditAction.import_add_file, request.project_slug, request=request.id, file=staged.name,
           sha256=staged.sha256, size=staged.size)
    return file


def submit(session: Session, request_id: int, actor: str) -> ImportRequest:
    request = get_request(session, request_id)
    if actor != request.requester:
        raise permissions.PermissionDenied(f"{actor!r} did not create import {request.id}",
                                           f"only its requester ({request.requester}) may submit it")
    request.state = check_allowed(request, Action.submit)
    if not request.files:
        raise WorkflowError(f"import {request.id} has no file", "upload at least one file, then submit")
    record(session, actor, AuditAction.import_submit, request.project_slug, request=request.id,
           files=[{"name": f.name, "sha256": f.sha256, "size": f.size} for f in request.files])
    return request


def files_to_scan(session: Session, request_id: int, project_dir: Path) -> dict[str, Path]:
    request = get_request(session, request_id)
    check_allowed(request, Action.scan)
    folder = import_quarantine_dir(project_dir) / str(request.id)
    return {f.name: folder / f.name for f in request.files}


def record_scan(session: Session, request_id: int, actor: str, findings: dict[str, list[dict]]) -> ImportRequest:
    """Store each file's findings; the import is scanned, or blocked by scan if any finding fails."""
    request = get_request(session, request_id)
    check_allowed(request, Action.scan)
    missing = {f.name for f in request.files} - set(findings)
    if missing:
        raise WorkflowError(f"import {request.id}: no scan result for {', '.join(sorted(missing))}")
    for file in request.files:
        file.findings = findings[file.name]
    request.state = check_allowed(request, Action.block if any(blocked(f) for f in findings.values()) else Action.scan)
    record(session, actor, AuditAction.import_scan, request.project_slug, request=request.id, state=request.state,
           outcomes={name: sorted({x["check"] for x in f if x["outcome"] != "pass"}) for name, f in findings.items()})
    return request


def decide(session: Session, request_id: int, steward: str, vote: ImportVote | str, reason: str,
           project_dir: Path) -> ImportDecision:
    """Record ``steward``'s vote; a reject rejects, the last approval required approves and publishes."""
    request = get_request(session, request_id)
    permissions.check_user_can_review(session, steward, request)
    request.state = check_allowed(request, Action.vote)
    try:
        vote = ImportVote(vote)
    except ValueError:
        raise WorkflowError(f"{vote!r} is not a vote", "vote approve or reject") from None
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("a decision needs a written reason", "say what you checked and why you decided so")
    if any(d.steward == steward for d in request.decisions):
        raise WorkflowError(f"{steward!r} already decided on import {request.id}", "each steward votes once")
    decision = ImportDecision(request=request, steward=steward, vote=vote, reason=reason)
    session.add(decision)
    session.flush()
    approvals = sum(d.vote is ImportVote.approve for d in request.decisions)
    record(session, steward, AuditAction.import_vote, request.project_slug, request=request.id, vote=vote, reason=reason,
           approvals=approvals, required=request.stewards_required)
    if vote is ImportVote.reject:
        request.state = check_allowed(request, Action.reject)
        record(session, steward, AuditAction.import_reject, request.project_slug, request=request.id, reason=reason)
    elif approvals >= request.stewards_required:
        request.state = check_allowed(request, Action.approve)
        published = publish(session, request, project_dir)
        # What the stewards accepted: every finding of the scan that was not a plain pass (e.g. "no malware
        # signatures"), per file, as they saw it.
        accepted = {f.name: [x for x in f.findings if x["outcome"] != "pass"] for f in request.files}
        record(session, steward, AuditAction.import_approve, request.project_slug, request=request.id,
               stewards=[d.steward for d in request.decisions], published=published, accepted_findings=accepted)
    return decision


def requests_of(session: Session, slug: str | None = None, state: str | None = None) -> list[ImportRequest]:
    query = select(ImportRequest).order_by(ImportRequest.id)
    if slug:
        query = query.where(ImportRequest.project_slug == slug)
    if state:
        query = query.where(ImportRequest.state == ImportState(state))
    return list(session.scalars(query))


def requests_by(session: Session, requester: str) -> list[ImportRequest]:
    """The imports ``requester`` started, newest first."""
    return list(session.scalars(select(ImportRequest).where(ImportRequest.requester == requester)
                                .order_by(ImportRequest.id.desc())))


# The states in which an import awaits the stewards' votes.
REVIEW_STATES = (ImportState.scanned, ImportState.in_review)


def review_queue(session: Session, steward: str) -> list[ImportRequest]:
    """The scanned imports awaiting a vote that ``steward`` may review, oldest first (none for a non-steward)."""
    pending = session.scalars(select(ImportRequest).where(ImportRequest.state.in_(REVIEW_STATES))
                              .order_by(ImportRequest.id)).all()
    return [r for r in pending if permissions.user_can_review(session, steward, r)]
