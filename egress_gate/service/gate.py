"""The gate's operations over the real pieces — registry, quarantine, checks, workflow, release store.

No HTTP here: the handlers call these methods (in a worker thread) and turn the exceptions into
responses: :class:`~egress_gate.permissions.PermissionDenied` is 403, a
:class:`~egress_gate.workflow.WorkflowError` 409, an :class:`~egress_gate.errors.EgressError` 400.

Submission: the user must be a member of the project *before* any path is looked at (a
non-member cannot probe a workspace). Each path is opened with
:func:`~egress_gate.submission.open_submission` inside ``<projects_dir>/<slug>/workspace``,
snapshotted from that descriptor into the quarantine, and the checks run on the *quarantined*
bytes (exported under the file's name, since checks go by the extension) with the project's
policy and pseudonym set. Any refused path refuses the whole request, naming it.

Provenance: after the snapshot, each file's provenance is found on the gate's side from the
workspace's clone and the project's bare repository (:mod:`egress_gate.provenance`); the review
page shows stewards the code at that commit. :meth:`Gate.update_file` replaces a file of a request
under review by its new bytes, cancelling the votes cast (:func:`workflow.update_file`).

Release: done by the steward whose vote completed an approving outcome (``mark_released`` only
accepts an actor who may review the request), or later by any such steward with the release
button if it failed. Bytes come from the quarantine, re-hashed; with "release anonymised" the
table files are replaced by :func:`~egress_gate.anonymise.anonymise_table`'s output (other files
are released as they are, and the ledger says so). A release already in the ledger (a crash
between ledger and database) is not released twice: its entry's hash is recorded.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave import alarms, suspension
from enclave.audit import AuditAction, record
from enclave.db import make_engine, session_scope
from enclave.layout import repository_dir
from enclave.models import MemberSuspension, Project, User

from .. import free_text, permissions, provenance, release_record, review_summary, workflow
from ..anonymise import KINDS as ANONYMISABLE, anonymise_table
from ..check_worker import Budget, check_in_worker
from ..checks.files import refuse_type
from ..context import CheckContext, load_declared, load_pseudonyms
from ..errors import EgressError
from ..model_loading import MODEL_TYPES
from ..model_request import parse_spec, read_model_data
from ..model_worker import check_model_in_worker
from ..models import EgressRelease, EgressRequest, RequestKind, RequestState
from ..policy import DEFAULT_POLICY, Policy
from ..quarantine import Quarantine
from ..release import ReleaseStore
from ..submission import offered_files, open_submission
from ..tables import CODE_TYPES, file_type, read_tables
from .config import GateConfig
from .images import reencode
from .preview import TablePreview, table_preview

# A released file keeps its name, so it must be a name the release store accepts.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
MAX_FILES = 50
# Findings that say the file could not be read safely: no preview is attempted in the gate's process.
UNREADABLE = ("budget", "structure", "readable", "archive", "file_type")


@dataclass
class FilePreview:
    name: str
    sha256: str
    tables: list[TablePreview]
    anonymised: list[TablePreview] | None = None
    anonymised_sha256: str | None = None
    anonymised_summary: dict | None = None
    problem: str | None = None


@dataclass
class SecurityView:
    """What the security page shows: events newest first, the suspensions in force, the projects (to filter)."""

    events: list[alarms.SecurityEvent]
    suspensions: list[MemberSuspension]
    projects: list[str]


class Gate:
    def __init__(self, config: GateConfig, engine=None, budget: Budget | None = None):
        self.config = config
        self.engine = engine or make_engine(config.settings.db_url)
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.quarantine = Quarantine(config.quarantine_dir)
        self.releases = ReleaseStore(config.releases_dir)
        config.work_dir.mkdir(mode=0o700, exist_ok=True)
        self._extracts: dict[str, tuple[tuple, pa.Array, dict]] = {}  # slug -> (files' key, pseudonyms, declared)
        self._lock = threading.Lock()
        self.budget = budget or Budget.from_env()
        # Checks run in worker processes; at most this many at once, the others wait their turn.
        self._workers = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def session(self):
        with session_scope(self.engine, self.config.settings.audit_head) as session:
            yield session

    @contextmanager
    def scratch(self):
        folder = Path(tempfile.mkdtemp(prefix="work-", dir=self.config.work_dir))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def policy_for(self, project: Project) -> Policy:
        threshold = int((project.egress_policy or {}).get("small_cell_threshold", DEFAULT_POLICY.threshold))
        policy = DEFAULT_POLICY if threshold == DEFAULT_POLICY.threshold else DEFAULT_POLICY.with_overrides(threshold=threshold)
        auc = (project.egress_policy or {}).get("model_attack_auc")
        return policy if auc is None or auc == policy.model_attack_auc else policy.with_overrides(model_attack_auc=float(auc))

    def policy_for_slug(self, slug: str) -> Policy:
        with self.session() as session:
            return self.policy_for(self.project(session, slug))

    def pseudonyms(self, slug: str) -> pa.Array:
        """The project's pseudonym set, cached until an extract changes."""
        return self._extract_facts(slug)[1]

    def declared(self, slug: str) -> dict:
        """What the project's extracts declare about their columns, cached until an extract changes."""
        return self._extract_facts(slug)[2]

    def _extract_facts(self, slug: str) -> tuple:
        folder = self.config.extracts(slug)
        if not folder.is_dir():
            raise EgressError(f"project {slug!r} has no extracts folder {folder}: the identifier check cannot run",
                              "provision the project, then submit again")
        key = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.parquet")))
        with self._lock:
            cached = self._extracts.get(slug)
        if cached and cached[0] == key:
            return cached
        facts = (key, load_pseudonyms(folder), load_declared(folder))
        with self._lock:
            self._extracts[slug] = facts
        return facts

    def released_paths(self, session: Session, slug: str) -> tuple[Path, ...]:
        """The project's released files, for the differencing check."""
        released = session.scalars(select(EgressRequest).join(EgressRelease)
                                   .where(EgressRequest.project_slug == slug)).all()
        return tuple(p for r in released for f in r.files
                     if (p := self.releases.root / str(r.id) / f.name).is_file())

    def context(self, session: Session, slug: str) -> CheckContext:
        return CheckContext(pseudonyms=self.pseudonyms(slug), releases=self.released_paths(session, slug), project=slug,
                            declared=self.declared(slug))

    @staticmethod
    def project(session: Session, slug: str) -> Project:
        project = session.scalar(select(Project).where(Project.slug == slug))
        if project is None:
            raise workflow.WorkflowError(f"project {slug!r} does not exist")
        return project

    # --- who is who ----------------------------------------------------------------------

    def known_user(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise permissions.PermissionDenied(f"{username!r} is not registered in the enclave registry")
        return user

    # --- submission ----------------------------------------------------------------------

    def submit(self, username: str, slug: str, paths: list[str], justification: str, kind: str = "files",
               sources: dict[str, str] | None = None, contexts: dict[str, dict] | None = None,
               resubmits: int | None = None, answer: str | None = None,
               model: dict | None = None) -> EgressRequest:
        """Snapshot the files, check them in budgeted workers, then record the request.

        No database transaction is open while files are read or checked: the registry is read
        in one short transaction, and the request written in another (which re-checks who may
        submit). A file of a refused type or size is refused before anything is quarantined,
        naming the reason, and nothing is queued (the refusal is audited).

        ``kind`` "code": the files are patches of the project's repository (``enclave-export code``):
        only .patch and .diff files, read as text for pseudonyms, NIRs, e-mail addresses and long
        numeric literals (:func:`egress_gate.checks.code.check_code`).

        ``kind`` "model": the files are trained models (:data:`~egress_gate.model_loading.MODEL_TYPES`);
        ``model`` names the training rows, held-out rows and target column in the workspace
        (:mod:`egress_gate.model_request`); each model is loaded and attacked in a sandboxed worker
        (:func:`~egress_gate.model_worker.check_model_in_worker`).

        The justification and the paths are free text an enclave sends: each is bounded and the
        justification is checked like a text file (:mod:`egress_gate.free_text`); a failing one
        refuses the request (a 400 naming the field), audited without its text.

        Provenance: ``sources`` maps a path (as given in ``paths``) to the notebook or script that
        produced it; each file's provenance is found on the gate's side (:mod:`egress_gate.provenance`).
        ``contexts`` maps a path to ``{"what", "population", "controls"}`` (free text, checked).
        ``resubmits`` (a request id in "changes requested") with ``answer``: the new request answers it."""
        try:
            request_kind = RequestKind(kind or "files")
        except ValueError:
            raise EgressError(f"unknown request kind {kind!r}", "use files (outputs), code (enclave-export code) or model") from None
        model_spec = parse_spec(model) if request_kind is RequestKind.model else None
        if not isinstance(slug, str) or not slug:
            raise EgressError("the request names no project", "pass the project's slug")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise EgressError("the request names no files", "pass paths: a list of files in the project workspace")
        if len(paths) > MAX_FILES:
            raise EgressError(f"{len(paths)} files in one request, over the limit of {MAX_FILES}", "split it")
        if not (justification or "").strip():
            raise workflow.WorkflowError("an egress request needs a written justification",
                                         "say what the files are and why they are safe to release")
        free_text.check_length("justification", justification)
        for path in paths:
            free_text.check_length("path", path)
        sources, contexts = _per_path(sources, paths, "sources"), _per_path(contexts, paths, "contexts")
        for source in sources.values():
            free_text.check_length("path", provenance.check_source(source))
        for path, given in contexts.items():
            if not isinstance(given, dict) or set(given) - set(workflow.CONTEXT_FIELDS):
                raise EgressError(f"the context of {path} must be an object with {', '.join(workflow.CONTEXT_FIELDS)}",
                                  "say what the file is, its population and the disclosure controls applied")
            for value in given.values():
                free_text.check_length("context", value)
        if answer is not None:
            free_text.check_length("answer", answer)
        with self.session() as session:
            self.known_user(session, username)
            permissions.check_user_can_submit(session, username, slug)  # before any path is looked at
            policy = self.policy_for(self.project(session, slug))
            releases = self.released_paths(session, slug)
        if request_kind is RequestKind.code:
            policy = policy.with_overrides(allowed_types=CODE_TYPES)
        if request_kind is RequestKind.model:
            policy = policy.with_overrides(allowed_types=MODEL_TYPES)
        context = CheckContext(pseudonyms=self.pseudonyms(slug), releases=releases, project=slug,
                               declared=self.declared(slug))
        try:
            free_text.check_free_text("justification", justification, context)
            for text in [answer or ""] + [v for c in contexts.values() for v in c.values()]:
                free_text.check_free_text("answer" if text is answer else "context", text, context)
            snapshots = self.snapshot_all(slug, paths, policy)
            origins = self.provenances(slug, [(p, s[3]) for p, s in zip(paths, snapshots)], sources)
        except EgressError as exc:
            with self.session() as session:
                record(session, username, AuditAction.egress_refused, slug, paths=paths[:MAX_FILES], reason=str(exc))
            raise
        held = []
        data = self._model_data(username, slug, model_spec, context, policy) if model_spec else None
        for path, origin, (name, sha, size, _) in zip(paths, origins, snapshots):
            with self.scratch() as folder:
                copy = self.quarantine.export(sha, folder / name)
                with self._workers:
                    findings = (check_model_in_worker(copy, data, policy, self.budget, folder) if data
                                else check_in_worker(copy, policy, context, self.budget, folder))
            given = {k: str(v).strip() for k, v in (contexts.get(path) or {}).items() if str(v).strip()}
            held.append(workflow.HeldFile(name=name, sha256=sha, size=size, findings=findings, provenance=origin,
                                          context=given or None))
        with self.session() as session:
            if resubmits is not None:
                if workflow.get_request(session, int(resubmits)).project_slug != slug:  # files come from slug's workspace
                    raise EgressError(f"egress request {resubmits} is not of project {slug}",
                                      "resubmit a request from its own project's workspace")
                return workflow.resubmit(session, int(resubmits), username, justification, held, policy.version, answer,
                                         model_data=data.record() if data else None)
            return workflow.submit(session, slug, username, justification, held, policy.version, kind=request_kind,
                                   model_data=data.record() if data else None)

    def _model_data(self, username: str, slug: str, spec: dict, context: CheckContext, policy: Policy):
        """The training and held-out rows a model request names, read for its worker (refusals audited)."""
        try:
            free_text.check_free_text("name", spec["target"], context)  # a column name is text the enclave sends
            return read_model_data(self.config.workspace(slug), spec, policy.max_size_bytes)
        except EgressError as exc:
            with self.session() as session:
                record(session, username, AuditAction.egress_refused, slug, paths=[spec["training_data"], spec["holdout_data"]],
                       reason=str(exc))
            raise

    def update_file(self, username: str, request_id: int, path: str, source: str | None = None,
                    project: str | None = None) -> list:
        """Snapshot ``path`` again and put its new bytes in place of the request's file of that name;
        the votes already cast on the request are cancelled (see :func:`workflow.update_file`)."""
        free_text.check_length("path", path)
        if source is not None:
            free_text.check_length("path", provenance.check_source(source))
        with self.session() as session:
            self.known_user(session, username)
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_withdraw(session, username, request)
            workflow.check_allowed(request, workflow.Action.update_file)
            slug = request.project_slug
            if project not in (None, slug):
                raise permissions.PermissionDenied(f"egress request {request_id} is not of project {project}")
            policy = self.policy_for(self.project(session, slug))
            if request.kind is RequestKind.code:
                policy = policy.with_overrides(allowed_types=CODE_TYPES)
            releases = self.released_paths(session, slug)
            context = next((f.context for f in request.files if f.name == path.rsplit("/", 1)[-1]), None)
        checks = CheckContext(pseudonyms=self.pseudonyms(slug), releases=releases, project=slug,
                              declared=self.declared(slug))
        (name, sha, size, relative), = self.snapshot_all(slug, [path], policy)
        origin, = self.provenances(slug, [(path, relative)], {path: source} if source else {})
        with self.scratch() as folder:
            copy = self.quarantine.export(sha, folder / name)
            with self._workers:
                findings = check_in_worker(copy, policy, checks, self.budget, folder)
        with self.session() as session:
            return workflow.update_file(session, request_id, username, workflow.HeldFile(
                name=name, sha256=sha, size=size, findings=findings, provenance=origin, context=context))

    def provenances(self, slug: str, paths: list[tuple[str, str]], sources: dict[str, str]) -> list[dict]:
        """The provenance of each (path as given, path in the workspace) (:func:`egress_gate.provenance.find`)."""
        workspace = self.config.workspace(slug)
        repository = repository_dir(self.config.settings.project_dir(slug))
        return [provenance.find(repository, workspace, relative, sources.get(given)) for given, relative in paths]

    def code_of(self, slug: str, origin: dict | None) -> str | None:
        """The code a provenance names, read from the project's bare repository at its commit."""
        return provenance.code_at(repository_dir(self.config.settings.project_dir(slug)), origin)

    def snapshot_all(self, slug: str, paths: list[str], policy: Policy) -> list[tuple[str, str, int, str]]:
        """(name, sha256, size, path in the workspace) of each file, quarantined only once every file
        passed the refusals."""
        workspace = self.config.workspace(slug)
        opened = []
        try:
            for requested in paths:
                submitted = open_submission(workspace, requested, policy.max_size_bytes)
                opened.append(submitted)
                name = submitted.relative.rsplit("/", 1)[-1]
                if not _NAME.fullmatch(name) or ".." in name:
                    raise EgressError(f"{requested}: the file name {name!r} cannot be released as it is",
                                      "rename it with letters, digits, '.', '_' and '-' only")
                refuse_type(requested, name, os.pread(submitted.fd, 512, 0), policy)
            return [(s.relative.rsplit("/", 1)[-1], *self.quarantine.snapshot(s, policy.max_size_bytes), s.relative)
                    for s in opened]
        finally:
            for submitted in opened:
                submitted.close()

    # --- reading -------------------------------------------------------------------------

    def view(self, username: str, request_id: int):
        with self.session() as session:
            self.known_user(session, username)
            request = workflow.get_request(session, request_id)
            if not permissions.user_can_view(session, username, request):
                raise permissions.NotFound(f"egress request {request_id} does not exist",
                                           "see your requests at the gate's home page")
            request, decisions = workflow.view(session, request_id, username)
            reviewer = permissions.user_can_review(session, username, request)
            steward = permissions.is_steward(session, username)
            votes = workflow.votes_in(session, request)
            mine = next((str(d.vote) for d in decisions if d.steward == username), None)
            requester = username == request.requester
            newer = session.scalar(select(EgressRequest.id).where(EgressRequest.resubmits_id == request.id))
            # The code was pushed from inside the enclave: only stewards read it (the requester has it there).
            code = {f.name: self.code_of(request.project_slug, f.provenance) for f in request.files} if reviewer else {}
            return request, decisions, {"reviewer": reviewer, "steward": steward, "votes_in": votes,
                                        "requester": requester, "summary": review_summary.summarise(request),
                                        "code": code, "resubmitted_by": newer,
                                        "updatable": requester and workflow.is_allowed(request, workflow.Action.update_file),
                                        "resubmittable": requester and newer is None
                                        and workflow.is_allowed(request, workflow.Action.resubmit),
                                        "my_vote": mine, "failing": workflow.failing_findings(request),
                                        "withdrawable": username == request.requester
                                        and workflow.is_allowed(request, workflow.Action.withdraw),
                                        "justification_visible": justification_visible(request, reviewer)}

    def my_requests(self, username: str) -> list[EgressRequest]:
        with self.session() as session:
            self.known_user(session, username)
            return workflow.requests_of(session, username)

    def queue(self, username: str) -> list[EgressRequest]:
        """Requests this steward may review and that still need a steward; a non-steward is refused."""
        with self.session() as session:
            self.known_user(session, username)
            if not permissions.is_steward(session, username):
                raise permissions.PermissionDenied(f"{username!r} does not have the steward role",
                                                   "only stewards see the review queue")
            return workflow.review_queue(session, username)

    def security(self, username: str, slug: str | None = None, limit: int = 200) -> SecurityView:
        """The security events (newest first) and the suspensions in force, for a steward or an operator."""
        with self.session() as session:
            self.known_user(session, username)
            permissions.check_user_can_watch_security(session, username)
            return SecurityView(alarms.security_events(session, slug=slug, limit=limit),
                                suspension.current_suspensions(session, slug),
                                sorted(session.scalars(select(Project.slug))))

    def preview(self, username: str, request_id: int, name: str, max_rows: int | None = None) -> FilePreview:
        """A held table and its anonymised version, for a steward who may review the request (audited)."""
        max_rows = max_rows or self.config.preview_rows
        with self.session() as session:
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_review(session, username, request)
            file = next((f for f in request.files if f.name == name), None)
            if file is None:
                raise workflow.WorkflowError(f"egress request {request_id} has no file {name!r}")
            policy = self.policy_for(self.project(session, request.project_slug))
            slug = request.project_slug
            record(session, username, AuditAction.egress_preview, request.project_slug, request=request.id, file=name,
                   sha256=file.sha256)
        result = FilePreview(name, file.sha256, [])
        unread = [f["check"] for f in file.findings or [] if f.get("check") in UNREADABLE and f.get("outcome") == "fail"]
        if unread:  # the checks could not read it within budget: neither can the gate's own process, safely
            result.problem = (f"no preview: the automated checks could not read this file ({', '.join(unread)}); "
                              "download the held file to inspect it offline")
            return result
        with self.scratch() as folder:
            path = self.quarantine.export(file.sha256, folder / name)
            try:
                result.tables = [table_preview(t, part, file.findings, max_rows) for part, t in read_tables(path)]
            except EgressError as exc:
                result.problem = str(exc)
                return result
            if file_type(path) in ANONYMISABLE:
                out = folder / f"anonymised-{name}"
                try:
                    summary = anonymise_table(path, out, policy, self.declared(slug))
                except EgressError as exc:
                    result.problem = f"no anonymised version: {exc}"
                    return result
                result.anonymised = [table_preview(t, part, [], max_rows) for part, t in read_tables(out)]
                result.anonymised_sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
                result.anonymised_summary = summary.to_dict()
        return result

    def figure(self, username: str, request_id: int, name: str) -> tuple[bytes, str]:
        """A held figure re-encoded for a steward's preview (audited as a preview)."""
        with self.session() as session:
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_review(session, username, request)
            file = next((f for f in request.files if f.name == name), None)
            if file is None:
                raise workflow.WorkflowError(f"egress request {request_id} has no file {name!r}")
            record(session, username, AuditAction.egress_preview, request.project_slug, request=request.id, file=name,
                   sha256=file.sha256, reencoded=True)
            sha = file.sha256
        return reencode(file_type(Path(name)), self.quarantine.open(sha))

    def download(self, username: str, request_id: int, name: str) -> tuple[bytes, bool]:
        """(bytes, released): released bytes for members, held bytes for reviewers (audited by the workflow)."""
        with self.session() as session:
            self.known_user(session, username)
            file = workflow.download(session, request_id, username, name)
            released = file.request.state is RequestState.released
            sha = file.sha256
        if released:
            return self.releases.read(str(request_id), name), True
        return self.quarantine.open(sha), False

    # --- decisions and release -----------------------------------------------------------

    def decide(self, username: str, request_id: int, vote: str, reason: str, anonymised: bool,
               overrides: dict[str, str] | None = None) -> EgressRequest:
        with self.session() as session:
            self.known_user(session, username)
            request = workflow.get_request(session, request_id, lock=True)
            if request.state is RequestState.submitted:
                workflow.start_review(session, request_id, username)  # checks who, too
            decision = workflow.decide(session, request_id, username, vote, reason, anonymised, overrides)
            request = decision.request
        if request.state is RequestState.approved:
            self.release(username, request_id)
            with self.session() as session:
                request = workflow.get_request(session, request_id)
        return request

    def withdraw(self, username: str, request_id: int, reason: str | None) -> EgressRequest:
        with self.session() as session:
            return workflow.withdraw(session, request_id, username, free_text.check_length("reason", (reason or "").strip()) or None)

    def release(self, username: str, request_id: int) -> str:
        """Release an approved request as ``username`` (a steward who may review it); the ledger hash."""
        with self.session() as session:
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_review(session, username, request)
            workflow.check_allowed(request, workflow.Action.release)
            if not workflow.overridden_by_all(request):  # before anything reaches the release store
                raise workflow.WorkflowError(f"egress request {request_id} has failing findings not overridden by "
                                             f"{request.stewards_required} approving steward(s): it cannot be released")
            policy = self.policy_for(self.project(session, request.project_slug))
            slug = request.project_slug
            anonymised = workflow.release_anonymised(request)
            decisions = [{"steward": d.steward, "vote": str(d.vote), "reason": d.reason, "overrides": d.overrides or [],
                          "release_anonymised": d.release_anonymised, "at": d.at.isoformat()}
                         for d in request.decisions]
            files = [(f.name, f.sha256, f.findings) for f in request.files]
            policy_version = request.policy_version
            record_of_release = release_record.build(request, policy, anonymised)
        rid = str(request_id)
        entry = next((e for e in self.releases.entries() if e.request_id == rid), None)
        if entry is None:
            items, findings = [], []
            with self.scratch() as folder:
                for name, sha, file_findings in files:
                    data = self.quarantine.open(sha)
                    findings += [{"file": name, **f} for f in file_findings]
                    if anonymised and file_type(Path(name)) in ANONYMISABLE:
                        src, out = folder / name, folder / f"anonymised-{name}"
                        self.quarantine.export(sha, src)
                        summary = anonymise_table(src, out, policy, self.declared(slug))
                        data = out.read_bytes()
                        findings.append({"file": name, "check": "anonymised", "original_sha256": sha,
                                         "summary": summary.to_dict()})
                    elif anonymised:
                        findings.append({"file": name, "check": "anonymised", "original_sha256": sha,
                                         "summary": None, "note": "not a table the anonymiser handles: released as held"})
                    items.append((name, hashlib.sha256(data).hexdigest(), data))
            entry = self.releases.release(rid, items, findings, decisions,
                                          policy_version if not anonymised else f"{policy_version};anonymised:{policy.version}",
                                          record_of_release)
        with self.session() as session:
            try:
                workflow.mark_released(session, request_id, username, entry.hash)
            except workflow.WorkflowError:
                if workflow.get_request(session, request_id).state is not RequestState.released:
                    raise  # someone else recorded it meanwhile: the same ledger entry, nothing lost
        return entry.hash

    def released_hashes(self, request_id: int) -> dict[str, str]:
        entry = next((e for e in self.releases.entries() if e.request_id == str(request_id)), None)
        return {f["name"]: f["sha256"] for f in entry.files} if entry else {}

    def workspace_files(self, username: str, slug: str, limit: int = 500) -> tuple[list[str], int]:
        """The project workspace's files the submission form offers, and how many it leaves out
        (hidden files and folders such as .git and .ipynb_checkpoints, caches, types not released)."""
        with self.session() as session:
            permissions.check_user_can_submit(session, username, slug)
            policy = self.policy_for(self.project(session, slug))
        return offered_files(self.config.workspace(slug), policy.allowed_types, limit)


def _per_path(values: Any, paths: list[str], what: str) -> dict:
    """``values`` ({path: value}) checked to name only submitted paths."""
    if values in (None, {}):
        return {}
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise EgressError(f"{what} must map each submitted path to its value", f"e.g. {{\"{paths[0]}\": ...}}")
    unknown = sorted(set(values) - set(paths))
    if unknown:
        raise EgressError(f"{what} name(s) {', '.join(unknown)} not among the submitted paths", "use the paths as submitted")
    return dict(values)


# States in which a steward has reviewed the request: its justification may be shown to its requester.
REVIEWED_STATES = frozenset({RequestState.approved, RequestState.changes_requested, RequestState.rejected, RequestState.released})
JUSTIFICATION_HELD = "(held: shown once a steward has reviewed the request)"


def justification_visible(request: EgressRequest, reviewer: bool) -> bool:
    """Whether the justification may be shown: to a steward reviewing it, always; to anyone else (its
    requester) only once reviewed, and never after a withdrawal — a text the enclave wrote reaches
    the outside only after a steward has seen it."""
    return reviewer or request.state in REVIEWED_STATES


def request_json(request: EgressRequest, decisions: list, released: dict[str, str] | None = None,
                 show_justification: bool = False) -> dict[str, Any]:
    return {
        "id": request.id, "project": request.project_slug, "requester": request.requester,
        "kind": str(request.kind), "state": str(request.state),
        "state_words": request.state.words,
        "justification": request.justification if show_justification else JUSTIFICATION_HELD,
        "policy_version": request.policy_version, "stewards_required": request.stewards_required,
        "created_at": request.created_at.isoformat(),
        "resubmits": request.resubmits_id, "answer": request.answer if show_justification else None,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size, "findings": f.findings,
                   "provenance": f.provenance if show_justification else None,
                   "context": f.context if show_justification else None,
                   **({"released_sha256": released[f.name]} if released and f.name in released else {})}
                  for f in request.files],
        "decisions": [{"steward": d.steward, "vote": str(d.vote), "reason": d.reason,
                       "release_anonymised": d.release_anonymised, "at": d.at.isoformat()} for d in decisions],
        "release": ({"ledger_hash": request.release.ledger_hash, "released_by": request.release.released_by}
                    if request.release else None),
    }
