"""The gate's pages and API. Every handler is HubOAuthenticated; the work is :class:`~.gate.Gate`'s.

Pages render Jinja2 templates with autoescaping on; every form carries the XSRF token, and
tornado checks it on every POST (``xsrf_cookies=True``; JupyterHub's check, bound to the login).
The API answers JSON and is meant for hub tokens (``Authorization: token …``), which need no XSRF
token; a browser cookie on the API is XSRF-checked like a form.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from tornado import web

from enclave.enclave_origin import Origin, OriginRefused
from enclave.membership import project_slugs_of
from enclave.shell import service as kit
from enclave.shell.service import Refused

from ..errors import EgressError
from ..permissions import NotFound, PermissionDenied
from ..submission import preselected
from ..workflow import CONTEXT_FIELDS, WorkflowError
from .gate import JUSTIFICATION_HELD, request_json
from .images import IMAGE_CSP
from .preview import preview_csv

STATUS = {NotFound: 404, PermissionDenied: 403, WorkflowError: 409, EgressError: 400}


async def in_thread(fn, *args, **kwargs):
    """Run a blocking gate operation off the event loop; its refusals become :class:`Refused`."""
    return await kit.in_thread(STATUS, fn, *args, **kwargs)


class BaseHandler(kit.ServiceHandler):
    @property
    def gate(self):
        return self.settings["gate"]


class HomeHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        """Stewards land on the review queue; researchers on their requests."""
        steward = await in_thread(MyRequestsHandler._is_steward, self)
        self.redirect(self.url("queue" if steward else "requests"))


class MyRequestsHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        requests = await in_thread(self.gate.my_requests, self.username)
        steward = await in_thread(self._is_steward)
        pending = len(await in_thread(self.gate.queue, self.username)) if steward else 0
        self.render_page("my_requests.html", requests=requests, steward=steward, pending=pending)

    def _is_steward(self) -> bool:
        from ..permissions import is_steward
        with self.gate.session() as session:
            return is_steward(session, self.username)

    @web.authenticated
    async def post(self):
        """The web form's submission (XSRF-checked by tornado before this runs)."""
        paths = [p for p in self.get_arguments("path") if p.strip()]
        extra = [line.strip() for line in self.get_argument("paths", "").splitlines() if line.strip()]
        paths += extra
        # One context for the files chosen together (the API and enclave-export take one per file).
        context = {k: self.get_argument(f"context_{k}", "").strip() for k in CONTEXT_FIELDS}
        source = self.get_argument("source", "").strip()
        resubmits = self.get_argument("resubmits", "")
        kind = self.get_argument("kind", "files")
        model = ({field: self.get_argument(field, "") for field in ("training_data", "holdout_data", "target")}
                 if kind == "model" else None)  # the model form (_model_form.html)
        request = await in_thread(self.gate.submit, self.username, self.get_argument("project", ""),
                                  paths, self.get_argument("justification", ""), kind,
                                  sources={p: source for p in paths} if source else None,
                                  contexts={p: context for p in paths} if any(context.values()) else None,
                                  resubmits=int(resubmits) if resubmits.isdigit() else None,
                                  answer=self.get_argument("answer", None), model=model)
        self.redirect(self.url(f"requests/{request.id}"))


class NewRequestHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        """The form, one per project; ``?project=SLUG&file=work/a.csv&file=...`` (JupyterLab's "Submit
        for export") ticks those files in that project's form (in every project's without ``project``),
        when the form offers them; the others are named in a note, never ticked."""
        requested, chosen = self.get_arguments("file"), self.get_argument("project", "")

        def load():
            with self.gate.session() as session:
                projects = project_slugs_of(session, self.username)
            return {slug: self.gate.workspace_files(self.username, slug) for slug in projects}
        projects = await in_thread(load)
        ticked, ignored = {}, {}
        for slug, (files, _left_out) in projects.items():
            if requested and chosen in ("", slug):
                ticked[slug], ignored[slug] = preselected(requested, files)
        self.render_page("new_request.html", projects=projects, ticked=ticked, ignored=ignored,
                         unknown_project=chosen if requested and chosen and chosen not in projects else "")


class RequestHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str):
        request, decisions, info = await in_thread(self.gate.view, self.username, int(request_id))
        previews = {}
        if info["reviewer"] and request.state.value not in ("withdrawn",):
            for f in request.files:
                previews[f.name] = await in_thread(self.gate.preview, self.username, request.id, f.name, 50)
        released = self.gate.released_hashes(request.id)
        self.render_page("request.html", request=request, decisions=decisions, info=info, previews=previews,
                         released=released, justification_held=JUSTIFICATION_HELD)


class DecisionHandler(BaseHandler):
    @web.authenticated
    async def post(self, request_id: str):
        keys, reasons = self.get_arguments("override_finding"), self.get_arguments("override_reason")
        if len(keys) != len(reasons):
            raise Refused(400, "each override names one finding and gives one reason")
        await in_thread(self.gate.decide, self.username, int(request_id), self.get_argument("vote", ""),
                        self.get_argument("reason", ""), self.get_argument("anonymised", "") == "yes",
                        dict(zip(keys, reasons)))
        self.redirect(self.url(f"requests/{int(request_id)}"))


class UpdateFileHandler(BaseHandler):
    @web.authenticated
    async def post(self, request_id: str):
        """The requester's new version of one file (the votes cast on the request are cancelled)."""
        await in_thread(self.gate.update_file, self.username, int(request_id), self.get_argument("path", ""),
                        self.get_argument("source", "").strip() or None)
        self.redirect(self.url(f"requests/{int(request_id)}"))


class ReleaseHandler(BaseHandler):
    @web.authenticated
    async def post(self, request_id: str):
        await in_thread(self.gate.release, self.username, int(request_id))
        self.redirect(self.url(f"requests/{int(request_id)}"))


class WithdrawHandler(BaseHandler):
    @web.authenticated
    async def post(self, request_id: str):
        await in_thread(self.gate.withdraw, self.username, int(request_id), self.get_argument("reason", ""))
        self.redirect(self.url(f"requests/{int(request_id)}"))


class DownloadHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str, name: str):
        data, _released = await in_thread(self.gate.download, self.username, int(request_id), name)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(data)


class PreviewHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str, name: str):
        preview = await in_thread(self.gate.preview, self.username, int(request_id), name)
        self.render_page("preview.html", request_id=int(request_id), preview=preview)


class FigureHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str, name: str):
        data, content_type = await in_thread(self.gate.figure, self.username, int(request_id), name)
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Security-Policy", IMAGE_CSP)
        self.set_header("Content-Disposition", "inline")
        self.finish(data)


class PreviewCsvHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str, name: str):
        preview = await in_thread(self.gate.preview, self.username, int(request_id), name)
        if not preview.tables:
            raise Refused(400, preview.problem or f"{name} is not a table")
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="preview-{name.rsplit(".", 1)[0]}.csv"')
        self.finish(preview_csv(preview.tables[0]))


class QueueHandler(BaseHandler):
    SORTS = {"worst": lambda e: (-e.worst_rank, e.request.created_at), "oldest": lambda e: e.request.created_at,
             "project": lambda e: (e.request.project_slug, e.request.created_at)}

    @web.authenticated
    async def get(self):
        """The queue, worst finding first by default; ?project=, ?worst=fail|review|pass and ?sort= narrow it."""
        entries = [QueueEntry(r) for r in await in_thread(self.gate.queue, self.username)]
        projects = sorted({e.request.project_slug for e in entries})
        project, worst = self.get_argument("project", ""), self.get_argument("worst", "")
        sort = self.get_argument("sort", "worst")
        shown = [e for e in entries if (not project or e.request.project_slug == project) and (not worst or e.worst == worst)]
        shown.sort(key=self.SORTS.get(sort, self.SORTS["worst"]))
        self.render_page("queue.html", entries=shown, projects=projects, project=project, worst=worst, sort=sort,
                         total=len(entries))


class SecurityHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        """The security events, newest first, and the suspensions in force; ?project= narrows both."""
        project = self.get_argument("project", "") or None
        view = await in_thread(self.gate.security, self.username, project)
        self.render_page("security.html", view=view, project=project or "")


class QueueEntry:
    """A request as the queue shows it: its worst finding and its age."""

    RANKS = {"pass": 0, "review": 1, "fail": 2}

    def __init__(self, request):
        self.request = request
        outcomes = [x.get("outcome", "pass") for f in request.files for x in f.findings or []]
        self.worst = max(outcomes, key=lambda o: self.RANKS.get(o, 2), default="pass")
        self.worst_rank = self.RANKS.get(self.worst, 2)
        self.failing = sorted({f"{f.name}/{x.get('check')}" for f in request.files for x in f.findings or []
                               if x.get("outcome") == "fail"})
        created = request.created_at if request.created_at.tzinfo else request.created_at.replace(tzinfo=timezone.utc)
        hours = (datetime.now(timezone.utc) - created).total_seconds() / 3600
        self.age = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


class ApiHandler(BaseHandler):
    api = True
    origin: Origin | None = None  # on the enclave listener: the server that sent the request

    async def prepare(self):
        origins = self.settings.get("enclave_origins")
        if origins is not None:
            try:
                self.origin = await in_thread(origins.resolve, self.request.remote_ip,
                                              self.request.headers.get("Authorization", ""))
            except OriginRefused as refused:
                raise Refused(403, refused.message) from None

    def bound_project(self, asked: Any) -> Any:
        """The project a request is for: from inside an enclave, the sending server's project only."""
        if self.origin is None:
            return asked
        if self.origin.user != self.username:
            raise Refused(403, "this token is not the server's own")
        if asked not in (None, "", self.origin.slug):
            raise Refused(403, f"this server belongs to project {self.origin.slug}: it submits for that project only")
        return self.origin.slug

    def visible(self, request) -> bool:
        return self.origin is None or request.project_slug == self.origin.slug

    def get_login_url(self):
        raise web.HTTPError(403, "authenticate with a hub token: Authorization: token <token>")

    def check_xsrf_cookie(self):
        """A hub token in the Authorization header needs no XSRF token (a browser cannot forge that
        header cross-site); a cookie-authenticated API call is checked like a form."""
        if self.request.headers.get("Authorization"):
            self.current_user  # noqa: B018 - identifying marks a token-authenticated request
        if getattr(self, "_token_authenticated", False):
            return
        super().check_xsrf_cookie()

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def body_json(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Refused(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused(400, "the request body must be a JSON object")
        return body


class ApiRequestsHandler(ApiHandler):
    @web.authenticated
    async def get(self):
        requests = await in_thread(self.gate.my_requests, self.username)
        self.write_json({"requests": [{"id": r.id, "project": r.project_slug, "state": str(r.state),
                                        "state_words": r.state.words}
                                      for r in requests if self.visible(r)]})

    @web.authenticated
    async def post(self):
        body = self.body_json()
        resubmits = body.get("resubmits")
        if resubmits is not None and (not isinstance(resubmits, int) or isinstance(resubmits, bool)):
            raise Refused(400, "resubmits must be the id (a number) of the request the new one answers")
        request = await in_thread(self.gate.submit, self.username, self.bound_project(body.get("project")), body.get("paths"),
                                  body.get("justification") or "", str(body.get("kind") or "files"),
                                  sources=body.get("sources"), contexts=body.get("contexts"), resubmits=resubmits,
                                  answer=body.get("answer"), model=body.get("model"))
        self.write_json({"id": request.id, "kind": str(request.kind), "state": str(request.state), "state_words": request.state.words,
                         "url": (self.settings["config"].public_url or "") + self.url(f"requests/{request.id}"),
                         "files": [{"name": f.name, "sha256": f.sha256, "size": f.size, "findings": f.findings}
                                   for f in request.files]}, status=201)


class ApiRequestHandler(ApiHandler):
    @web.authenticated
    async def get(self, request_id: str):
        request, decisions, info = await in_thread(self.gate.view, self.username, int(request_id))
        if not self.visible(request):
            raise Refused(404, f"no request {request_id}")
        self.write_json(request_json(request, decisions, self.gate.released_hashes(request.id), info["justification_visible"]))

    @web.authenticated
    async def post(self, request_id: str):
        """``{"path", "from"}``: a new version of one of the request's files; the votes cast on it are cancelled."""
        body = self.body_json()
        path = body.get("path")
        if not isinstance(path, str):
            raise Refused(400, "name the file's new version: {\"path\": \"...\"}")
        project = self.bound_project(None) if self.origin else None
        cancelled = await in_thread(self.gate.update_file, self.username, int(request_id), path,
                                    body.get("from") if isinstance(body.get("from"), str) else None, project)
        request, decisions, info = await in_thread(self.gate.view, self.username, int(request_id))
        self.write_json({**request_json(request, decisions, None, info["justification_visible"]),
                         "cancelled_votes": len(cancelled)})
