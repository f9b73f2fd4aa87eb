"""Recording the authority's decision on an approved request, and generating the project manifest.

An authorisation (number, date, validity end, the decision document) turns an approved request
into ``<projects_dir>/<slug>.toml``: the manifest ``make provision PROJECT=<slug>`` reads,
generated from the request — title, purpose, the applicant as principal investigator, the team's
registered users as members, the committee's and the authority's references, the expiry from the
authorisation's validity end, and the data in the same vocabulary (tables, columns, row filters,
the period as filters). Nothing is retyped.

The manifest is validated by :func:`enclave.manifest.load_manifest` before it is put in place
(created, never overwritten: a second authorisation, or a slug already taken, is refused), and
removed again if the registry's transaction rolls back. The decision document is stored under
``decisions/<sha256>`` (mode 0400), its hash in the registry and the audit log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import date
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.manifest import ManifestError, load_manifest, manifest_path
from enclave.models import SLUG_PATTERN, Project, User
from pseudonymizer.catalog import Catalog

from . import permissions
from .models import AccessRequest, Authorisation, RequestState
from .workflow import Action, WorkflowError, period_filters, transition

MAX_DOCUMENT = 20 * 1024 * 1024
COMMITTEE_REFERENCE = "COMMITTEE-{id}"


def suggested_slug(request: AccessRequest) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", request.title.lower()).strip("-").split("-")
    slug = "-".join(words[:4])[:34].strip("-") or "project"
    return slug if slug[0].isalpha() else f"p-{slug}"


def store_document(decisions_dir: Path, data: bytes) -> str:
    """Content-addressed, read-only copy of the decision document; returns its sha256."""
    if not data:
        raise WorkflowError("the decision document is empty", "attach the authority's decision (PDF)")
    if len(data) > MAX_DOCUMENT:
        raise WorkflowError(f"the decision document is {len(data):,} bytes", f"keep it under {MAX_DOCUMENT:,}")
    digest = hashlib.sha256(data).hexdigest()
    decisions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = decisions_dir / digest
    if not final.exists():
        fd, tmp = tempfile.mkstemp(dir=decisions_dir, prefix=".doc-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o400)
        os.replace(tmp, final)
    return digest


def read_document(decisions_dir: Path, digest: str) -> bytes:
    """The stored decision document of ``digest``, refused if missing or no longer matching its hash."""
    path = decisions_dir / digest
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowError(f"the decision document {digest[:12]}… is missing from {decisions_dir}",
                            "restore the folder from its backup") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise WorkflowError(f"the decision document {path} no longer matches its recorded sha256",
                            "restore it from its backup; it was changed on disk")
    return data


def record_decision(session: Session, actor: str, request: AccessRequest, *, granted: bool, number: str,
                    decided_on: date, valid_until: date | None, document: bytes, document_name: str,
                    decisions_dir: Path, projects_dir: Path, catalog: Catalog, slug: str = "") -> Authorisation:
    """Record the authority's decision; for an authorisation, generate the project's manifest."""
    permissions.check_user_is_staff(session, actor)
    if request.state is not RequestState.approved:
        raise WorkflowError(f"access request {request.id} is {request.state}: only a request the committee "
                            "approved goes to the authority")
    number = number.strip()
    if not number:
        raise WorkflowError("the decision has no number", "copy the authority's reference, e.g. DR-2026-101")
    if decided_on > date.today():
        raise WorkflowError(f"the decision date {decided_on} is in the future", "check the date")
    authorisation = Authorisation(request_id=request.id, granted=granted, number=number, decided_on=decided_on,
                                  valid_until=valid_until, document_name=Path(document_name or "decision").name,
                                  document_sha256="", recorded_by=actor)
    if granted:
        if valid_until is None or valid_until <= date.today():
            raise WorkflowError(f"the authorisation's validity ends {valid_until or 'nowhere'}",
                                "give the validity end written in the decision (a future date)")
        slug = (slug or suggested_slug(request)).strip()
        if not SLUG_PATTERN.match(slug):
            raise WorkflowError(f"project slug {slug!r} is not valid", "use 3-40 lower-case letters, digits and "
                                "'-', starting with a letter")
        if session.scalar(select(Project.id).where(Project.slug == slug)) is not None:
            raise WorkflowError(f"project slug {slug!r} is taken", "choose another")
    authorisation.document_sha256 = store_document(decisions_dir, document)
    if granted:
        path, sha = write_manifest(session, request, authorisation, slug, projects_dir, catalog)
        authorisation.project_slug, authorisation.manifest_sha256 = slug, sha
        event.listen(session, "after_rollback", lambda _s: path.unlink(missing_ok=True), once=True)
    session.add(authorisation)
    session.flush()
    transition(session, request, Action.authorise if granted else Action.refuse, actor, number=number,
               decided_on=decided_on, valid_until=valid_until, document_sha256=authorisation.document_sha256,
               project=authorisation.project_slug, manifest_sha256=authorisation.manifest_sha256)
    return authorisation


def manifest_text(request: AccessRequest, authorisation: Authorisation, slug: str, members: list[str]) -> str:
    data = request.data
    where = list(data.get("where") or []) + period_filters(data)
    committee_date = (request.decided_at.date() if request.decided_at else authorisation.decided_on)

    def s(value: str) -> str:  # a TOML basic string (JSON's escapes are TOML's)
        return json.dumps(value, ensure_ascii=False)

    def a(values: list[str]) -> str:
        return "[" + ", ".join(s(v) for v in values) + "]"

    return "\n".join([
        f"# Generated by the portal from access request {request.id}, authorised by decision "
        f"{authorisation.number}. Edit the request, not this file.",
        f"slug = {s(slug)}",
        f"title = {s(request.title)}",
        f"purpose = {s(request.purpose.value)}",
        f"principal_investigator = {s(request.applicant)}",
        f"members = {a(members)}",
        "",
        "[approvals]",
        f"committee_reference = {s(COMMITTEE_REFERENCE.format(id=request.id))}",
        f"committee_date = {committee_date.isoformat()}",
        f"cnil_reference = {s(authorisation.number)}",
        f"cnil_date = {authorisation.decided_on.isoformat()}",
        f"expires_on = {authorisation.valid_until.isoformat()}",
        "",
        "[data]",
        f"tables = {a(list(data['tables']))}",
        f"columns = {a(list(data.get('columns') or []))}",
        f"where = {a(where)}",
        "key_version = 1",
        "",
    ])


def write_manifest(session: Session, request: AccessRequest, authorisation: Authorisation, slug: str,
                   projects_dir: Path, catalog: Catalog) -> tuple[Path, str]:
    """Write, validate, then link the manifest into place (never over an existing one)."""
    registered = set(session.scalars(select(User.username)))
    members = [request.applicant] + [m["username"] for m in request.team
                                     if m.get("username") and m["username"] != request.applicant]
    unknown = [name for name in members if name not in registered]
    if unknown:
        raise WorkflowError(f"team member(s) {', '.join(unknown)} are not registered users",
                            "register them (enclave user add NAME --role researcher), then record the decision")
    final = manifest_path(projects_dir, slug)
    if final.exists():
        raise WorkflowError(f"a manifest already exists at {final}", "choose another project slug")
    projects_dir.mkdir(parents=True, exist_ok=True)
    text = manifest_text(request, authorisation, slug, members)
    with tempfile.TemporaryDirectory(dir=projects_dir, prefix=".portal-") as scratch:
        draft = Path(scratch) / f"{slug}.toml"
        draft.write_text(text, encoding="utf-8")
        try:
            manifest = load_manifest(draft, catalog, registered)
        except ManifestError as exc:
            raise WorkflowError(f"the generated manifest is not valid: {exc.problem}",
                                exc.hint or "fix the request's data") from None
        try:
            os.link(draft, final)  # fails if another manifest appeared meanwhile
        except FileExistsError:
            raise WorkflowError(f"a manifest already exists at {final}", "choose another project slug") from None
    record(session, authorisation.recorded_by, AuditAction.access_request_manifest, slug, request_id=request.id,
           path=final, manifest_sha256=manifest.sha256)
    return final, manifest.sha256
