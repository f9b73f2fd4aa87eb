"""The tornado application of the project tools, and :func:`main`, which the hub runs as ``enclave-tools``.

Every handler first binds the request to the enclave server that sent it (:meth:`ToolsHandler.prepare`):
the peer address (no forwarded-for header is trusted: containers connect directly) must be a
running enclave container's, and the credentials that container's own token. The project is the
container's; a URL naming another project is refused and audited. The registry is read and
written off the event loop, in short transactions.
"""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import select
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from egress_gate.free_text import FreeTextRefused
from enclave import code_repository, packages
from enclave.audit import AuditAction, record
from enclave.db import make_engine, session_scope
from enclave.enclave_origin import EnclaveOrigins, Origin, OriginRefused
from enclave.errors import EnclaveError
from enclave.layout import CODE, extracts_dir, repository_dir, wheelhouse_dir
from enclave.models import DATA_REACHABLE, Project
from enclave.settings import Settings

from . import git_http, index

log = logging.getLogger("project_tools")
HINT = "use git, pip and enclave-package from your server: they send its own token"
MAX_BODY = 512 * 1024 * 1024  # a push's pack
# A repository is for code: past this size a push is refused (it lives on the host, outside the
# workspace's quota, and data has no business in it).
MAX_REPOSITORY = 2 * 1024 * 1024 * 1024


class Tools:
    """What the handlers share: settings, the registry, the origin lookup."""

    def __init__(self, settings: Settings, origins: EnclaveOrigins | None = None, engine=None):
        self.settings = settings
        self.origins = origins or EnclaveOrigins()
        self.engine = engine or make_engine(settings.db_url)

    def session(self):
        return session_scope(self.engine, self.settings.audit_head)

    def check_reason(self, slug: str, reason: str) -> str:
        """A package request's reason, bounded and checked like the gate checks free text
        (:mod:`egress_gate.free_text`): it is stored and shown to ops, outside the project."""
        import pyarrow as pa

        from egress_gate.context import CheckContext, load_pseudonyms
        from egress_gate.errors import EgressError
        from egress_gate.free_text import check_free_text, check_length

        check_length("reason", reason)
        try:
            pseudonyms = load_pseudonyms(extracts_dir(self.settings.project_dir(slug)))
        except EgressError:  # not provisioned: no pseudonym to find
            pseudonyms = pa.array([], pa.string())
        return check_free_text("reason", reason, CheckContext(pseudonyms=pseudonyms, project=slug))

    def project_open(self, slug: str) -> bool:
        with self.session() as session:
            state = session.scalar(select(Project.state).where(Project.slug == slug))
        return state in DATA_REACHABLE

    def refused(self, origin: Origin, reason: str, **details) -> None:
        with self.session() as session:
            record(session, origin.user or "unknown", AuditAction.tools_refused, origin.slug, reason=reason,
                   container=origin.container, **details)


async def in_thread(fn, *args, **kwargs):
    return await IOLoop.current().run_in_executor(None, lambda: fn(*args, **kwargs))


class ToolsHandler(web.RequestHandler):
    origin: Origin

    @property
    def tools(self) -> Tools:
        return self.settings["tools"]

    async def prepare(self):
        try:
            self.origin = await in_thread(self.tools.origins.resolve, self.request.remote_ip,
                                          self.request.headers.get("Authorization", ""), HINT)
        except OriginRefused as refused:
            self.fail(403, refused.message)
            return
        if not await in_thread(self.tools.project_open, self.origin.slug):
            self.fail(403, f"project {self.origin.slug} is not open: its tools are closed")

    def own_project(self, slug: str) -> bool:
        """Whether ``slug`` (from the URL) is the caller's project; a refusal is answered and audited."""
        if slug == self.origin.slug:
            return True
        IOLoop.current().run_in_executor(None, lambda: self.tools.refused(self.origin, "another project's tools",
                                                                             asked=slug, path=self.request.path))
        self.fail(403, f"this server belongs to project {self.origin.slug}: it reaches that project's repository only")
        return False

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message.rstrip("\n") + "\n")

    def write_json(self, value, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))


class GitHandler(ToolsHandler):
    """``/git/<slug>.git/<smart path>``: git http-backend on the caller's project's repository."""

    async def get(self, slug: str, path: str):
        await self.backend(slug, path)

    async def post(self, slug: str, path: str):
        await self.backend(slug, path)

    async def backend(self, slug: str, path: str):
        if not self.own_project(slug):
            return
        project_dir = self.tools.settings.project_dir(slug)
        if not (repository_dir(project_dir) / "HEAD").exists():
            self.fail(404, f"project {slug} has no repository (provision it again: enclave provision {slug})")
            return
        if path == "git-receive-pack" and await in_thread(folder_size, repository_dir(project_dir)) > MAX_REPOSITORY:
            self.fail(413, f"the project's repository is over {MAX_REPOSITORY // 2**30} GiB: pushes are refused "
                           "(a repository holds code; ask ops to look at it)")
            return
        answer = await in_thread(git_http.run_backend, project_dir / CODE, path, self.request.method,
                                 self.request.query, dict(self.request.headers), self.request.body,
                                 self.origin.user, self.request.remote_ip)
        if path == "git-receive-pack" and answer.status == 200:
            await in_thread(self.record_push, slug)
        self.set_status(answer.status)
        for name, value in answer.headers:
            self.set_header(name, value)
        self.finish(answer.body)

    def record_push(self, slug: str) -> None:
        refs = code_repository.branches(repository_dir(self.tools.settings.project_dir(slug)))
        with self.tools.session() as session:
            record(session, self.origin.user, AuditAction.code_push, slug, container=self.origin.container, refs=refs)


def folder_size(folder) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


class SimpleRootHandler(ToolsHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(index.root_page(wheelhouse_dir(self.tools.settings.project_dir(self.origin.slug))))


class SimpleProjectHandler(ToolsHandler):
    def get(self, name: str):
        wheelhouse = wheelhouse_dir(self.tools.settings.project_dir(self.origin.slug))
        page = index.project_page(wheelhouse, name, "../../wheels/")
        if page is None:
            self.fail(404, index.not_approved(name))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)


class WheelHandler(ToolsHandler):
    def get(self, filename: str):
        path = wheelhouse_dir(self.tools.settings.project_dir(self.origin.slug)) / filename
        if not index.WHEEL_NAME.match(filename) or not path.is_file():
            self.fail(404, f"no wheel {filename} in this project's index")
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(path.read_bytes())


class PackagesHandler(ToolsHandler):
    """``GET``: the project's package requests; ``POST {"name", "reason", "ecosystem"?, "version"?}``: a new one."""

    async def get(self):
        def listed():
            with self.tools.session() as session:
                return [packages.request_json(r) for r in packages.requests_of(session, self.origin.slug)]
        self.write_json({"project": self.origin.slug, "requests": await in_thread(listed)})

    async def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.fail(400, "the request body must be a JSON object: {\"name\": ..., \"reason\": ...}")
            return

        try:
            await in_thread(self.tools.check_reason, self.origin.slug, str(body.get("reason") or ""))
        except FreeTextRefused as error:
            await in_thread(self.tools.refused, self.origin, "package request reason refused", problem=error.problem)
            self.fail(400, str(error))
            return

        def ask():
            with self.tools.session() as session:
                return packages.request_json(packages.request_package(
                    session, self.origin.slug, self.origin.user, str(body.get("ecosystem") or "pypi"),
                    str(body.get("name") or ""), str(body.get("reason") or ""), str(body.get("version") or "")))
        try:
            self.write_json(await in_thread(ask), status=201)
        except EnclaveError as error:
            self.fail(400, str(error))


def make_app(tools: Tools) -> web.Application:
    slug = r"([a-z][a-z0-9-]{1,38}[a-z0-9])"
    return web.Application([
        (rf"/git/{slug}\.git/(.*)", GitHandler),
        (r"/simple/?", SimpleRootHandler),
        (r"/simple/([A-Za-z0-9._-]+)/?", SimpleProjectHandler),
        (r"/wheels/([^/]+)", WheelHandler),
        (r"/api/packages", PackagesHandler),
    ], tools=tools)


async def serve(settings: Settings) -> None:
    server = HTTPServer(make_app(Tools(settings)), xheaders=False, max_body_size=MAX_BODY)
    server.listen(settings.tools_enclave_port, "0.0.0.0")
    log.info("project tools for enclave servers on port %s", settings.tools_enclave_port)
    await asyncio.Event().wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(Settings.from_env()))

