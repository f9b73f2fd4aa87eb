"""Provisioning: an authorised project's manifest -> its extracts, workspace, network and registry rows.

``enclave provision SLUG`` runs :data:`STEPS` in order. Each step is idempotent and leaves the
previous state usable if the process dies during it: the registry changes in transactions, the
extract folder is swapped in whole (:mod:`pseudonymizer.publish`), the network is created once.
A re-run after a crash therefore completes the job, and a re-run with nothing changed changes
nothing (it only records that it checked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from enclave import audit, code_repository, firewall, lifecycle, networks, registry, workspace
from enclave.db import check_schema, make_engine, session_scope
from enclave.errors import EnclaveError
from enclave.layout import EXTRACTS, NOTEBOOK_GID, NOTEBOOK_UID, RETIRED_EXTRACTS, WORKSPACE, WORKSPACE_MODE, read_extract_manifest, wheelhouse_dir
from enclave.manifest import ProjectManifest, Pseudonymisation, load_manifest, manifest_path
from enclave.models import STATE_TRAITS, AuditEvent, MemberRole, Membership, Project, ProjectState, User
from enclave.settings import Settings
from pseudonymizer.catalog import read_role_file
from pseudonymizer.extract import extract
from pseudonymizer.keys import load_master_key

_MANIFEST_FIELDS = ("title", "purpose", "committee_reference", "committee_date", "cnil_reference", "cnil_date",
                    "expires_on", "data_request", "egress_policy", "resources", "billing")


@dataclass
class Job:
    """One provisioning run: what each step found or made, for the next ones and the report."""

    settings: Settings
    slug: str
    engine: Engine
    progress: bool = True
    manifest: ProjectManifest | None = None
    master_key: bytes = b""
    fingerprint: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    extract_summary: dict[str, Any] | None = None
    network: networks.ProjectNetwork | None = None
    outcome: str = ""

    @property
    def project_dir(self) -> Path:
        return self.settings.project_dir(self.slug)

    def session(self) -> Any:
        return session_scope(self.engine, self.settings.audit_head)


def _validate(job: Job) -> None:
    catalog = job.settings.load_catalog()
    with job.session() as session:
        users = set(session.scalars(select(User.username)))
        existing = session.scalar(select(Project.state).where(Project.slug == job.slug))
    job.manifest = load_manifest(manifest_path(job.settings.projects_dir, job.slug), catalog, users)
    if not job.manifest.authorised:
        raise EnclaveError(f"project {job.slug} is not authorised: its manifest has no CNIL authorisation",
                           "record approvals.cnil_reference and approvals.cnil_date once the CNIL has authorised it")
    refusal = existing and STATE_TRAITS[existing].provision_refusal
    if refusal:
        raise EnclaveError(f"project {job.slug} is {existing}: it cannot be provisioned", refusal.format(slug=job.slug))
    job.master_key = load_master_key()
    sources = job.settings.require_sources_dir()
    job.fingerprint = _fingerprint(job.manifest, job.settings.catalog, sources)


def _fingerprint(manifest: ProjectManifest, catalog: Path, sources: Path) -> str:
    """Everything an extract depends on; equal fingerprints mean the extract need not be redone."""
    files = {}
    for path in sorted(sources.glob("*")):
        if path.is_file():
            stat = path.stat()
            files[path.name] = [stat.st_size, stat.st_mtime_ns]
    basis = {"project": manifest.slug, "data": manifest.data, "catalog": hashlib.sha256(catalog.read_bytes()).hexdigest(), "sources": files}
    included = read_role_file(catalog).get("include", [])
    if included:  # the role files it reads too (the SNDS catalog: one per product)
        basis["role_files"] = {name: hashlib.sha256((catalog.parent / name).read_bytes()).hexdigest() for name in included}
    if manifest.pseudonymisation != Pseudonymisation():  # absent: the fingerprint of earlier manifests, unchanged
        basis["pseudonymisation"] = dataclasses.asdict(manifest.pseudonymisation)
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def _register(job: Job) -> None:
    """Bring the registry's project row and members in line with the manifest, each change audited."""
    m, actor = job.manifest, job.settings.actor
    assert m is not None
    with job.session() as session:
        project = session.scalar(select(Project).where(Project.slug == m.slug))
        wanted = _fields_from_manifest(m)
        if project is None:
            project = Project(slug=m.slug, principal_investigator=registry.get_user(session, m.principal_investigator), **wanted)
            registry.register_project(session, actor, project)
        else:
            changed = {name: [_plain(getattr(project, name)), _plain(value)] for name, value in wanted.items()
                       if _plain(getattr(project, name)) != _plain(value)}
            if project.principal_investigator.username != m.principal_investigator:
                changed["principal_investigator"] = [project.principal_investigator.username, m.principal_investigator]
                project.principal_investigator = registry.get_user(session, m.principal_investigator)
            if changed:
                for name in wanted:
                    setattr(project, name, wanted[name])
                audit.record(session, actor, audit.AuditAction.project_update, m.slug, manifest_sha256=m.sha256, changed=changed)
                job.changes.update(changed)
        _sync_members(session, project, m, actor, job)
        if project.state is ProjectState.requested:
            lifecycle.transition(session, project, lifecycle.Action.review, actor, f"committee opinion {m.approvals.committee_reference}")
        if project.state is ProjectState.reviewed:
            lifecycle.transition(session, project, lifecycle.Action.authorise, actor, f"CNIL authorisation {m.approvals.cnil_reference}")


def _fields_from_manifest(m: ProjectManifest) -> dict[str, Any]:
    a = m.approvals
    return {
        "title": m.title, "purpose": m.purpose,
        "committee_reference": a.committee_reference, "committee_date": a.committee_date,
        "cnil_reference": a.cnil_reference, "cnil_date": a.cnil_date, "expires_on": a.expires_on,
        "data_request": m.data, "egress_policy": m.egress, "resources": m.resources, "billing": m.billing,
        "manifest_sha256": m.sha256,
    }


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _sync_members(session: Session, project: Project, m: ProjectManifest, actor: str, job: Job) -> None:
    current = {ms.user.username: ms for ms in project.memberships}
    for name in m.members:
        role = MemberRole.pi if name == m.principal_investigator else MemberRole.member
        if name not in current:
            project.memberships.append(Membership(user=registry.get_user(session, name), role=role))
            audit.record(session, actor, audit.AuditAction.project_member_add, m.slug, username=name, role=role)
            job.changes.setdefault("members_added", []).append(name)
        elif current[name].role is not role:
            current[name].role = role
            audit.record(session, actor, audit.AuditAction.project_member_role, m.slug, username=name, role=role)
    for name, membership in current.items():
        if name not in m.members:
            project.memberships.remove(membership)
            audit.record(session, actor, audit.AuditAction.project_member_remove, m.slug, username=name)
            job.changes.setdefault("members_removed", []).append(name)
    session.flush()


def extract_evidence(project_dir: Path, folder: str = EXTRACTS) -> dict[str, Any]:
    """Each extract file's recorded hash and rows, checked against the bytes on disk."""
    manifest = read_extract_manifest(project_dir / folder)
    if manifest is None:
        return {}
    evidence = {}
    for table, entry in manifest["tables"].items():
        path = project_dir / folder / entry["output"]["file"]
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        evidence[table] = {"file": entry["output"]["file"], "sha256": entry["output"]["sha256"],
                           "rows": entry["rows_out"], "intact": actual == entry["output"]["sha256"]}
    return evidence


def _extract(job: Job) -> None:
    m = job.manifest
    assert m is not None
    previous = read_extract_manifest(job.project_dir / EXTRACTS)
    if previous and previous.get("labels", {}).get("request_fingerprint") == job.fingerprint:
        if all(e["intact"] for e in extract_evidence(job.project_dir).values()) and _on_record(job, previous):
            return  # this very request was extracted already, the files are whole, the audit log has them
    data = m.data
    chosen = m.pseudonymisation
    made = extract(
        chosen.catalog(job.settings.load_catalog()), job.settings.require_sources_dir(), m.slug, job.project_dir / EXTRACTS,
        job.master_key, key_version=data["key_version"], tables=data["tables"], columns=data["columns"],
        where=data["where"], progress=job.progress, labels={"request_fingerprint": job.fingerprint}, engine=m.extraction,
        fictive_policy=chosen.fictive_policy, status_column=chosen.status_column, nomenclatures=job.settings.nomenclatures_dir,
    )
    job.extract_summary = _summary(made)
    diff = _extract_diff(previous, made)
    job.changes["extract"] = diff
    with job.session() as session:
        audit.record(session, job.settings.actor, audit.AuditAction.project_extract, m.slug, key_version=data["key_version"],
                     engine=m.extraction.name, key_fingerprint=made["key_fingerprint"], tables=job.extract_summary, changed=diff)


def _on_record(job: Job, manifest: dict) -> bool:
    """Whether the project's last `project.extract` audit event is this extract: a run that died
    between publishing an extract and recording it leaves one that the log does not know."""
    with job.session() as session:
        recorded = session.scalar(select(AuditEvent.details).where(
            AuditEvent.project == job.slug, AuditEvent.action == audit.AuditAction.project_extract).order_by(AuditEvent.seq.desc()).limit(1))
    return recorded is not None and recorded.get("tables") == _summary(manifest)


def _summary(manifest: dict) -> dict[str, Any]:
    return {table: {"rows": e["rows_out"], "sha256": e["output"]["sha256"], "columns": [c["name"] for c in e["columns"]]}
            for table, e in manifest["tables"].items()}


def _extract_diff(previous: dict | None, current: dict) -> dict[str, Any]:
    if previous is None:
        return {"first_extract": True}
    before, after = _summary(previous), _summary(current)
    diff: dict[str, Any] = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table), after.get(table)
        if old is None or new is None:
            diff[table] = "added" if old is None else "removed"
            continue
        change = {}
        if old["rows"] != new["rows"]:
            change["rows"] = [old["rows"], new["rows"]]
        added, removed = sorted(set(new["columns"]) - set(old["columns"])), sorted(set(old["columns"]) - set(new["columns"]))
        if added:
            change["columns_added"] = added
        if removed:
            change["columns_removed"] = removed
        if old["sha256"] != new["sha256"] and not change:
            change["content"] = "changed"
        if change:
            diff[table] = change
    if previous.get("key_version") != current.get("key_version"):
        diff["key_version"] = [previous.get("key_version"), current.get("key_version")]
    return diff


def _workspace(job: Job) -> None:
    quota = job.manifest.resources.get("workspace_quota", workspace.DEFAULT_QUOTA)
    workspace.ensure(job.project_dir / WORKSPACE, quota, NOTEBOOK_UID, NOTEBOOK_GID, WORKSPACE_MODE)


def _code(job: Job) -> None:
    """The project's git repository and its (empty at first) wheelhouse, both served by the project tools."""
    code_repository.ensure(job.project_dir)
    wheelhouse_dir(job.project_dir).mkdir(mode=0o700, exist_ok=True)


def _network(job: Job) -> None:
    job.network = networks.ensure_network(job.slug)
    firewall.apply(firewall.current_openings(), job.settings.firewall_ports)


def _record(job: Job) -> None:
    """The last step: the registry says provisioned only once everything above exists."""
    actor = job.settings.actor
    with job.session() as session:
        project = registry.get_project(session, job.slug)
        details = {"fingerprint": job.fingerprint, "network": job.network.name if job.network else None, "changed": job.changes}
        if project.state is ProjectState.authorised:
            lifecycle.transition(session, project, lifecycle.Action.provision, actor, **details)
            job.outcome = "provisioned"
        elif project.provisioned_fingerprint != job.fingerprint or job.changes:
            lifecycle.transition(session, project, lifecycle.Action.reprovision, actor, **details)
            job.outcome = "re-provisioned"
        else:
            audit.record(session, actor, audit.AuditAction.project_provision_unchanged, job.slug, fingerprint=job.fingerprint)
            job.outcome = "unchanged"
        project.provisioned_fingerprint = job.fingerprint


Step = tuple[str, str, Callable[[Job], None]]
STEPS: list[Step] = [
    ("validate", "check the manifest, approvals, key and sources", _validate),
    ("register", "register the project and its members", _register),
    ("extract", "pseudonymise the authorised extracts", _extract),
    ("workspace", "create the shared workspace", _workspace),
    ("code", "create the project's git repository and wheelhouse", _code),
    ("network", "create the project's internal network and firewall it", _network),
    ("record", "record the provisioning", _record),
]


def _open(settings: Settings) -> Engine:
    engine = make_engine(settings.db_url)
    check_schema(engine)
    return engine


def provision(settings: Settings, slug: str, progress: bool = True, echo: Callable[[str], None] = print) -> Job:
    """Run every step for project ``slug``; see the module's docstring."""
    job = Job(settings=settings, slug=slug, engine=_open(settings), progress=progress)
    try:
        for i, (_, label, step) in enumerate(STEPS, 1):
            echo(f"[{i}/{len(STEPS)}] {label}")
            step(job)
    finally:
        job.engine.dispose()
    return job


def deprovision(settings: Settings, slug: str, reason: str, close: bool = False) -> dict[str, Any]:
    """Stop the project's servers, remove its network and delete its extracts, keeping the evidence
    (each file's hash and row count) in the audit log. The project goes back to ``authorised``,
    or to ``closed`` with ``close=True``. The workspace is kept; at close, the git repository is
    retired (:func:`enclave.code_repository.retire`), its branches in the audit event.

    Crash-safe: the extracts are first moved out of reach (``.extracts-retired``), then the state
    change and its evidence are committed, then the files are deleted; a re-run finishes the job."""
    action = lifecycle.Action.close if close else lifecycle.Action.deprovision
    project_dir = settings.project_dir(slug)
    retired = project_dir / RETIRED_EXTRACTS
    engine = _open(settings)
    try:
        with session_scope(engine, settings.audit_head) as session:
            project = registry.get_project(session, slug)
            if (project.state, action) not in lifecycle.TRANSITIONS:  # refused before anything is touched
                lifecycle.transition(session, project, action, settings.actor, reason)
        stopped = networks.stop_containers(slug)
        removed = networks.remove_network(slug)
        firewall.apply(firewall.current_openings(), settings.firewall_ports)
        if (project_dir / EXTRACTS).exists():
            shutil.rmtree(retired, ignore_errors=True)  # an older retirement, already on the record
            os.rename(project_dir / EXTRACTS, retired)
        evidence = extract_evidence(project_dir, RETIRED_EXTRACTS)
        code = {"repository_retired": code_repository.retire(project_dir)} if close else {}
        with session_scope(engine, settings.audit_head) as session:
            project = registry.get_project(session, slug)
            lifecycle.transition(session, project, action, settings.actor, reason, servers_stopped=stopped,
                                 network_removed=removed, extracts_deleted=evidence, **code)
            project.provisioned_fingerprint = None
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        engine.dispose()
    return {"servers_stopped": stopped, "network_removed": removed, "extracts_deleted": evidence, **code}
