"""The public directory: projects and the results their teams published.

Public means: no login, and only what may be shown — a project's title, public-interest summary,
purpose, holder organisation, state, dates and the datasets it uses; the names of the team
members who consented to be named; and published results. A result is a *released* egress output
(its release is in the gate's hash-chained ledger) that a member of the project chose to publish,
shown once its embargo date has passed, with the ledger entry's hash and each file's SHA-256 so
anyone holding the file can check it is what the stewards released. Nothing else of the registry
is read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from egress_gate.models import EgressRequest, RequestState as EgressState
from egress_gate.release import LedgerEntry
from enclave.audit import AuditAction, record
from enclave.membership import is_member
from enclave.models import Project, ProjectState, Purpose

from .catalogue import Catalogue
from .models import AccessRequest, Authorisation, PublishedResult
from .workflow import WorkflowError

HIDDEN_STATES = frozenset({ProjectState.requested, ProjectState.reviewed})  # not yet authorised


@dataclass
class PublicResult:
    id: int
    title: str
    description: str
    published_on: date
    ledger_hash: str
    files: list[dict]


@dataclass
class PublicProject:
    slug: str
    title: str
    summary: str
    purpose: Purpose
    holder_organisation: str
    state: str
    authorised_on: date | None
    expires_on: date | None
    datasets: list[str]
    named_members: list[dict]
    results: list[PublicResult] = field(default_factory=list)


def public_projects(session: Session, catalogue: Catalogue, today: date | None = None) -> list[PublicProject]:
    today = today or date.today()
    requests = {a.project_slug: a for a in session.scalars(select(Authorisation).where(
        Authorisation.granted.is_(True), Authorisation.project_slug.is_not(None)))}
    shown: dict[str, PublicProject] = {}
    for project in session.scalars(select(Project).order_by(Project.slug)):
        if project.state in HIDDEN_STATES:
            continue
        authorisation = requests.get(project.slug)
        request = authorisation.request if authorisation else None
        shown[project.slug] = PublicProject(
            slug=project.slug, title=project.title, summary=request.summary if request else "",
            purpose=project.purpose, holder_organisation=request.holder_organisation if request else "",
            state=project.state.value, authorised_on=project.cnil_date, expires_on=project.expires_on,
            datasets=_datasets(catalogue, project.data_request.get("tables", [])),
            named_members=_named(request))
    for slug, authorisation in requests.items():
        if slug in shown:
            continue
        request = authorisation.request  # authorised, its enclave not yet prepared
        shown[slug] = PublicProject(
            slug=slug, title=request.title, summary=request.summary, purpose=request.purpose,
            holder_organisation=request.holder_organisation, state="authorised",
            authorised_on=authorisation.decided_on, expires_on=authorisation.valid_until,
            datasets=_datasets(catalogue, request.data.get("tables", [])), named_members=_named(request))
    for result in session.scalars(select(PublishedResult).order_by(PublishedResult.at)):
        if result.project_slug in shown and (result.embargo_until is None or result.embargo_until <= today):
            shown[result.project_slug].results.append(PublicResult(
                id=result.id, title=result.title, description=result.description,
                published_on=max(result.at.date(), result.embargo_until or result.at.date()),
                ledger_hash=result.ledger_hash, files=result.files))
    return sorted(shown.values(), key=lambda p: p.slug)


def _datasets(catalogue: Catalogue, tables: list[str]) -> list[str]:
    keys = []
    for table in tables:
        entry = catalogue.tables.get(table)
        if entry and entry.dataset not in keys:
            keys.append(entry.dataset)
    return keys


def _named(request: AccessRequest | None) -> list[dict]:
    if request is None:
        return []
    return [{"name": m["name"], "role": m.get("role", ""), "organisation": m.get("organisation", "")}
            for m in request.team if m.get("public")]


# --- publishing ---------------------------------------------------------------------------------

def publishable(session: Session, username: str) -> list[EgressRequest]:
    """Released outputs of the user's projects not yet published."""
    published = set(session.scalars(select(PublishedResult.egress_request_id)))
    released = session.scalars(select(EgressRequest).where(EgressRequest.state == EgressState.released)
                               .order_by(EgressRequest.id))
    return [r for r in released if r.id not in published and is_member(session, username, r.project_slug)]


def publish(session: Session, actor: str, egress_request_id: int, title: str, description: str,
            embargo_until: date | None, ledger: list[LedgerEntry]) -> PublishedResult:
    """A project member publishes one released output; the files and hash come from the release ledger."""
    request = session.get(EgressRequest, egress_request_id)
    if request is None:
        raise WorkflowError(f"egress request {egress_request_id} does not exist", "pick one of your released outputs")
    if not is_member(session, actor, request.project_slug):
        from .permissions import PermissionDenied
        raise PermissionDenied(f"{actor!r} is not a member of project {request.project_slug!r}",
                               "only the project's team publishes its results")
    if request.state is not EgressState.released or request.release is None:
        raise WorkflowError(f"egress request {request.id} is {request.state}, not released",
                            "only what the stewards released can be published")
    if session.scalar(select(PublishedResult.id).where(PublishedResult.egress_request_id == request.id)):
        raise WorkflowError(f"egress request {request.id} is already published")
    entry = next((e for e in ledger if e.hash == request.release.ledger_hash), None)
    if entry is None or entry.request_id != str(request.id):
        raise WorkflowError(f"the release ledger has no entry {request.release.ledger_hash[:12]}… for egress "
                            f"request {request.id}", "check the ledger with the stewards before publishing")
    title = title.strip()
    if not title:
        raise WorkflowError("a published result needs a title", "e.g. 'Table 2: readmissions by age band'")
    result = PublishedResult(egress_request_id=request.id, project_slug=request.project_slug, title=title,
                             description=description.strip(), embargo_until=embargo_until,
                             ledger_hash=entry.hash, published_by=actor,
                             files=[{"name": f["name"], "sha256": f["sha256"], "size": f["size"]}
                                    for f in entry.files])
    session.add(result)
    session.flush()
    record(session, actor, AuditAction.result_publish, request.project_slug, egress_request_id=request.id,
           ledger_hash=entry.hash, embargo_until=embargo_until, title=title)
    return result
