"""The import airlock's pages and API on the gate service (outside the enclave, through the hub's proxy).

A member uploads files into their project's import quarantine from the browser with a resumable
protocol (:mod:`airlock.staging`): create the import, open an upload per file, ``PUT`` chunks at
offsets (after a dropped connection, ``GET`` the upload for its offset and go on), complete it
(hashed, moved into the quarantine in one rename), then submit. The scan runs in the background
(:func:`airlock.scan_worker.scan_in_worker`, one at a time per gate), outside any transaction.
Stewards vote on the Imports page. The workflow is :mod:`airlock.workflow`'s; nothing here
changes a state itself.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from tornado import web
from tornado.ioloop import IOLoop

from airlock import permissions, staging, workflow
from airlock.config import ScanConfig
from airlock.models import ImportState
from airlock.scan_worker import scan_in_worker
from enclave.errors import EnclaveError
from enclave.membership import project_slugs_of
from enclave.shell import service as kit

from .handlers import ApiHandler, BaseHandler, Refused

log = logging.getLogger("egress_gate.service.imports")
SCRIPT = Path(__file__).resolve().parent / "templates" / "imports.js"
IMPORTS_CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_CHUNK = 16 << 20
_scan_lock = threading.Lock()  # one scan at a time: a 2-core host keeps a core for everyone else


STATUS = {permissions.NotFound: 404, permissions.PermissionDenied: 403, workflow.WorkflowError: 409, EnclaveError: 400}


async def refusing(fn):
    """``fn()`` off the event loop, the airlock's refusals turned into HTTP answers."""
    return await kit.in_thread(STATUS, fn)


class ImportsBase(BaseHandler):
    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Content-Security-Policy", IMPORTS_CSP)

    def project_dir(self, slug: str) -> Path:
        return self.gate.config.settings.project_dir(slug)

    def own_draft(self, request_id: int) -> tuple[str, Path]:
        """The project of a draft import of the current user (its uploads are theirs alone)."""
        with self.gate.session() as session:
            request = workflow.get_request(session, request_id)
            if request.requester != self.username:
                raise permissions.NotFound(f"no import {request_id} of {self.username!r}")
            workflow.check_allowed(request, workflow.Action.add_file)
            return request.project_slug, self.project_dir(request.project_slug)

    def upload_of(self, request_id: int, token: str) -> Path:
        _, project_dir = self.own_draft(request_id)
        if staging.meta(project_dir, token)["request"] != request_id:
            raise permissions.NotFound(f"no upload {token} in import {request_id}")
        return project_dir

    def write_json(self, value: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))


class ImportsApi(ImportsBase):
    """The upload API: a hub token or the page's XSRF header, as the gate's own API (:class:`ApiHandler`)."""

    api = True
    body_json = ApiHandler.body_json

    def check_xsrf_cookie(self):
        """As :meth:`ApiHandler.check_xsrf_cookie`: a hub token needs no XSRF token; the page sends its
        XSRF token in the ``X-XSRFToken`` header, checked like a form's."""
        if self.request.headers.get("Authorization"):
            self.current_user  # noqa: B018 - identifying marks a token-authenticated request
        if getattr(self, "_token_authenticated", False):
            return
        super().check_xsrf_cookie()

    def get_login_url(self):
        raise web.HTTPError(403, "log in to the hub first, or authenticate with a hub token")


class ImportsPage(ImportsBase):
    @web.authenticated
    async def get(self):
        def load():
            with self.gate.session() as session:
                mine = workflow.requests_by(session, self.username)
                review = workflow.review_queue(session, self.username)
                return {"projects": project_slugs_of(session, self.username), "mine": mine, "review": review}
        self.render_page("imports.html", **await refusing(load))


class ImportsScript(ImportsBase):
    def get(self):
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.finish(SCRIPT.read_bytes())


class ApiImports(ImportsApi):

    @web.authenticated
    async def post(self):
        body = self.body_json()

        def create():
            with self.gate.session() as session:
                return workflow.create(session, str(body.get("project", "")), self.username,
                                       str(body.get("purpose", ""))).id
        self.write_json({"id": await refusing(create)}, 201)


class ApiUploads(ImportsApi):

    @web.authenticated
    async def post(self, request_id: str):
        body = self.body_json()

        def begin():
            _, project_dir = self.own_draft(int(request_id))
            return staging.begin(project_dir, int(request_id), str(body.get("name", "")), int(body.get("size", -1)))
        self.write_json({"token": await refusing(begin), "offset": 0}, 201)


class ApiUpload(ImportsApi):

    @web.authenticated
    async def get(self, request_id: str, token: str):
        def where():
            return staging.offset(self.upload_of(int(request_id), token), token)
        self.write_json({"offset": await refusing(where)})

    @web.authenticated
    async def put(self, request_id: str, token: str):
        if len(self.request.body) > MAX_CHUNK:
            raise Refused(413, f"a chunk over {MAX_CHUNK >> 20} MiB: send smaller chunks")
        try:
            at = int(self.get_query_argument("offset"))
        except (web.MissingArgumentError, ValueError):
            raise Refused(400, "a chunk needs ?offset=N, where it starts in the file") from None

        def append():
            return staging.append(self.upload_of(int(request_id), token), token, at, [self.request.body])
        self.write_json({"offset": await refusing(append)})


class ApiUploadComplete(ImportsApi):

    @web.authenticated
    async def post(self, request_id: str, token: str):
        def complete():
            project_dir = self.upload_of(int(request_id), token)
            staged = staging.complete(project_dir, token)
            with self.gate.session() as session:
                file = workflow.add_file(session, int(request_id), self.username, staged, project_dir)
                done = {"name": file.name, "size": file.size, "sha256": file.sha256}
            staging.discard(project_dir, token)
            return done
        self.write_json(await refusing(complete))


class ApiSubmit(ImportsApi):

    @web.authenticated
    async def post(self, request_id: str):
        def submit():
            with self.gate.session() as session:
                request = workflow.submit(session, int(request_id), self.username)
                return request.project_slug
        slug = await refusing(submit)
        IOLoop.current().run_in_executor(None, scan_import, self.gate, int(request_id), slug, self.username)
        self.write_json({"id": int(request_id), "state": ImportState.submitted.words})


class ApiImport(ImportsApi):

    @web.authenticated
    async def get(self, request_id: str):
        def view():
            with self.gate.session() as session:
                request = workflow.get_request(session, int(request_id))
                permissions.check_user_can_view(session, self.username, request)
                return {"id": request.id, "project": request.project_slug, "state": request.state.value,
                        "state_words": request.state.words, "purpose": request.purpose,
                        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256, "findings": f.findings}
                                  for f in request.files]}
        self.write_json(await refusing(view))


class ImportDecision(ImportsBase):
    @web.authenticated
    async def post(self, request_id: str):
        def decide():
            with self.gate.session() as session:
                request = workflow.get_request(session, int(request_id))
                workflow.decide(session, int(request_id), self.username, self.get_argument("vote", ""),
                                self.get_argument("reason", ""), self.project_dir(request.project_slug))
        await refusing(decide)
        self.redirect(self.url("imports"))


def scan_import(gate, request_id: int, slug: str, actor: str) -> None:
    """Scan a submitted import's files and record the outcome (in a thread of the gate's executor)."""
    project_dir = gate.config.settings.project_dir(slug)
    try:
        with gate.session() as session:
            paths = workflow.files_to_scan(session, request_id, project_dir)
        with _scan_lock:
            config = ScanConfig.from_env()
            findings = {name: scan_in_worker(path, config, gate.config.work_dir) for name, path in paths.items()}
        with gate.session() as session:
            workflow.record_scan(session, request_id, actor, findings)
    except Exception:  # noqa: BLE001 — logged; the import stays submitted and `enclave import` can rescan
        log.exception("scan of import %s failed", request_id)


def routes(p: str) -> list:
    return [
        (p + "imports", ImportsPage),
        (p + "imports.js", ImportsScript),
        (p + r"imports/(\d+)/decision", ImportDecision),
        (p + "api/imports", ApiImports),
        (p + r"api/imports/(\d+)", ApiImport),
        (p + r"api/imports/(\d+)/uploads", ApiUploads),
        (p + r"api/imports/(\d+)/uploads/([A-Za-z0-9_-]+)", ApiUpload),
        (p + r"api/imports/(\d+)/uploads/([A-Za-z0-9_-]+)/complete", ApiUploadComplete),
        (p + r"api/imports/(\d+)/submit", ApiSubmit),
    ]
