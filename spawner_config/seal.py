"""The seal: a reverse proxy on the host, between the public proxy and every enclave server.

The public proxy (configurable-http-proxy) sends every browser request for ``/user/<user>/<slug>/``
here (the spawner gives the seal's address as each server's address); the seal forwards it to the
server's container and judges what comes back. It sits where the researcher cannot reach — they own
the uid of the server inside the container, and can replace that server — so it trusts nothing the
container answers, and nothing the path says:

- every request is bound to a user the hub vouches for (a hub token, or the seal's own session
  cookie from the hub's OAuth flow: :mod:`spawner_config.seal_identity`) and only the server's
  owner passes; a browser without a session is sent through the flow, anything else gets 403;
- raw file transfers are refused before the container is asked (:mod:`spawner_config.seal_rules`),
  and so are uploads from the browser into the project (data enters through the import airlock);
- contents-API answers carry no extract, no binary and no large file;
- every payload for the browser passes the member's content guard (the seam:
  :mod:`spawner_config.seal_guard`; the guard: :mod:`spawner_config.seal_content`), which cuts
  encoded runs and the project's own content, disarms images and says what the rest carries in
  information bytes; that, plus every answer's headers (charged the same way), counts against the
  member's hourly and daily budget of the project (:mod:`spawner_config.seal_budget`), kept in the
  registry; only the bodies of JupyterLab's own files are free, recognised by their hash
  (:mod:`spawner_config.seal_targets`);
- kernel and terminal websockets are cut per message and per budget, with a visible notice;
- every refusal, cap hit and content cut is in the audit log, and alarms (``seal.alarm``) are
  raised on content hits and when a day's budget is half and nine-tenths spent.

Run by the hub as a managed service: ``python -m spawner_config.seal`` (port ``ENCLAVE_SEAL_PORT``,
loopback only); its OAuth callback is ``/services/enclave-seal/oauth_callback``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from enclave.audit_actions import AuditAction
from enclave.db import make_engine, session_scope
from enclave.output_budgets import Spent, add_spent, spent_now, window_end
from enclave.registry import get_project
from enclave.settings import Settings
from spawner_config.seal_budget import AuditTrail, BudgetBook
from spawner_config.seal_content import guard_for
from spawner_config.seal_guard import Guard, Hit
from spawner_config.seal_identity import (
    COOKIE,
    COOKIE_PATH,
    SESSION_SECONDS,
    STATE_COOKIE,
    STATE_SECONDS,
    Signer,
    TokenChecks,
    cookie_value,
    is_seal_cookie,
    load_secret,
    read_session,
    session_cookie,
    set_cookie_header,
    strip_cookie,
)
from spawner_config.seal_rules import (
    CONTENTS_WRITES,
    GIT_PANEL,
    KIB,
    LAB_SETTINGS,
    Limits,
    Refusal,
    Route,
    check_request,
    check_upload,
    is_contents_route,
    judge_contents,
    judge_git_panel,
    looks_binary,
    parse_route,
    settings_to_charge,
    shrink_message,
    socket_channel,
)
from spawner_config.seal_targets import AssetIndex, Targets

log = logging.getLogger("enclave.seal")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length", "host"}
# Asked of the server without: compressed bodies could not be judged, ranges not hashed.
NOT_FORWARDED = HOP_BY_HOP | {"accept-encoding", "range", "if-range", "sec-websocket-protocol",
                              "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
MAX_ANSWER = 64 * 1024 * 1024
NOTICE_INTERVAL = 1.0  # at most one replacement notice a second on one websocket
LIMITS_TTL = 30.0
WRITE_BEHIND = 1.0     # seconds between two writes of the spent budgets to the registry
INLINE_JUDGE = 8 * 1024  # bytes: a smaller payload is judged on the event loop (well under a millisecond,
                         # less than the hop to a thread and back); a larger one in a thread
ANONYMOUS = "anonymous"
READINESS_PATHS = ("", "api")  # what the hub asks of a starting server (``Server.wait_up``), without identity
SERVICE_PREFIX = "/services/enclave-seal/"


def is_navigation(request: web.Request) -> bool:
    """A browser opening a page (redirected into the sign-in), not a script's call (refused)."""
    if request.method != "GET" or request.headers.get("Upgrade"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode:
        return mode == "navigate"
    return "text/html" in request.headers.get("Accept", "")


def source_of(request: web.Request) -> str:
    """The browser's address: the last hop the public proxy added, else the peer."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return (forwarded.split(",")[-1].strip() if forwarded else request.remote or "")[:64]


def header_block(status: int, headers: list[tuple[str, str]]) -> bytes:
    """An answer's status line and headers as they go to the browser: charged like a body, on the
    member's ``headers`` stream (the same Server, Content-Type and CSP each time cost little; what a
    replaced server writes into them costs its information)."""
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def is_ready(guard) -> bool:
    """Whether ``guard`` (None: a plain function) has what it reads on first use in memory."""
    known = getattr(guard, "known", None)
    return known is None or all(name in vars(known) for name in ("fingerprints", "pseudonym_keys"))


def ready_and_judge(guard, judge, args):
    """In a thread: the guard's project content read (once), then its verdict."""
    known = getattr(guard, "known", None)
    if known is not None:
        known.fingerprints, known.pseudonym_keys  # noqa: B018 - read and kept by cached_property
    return judge(*args)


@functools.lru_cache(maxsize=16)
def settings_for_charge(body: bytes, schemas: frozenset[str]) -> bytes | None:
    """:func:`settings_to_charge`, kept for the last few settings answers (JupyterLab asks the same
    at every reload; the image's own schemas are free)."""
    return settings_to_charge(body, schemas)


def kb(size: int) -> str:
    """Budgets are in information kilobytes (1000 bytes), as the home page shows them."""
    return f"{size / 1000:.0f} KB"


class Seal:
    """The seal's state: who is asking, where servers are, their limits and budgets, the audit trail."""

    def __init__(self, settings: Settings, targets: Targets | None = None, assets: AssetIndex | None = None,
                 hub_api_url: str | None = None):
        self.settings = settings
        self.targets = targets or Targets(swarm=settings.backend == "swarm")
        self.assets = assets or AssetIndex(settings.home / "seal")
        self.book = BudgetBook()
        self.engine = make_engine(settings.db_url)
        self.audit = AuditTrail(self.engine, settings.audit_head, "seal", log)
        self.signer = Signer(load_secret(settings.home / "seal" / "cookie_secret"))
        self.checks = TokenChecks()
        # A hub-managed seal gets the hub's JUPYTERHUB_* variables (its OAuth client among them).
        self.hub_api_url = (hub_api_url or os.environ.get("JUPYTERHUB_API_URL")
                            or f"http://127.0.0.1:{settings.hub_api_port}/hub/api").rstrip("/")
        self.secure_cookies = settings.public_url.startswith("https://")
        self._oauth = None
        self._limits: dict[str, tuple[float, Limits]] = {}
        self.session: aiohttp.ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.judges = ThreadPoolExecutor(max_workers=2, thread_name_prefix="seal-guard")

    # --- registry: limits, budgets and audit (blocking calls, kept off the event loop) ---

    def _read_limits(self, slug: str) -> Limits:
        with session_scope(self.engine, self.settings.audit_head) as session:
            project = get_project(session, slug)
            return Limits.from_resources(dict(project.resources or {}))

    async def limits(self, slug: str) -> Limits:
        cached = self._limits.get(slug)
        if cached and time.monotonic() - cached[0] < LIMITS_TTL:
            return cached[1]
        try:
            limits = await asyncio.get_running_loop().run_in_executor(None, self._read_limits, slug)
        except Exception as error:  # noqa: BLE001 - an unknown project gets the defaults; the spawner refused it anyway
            log.warning("limits of project %s: %s; using the defaults", slug, error)
            limits = Limits()
        self._limits[slug] = (time.monotonic(), limits)
        return limits

    def guard(self, user: str, slug: str) -> Guard:
        """The verified ``user``'s guard in project ``slug`` (:func:`spawner_config.seal_content.guard_for`)."""
        return guard_for(self.settings, slug, user)

    async def judged(self, judge, *args, size: int | None = None):
        """A guard's verdict on a payload of ``size`` bytes: a small one (a kernel's status message,
        an API listing) judged at once, anything larger in a thread, so the event loop never waits on
        a large payload, an image to re-render or a project's extracts read on first use (a guard
        judges in a thread until it holds its project's extracts)."""
        guard = getattr(judge, "__self__", None)
        if size is not None and size <= INLINE_JUDGE and is_ready(guard):
            return judge(*args)
        return await asyncio.get_running_loop().run_in_executor(self.judges, ready_and_judge, guard, judge, args)

    async def target(self, route: Route):
        """Where the server of ``route`` is: from the address cache at once, else looked up in Docker (in a thread)."""
        found = self.targets.cached(route.user, route.server)
        if found is not None:
            return found
        return await asyncio.get_running_loop().run_in_executor(None, self.targets.find, route.user, route.server)

    def _read_spent(self, user: str, slug: str) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return spent_now(session, slug, user, self.book.clock())

    async def budget_ready(self, user: str, slug: str) -> None:
        """Load what the current windows already spent, on first use of (user, project)."""
        if self.book.loaded((user, slug)):
            return
        try:
            spent = await asyncio.get_running_loop().run_in_executor(None, self._read_spent, user, slug)
        except Exception:  # noqa: BLE001 - without the spent budget nothing passes
            log.exception("cannot read the output budget of %s in %s", user, slug)
            raise Refusal("the seal cannot read your output budget now: try again in a minute", 503) from None
        self.book.load((user, slug), spent)

    def _write_spent(self, spent: list[Spent]) -> None:
        try:
            with session_scope(self.engine) as session:
                add_spent(session, spent)
        except Exception:  # noqa: BLE001 - kept in memory and retried: the counters stay right
            log.exception("cannot write the spent output budgets; retrying")
            if self.loop is not None and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.book.restore, spent)

    def write_spent(self) -> None:
        spent = self.book.drain()
        if spent:
            self.audit.writer.submit(self._write_spent, spent)

    async def write_behind_forever(self) -> None:
        while True:
            await asyncio.sleep(WRITE_BEHIND)
            self.write_spent()
            self.audit.flush()

    # --- alarms and charges ---

    def alarm(self, user: str, project: str, kind: str, path: str = "", **detail) -> None:
        """A security event for stewards and ops (``seal.alarm``): a content hit, or a share of the
        day's budget crossed."""
        self.audit.hit(user, project, AuditAction.seal_alarm, path, 0, fold=kind, kind=kind, **detail)

    def report_hits(self, user: str, project: str, path: str, hits: list[Hit], size: int) -> None:
        for hit in hits:
            self.audit.hit(user, project, AuditAction.seal_content_cut, path, size, fold=hit.kind, kind=hit.kind, detail=hit.detail)
            if hit.alarm:
                self.alarm(user, project, hit.kind, path=path, detail=hit.detail)

    def take(self, user: str, slug: str, limits: Limits, size: int, path: str) -> bool:
        """Charge ``size`` if both windows have room; alarms on the day's shares crossed."""
        taken, crossed = self.book.take((user, slug), limits.budgets, size)
        for share in crossed:
            self.alarm(user, slug, f"budget_{share}", path=path, share=share, limit=limits.budget_per_day)
        return taken

    def spend(self, user: str, slug: str, limits: Limits, size: int, path: str) -> None:
        for share in self.book.spend((user, slug), limits.budgets, size):
            self.alarm(user, slug, f"budget_{share}", path=path, share=share, limit=limits.budget_per_day)

    def budget_notice(self, user: str, slug: str, limits: Limits, size: int = 0) -> str:
        """What is spent and what is left, for a refusal (of ``size`` bytes) or a notice."""
        left, now = self.book.left((user, slug), limits.budgets), self.book.clock()
        if size > min(left.values()) >= KIB:
            return (f"this answer ({kb(size)}) is more than what is left of your output budget in this project "
                    f"({kb(left['hour'])} this hour, {kb(left['day'])} today)")
        if left["day"] <= left["hour"]:
            return (f"your daily output budget is spent in this project ({kb(left['day'])} of {kb(limits.budget_per_day)} "
                    f"left today; it returns at {window_end('day', now):%H:%M} UTC)")
        return (f"your hourly output budget is spent in this project ({kb(left['hour'])} left this hour, "
                f"{kb(left['day'])} today; the hour's returns at {window_end('hour', now):%H:%M} UTC)")

    # --- who is asking ---

    async def user_for_token(self, token: str) -> str | None:
        """The user the hub says owns ``token`` (None: no such token, or not a user's)."""
        known, user = self.checks.get(token)
        if known:
            return user
        try:
            async with self.session.get(f"{self.hub_api_url}/user", headers={"Authorization": f"token {token}"},
                                        timeout=aiohttp.ClientTimeout(total=15)) as answer:
                if answer.status in (401, 403, 404):
                    user = None
                elif answer.status == 200:
                    model = await answer.json()
                    user = model.get("name") if model.get("kind", "user") == "user" else None
                else:
                    raise Refusal(f"the hub could not say who is asking ({answer.status}): try again", 502)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            log.warning("checking a token with the hub: %s", error)
            raise Refusal("the hub could not say who is asking: try again", 502) from None
        self.checks.put(token, user)
        return user

    async def identify(self, request: web.Request) -> str | None:
        """The verified user behind a request: its hub token, else the seal's session cookie."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("token", "bearer") and token.strip():
            return await self.user_for_token(token.strip())
        value = cookie_value(request.headers.get("Cookie", ""), COOKIE)
        session = read_session(self.signer, value) if value else None
        if session is None:
            return None
        user = await self.user_for_token(session.token)
        return user if user == session.user else None

    def oauth(self):
        if self._oauth is None:
            from jupyterhub.services.auth import HubOAuth

            self._oauth = HubOAuth(api_token=os.environ["JUPYTERHUB_API_TOKEN"], api_url=self.hub_api_url)
        return self._oauth

    def to_sign_in(self, request: web.Request) -> web.Response:
        """Into the hub's OAuth flow for this service, back to this page at the end."""
        client_id, callback = os.environ.get("JUPYTERHUB_CLIENT_ID"), os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL")
        if not client_id or not callback:
            raise Refusal("sign-in through the hub is not configured for this seal", 403)
        state = secrets.token_urlsafe(16)
        value = self.signer.sign("state", {"state": state, "next": request.raw_path, "exp": int(time.time()) + STATE_SECONDS})
        hub_prefix = os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/"
        query = urlencode({"client_id": client_id, "redirect_uri": callback, "response_type": "code", "state": state})
        answer = web.Response(status=302, headers={"Location": f"{hub_prefix}api/oauth2/authorize?{query}"})
        answer.headers.add("Set-Cookie", set_cookie_header(STATE_COOKIE, value, self.service_prefix, STATE_SECONDS,
                                                           self.secure_cookies))
        return answer

    @property
    def service_prefix(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or SERVICE_PREFIX

    async def oauth_callback(self, request: web.Request) -> web.Response:
        """The end of the hub's OAuth flow: the code exchanged for a hub token, the seal's cookie set."""
        def fail(reason: str) -> web.Response:
            self.audit.hit(ANONYMOUS, None, AuditAction.seal_refused, request.path[:300], 0, reason=reason, source=source_of(request))
            return web.Response(status=403, content_type="text/plain",
                                text=f"Refused by the enclave: {reason}. Open the project again from the hub's home page.\n")

        state = self.signer.verify("state", cookie_value(request.headers.get("Cookie", ""), STATE_COOKIE) or "")
        if request.query.get("error") or not request.query.get("code"):
            return fail("the hub's sign-in did not finish")
        if state is None or not hmac.compare_digest(str(state.get("state", "")), request.query.get("state", "")):
            return fail("the sign-in's state does not match this browser's")
        try:
            token = await self.oauth().token_for_code(request.query["code"], sync=False)
        except Exception as error:  # noqa: BLE001 - tornado's HTTPError, a connection error...
            log.warning("the hub refused the OAuth code: %s", error)
            return fail("the hub refused the sign-in")
        user = await self.user_for_token(token)
        if user is None:
            return fail("the hub did not name a user for this sign-in")
        next_url = str(state.get("next", ""))
        if not next_url.startswith(COOKIE_PATH) or next_url.startswith("//"):
            next_url = "/hub/home"
        answer = web.Response(status=302, headers={"Location": next_url})
        answer.headers.add("Set-Cookie", set_cookie_header(COOKIE, session_cookie(self.signer, user, token), COOKIE_PATH,
                                                           SESSION_SECONDS, self.secure_cookies))
        answer.headers.add("Set-Cookie", set_cookie_header(STATE_COOKIE, "", self.service_prefix, 0, self.secure_cookies))
        return answer

    # --- requests ---

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route: Route | None = None
        user: str | None = None
        try:
            route = parse_route(request.raw_path)
            user = await self.identify(request)
            if user is None:
                if is_navigation(request):
                    return self.to_sign_in(request)
                if route.rest in READINESS_PATHS and request.method in ("GET", "HEAD"):
                    await self.probe(route)
                raise Refusal("no hub session for this server: sign in to the hub and open it from the home page")
            if user != route.user:
                raise Refusal("this server is not yours")
            # From here on route.user is the verified user: budgets and audit events are theirs.
            check_request(request.method, route, request.query_string)
            target = await self.target(route)
            if target is None:
                raise Refusal("this server is not running", 503)
            limits = await self.limits(route.server)
            await self.budget_ready(user, route.server)
            if request.headers.get("upgrade", "").lower() == "websocket":
                return await self.websocket(request, route, target.url, limits)
            return await self.http(request, route, target, limits)
        except Refusal as refusal:
            return self.refuse(request, route, refusal, user)

    async def probe(self, route: Route) -> None:
        """The hub's readiness check (its request to a server's root carries no identity): a 5xx
        until the server answers, so the spawn waits for it; what the server said is never passed on."""
        target = await self.target(route)
        if target is None:
            raise Refusal("this server is not running", 503)
        try:
            async with self.session.get(target.url + route.prefix + route.rest, allow_redirects=False,
                                        timeout=aiohttp.ClientTimeout(total=10)):
                pass
        except (aiohttp.ClientError, asyncio.TimeoutError):
            self.targets.forget(route.user, route.server)
            raise Refusal("the server does not answer yet", 502) from None

    def refuse(self, request: web.Request, route: Route | None, refusal: Refusal, user: str | None = None) -> web.Response:
        """The refusal's answer, audited with the verified user (never the path's): unauthenticated
        ones as ``anonymous`` with their source, on no project, charging no one."""
        if route is not None and refusal.status in (403, 413, 429):
            if user is None:
                self.audit.hit(ANONYMOUS, None, AuditAction.seal_refused, request.path_qs[:300], 0, reason=refusal.reason,
                               source=source_of(request))
            else:
                self.audit.hit(user, route.server, AuditAction.seal_refused, request.path_qs[:300], 0, reason=refusal.reason)
        text = f"Refused by the enclave: {refusal.reason}."
        wants_json = (route is not None and route.rest.startswith("api/")) or request.headers.get("Upgrade") or (
            user is None and not is_navigation(request))
        if wants_json:
            return web.json_response({"message": text, "reason": refusal.reason}, status=refusal.status)
        return web.Response(text=text + "\n", status=refusal.status, content_type="text/plain")

    def forwarded_headers(self, request: web.Request) -> dict[str, str]:
        """The browser's headers for the server: without hop-by-hop ones and without the seal's cookies."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED and k.lower() != "cookie"}
        cookies = strip_cookie(request.headers.get("Cookie", ""))
        if cookies:
            headers["Cookie"] = cookies
        headers["Host"] = request.host
        return headers

    def request_body(self, request: web.Request, headers: dict[str, str]):
        """The request's body for the server, streamed; over ``seal_max_request`` it is refused."""
        if not request.can_read_body:
            return None
        limit = self.settings.seal_max_request
        if request.content_length is not None:
            if request.content_length > limit:
                raise Refusal(f"a request body over {limit // 2**20} MiB", 413)
            headers["Content-Length"] = str(request.content_length)
            return request.content.iter_chunked(256 * 1024)

        async def bounded():
            seen = 0
            async for chunk in request.content.iter_chunked(256 * 1024):
                seen += len(chunk)
                if seen > limit:
                    raise Refusal(f"a request body over {limit // 2**20} MiB", 413)
                yield chunk
        return bounded()

    async def checked_write(self, request: web.Request, route: Route, headers: dict[str, str], limits: Limits) -> bytes | None:
        """A contents-API write's body, read whole (bounded) and checked before it is forwarded: an upload
        from the browser is refused and pointed to the import airlock (:func:`check_upload`), a save passes."""
        if request.method not in CONTENTS_WRITES or not is_contents_route(route) or not request.can_read_body:
            return None
        limit, body = self.settings.seal_max_request, bytearray()
        async for chunk in request.content.iter_chunked(256 * 1024):
            body += chunk
            if len(body) > limit:
                raise Refusal(f"a request body over {limit // 2**20} MiB", 413)
        check_upload(request.method, route, bytes(body), limits)
        headers["Content-Length"] = str(len(body))
        return bytes(body)

    async def http(self, request: web.Request, route: Route, target, limits: Limits) -> web.StreamResponse:
        headers = self.forwarded_headers(request)
        body = await self.checked_write(request, route, headers, limits)
        if body is None:
            body = self.request_body(request, headers)
        try:
            async with self.session.request(request.method, target.url + request.raw_path, headers=headers, data=body,
                                            allow_redirects=False) as upstream:
                if int(upstream.headers.get("Content-Length") or 0) > MAX_ANSWER:
                    raise Refusal(f"an answer over {MAX_ANSWER // 2**20} MiB", 413)
                if "Content-Length" in upstream.headers:
                    answer = await upstream.read()
                else:  # chunked: counted as it comes
                    answer = bytearray()
                    async for chunk in upstream.content.iter_any():
                        answer += chunk
                        if len(answer) > MAX_ANSWER:
                            raise Refusal(f"an answer over {MAX_ANSWER // 2**20} MiB", 413)
                status, answer_headers = upstream.status, [(k, v) for k, v in upstream.headers.items()
                                                           if k.lower() not in HOP_BY_HOP
                                                           and not (k.lower() == "set-cookie" and is_seal_cookie(v))]
        except aiohttp.ClientError as error:
            if isinstance(error.__cause__, Refusal):
                raise error.__cause__ from None
            self.targets.forget(route.user, route.server)
            raise Refusal(f"the server did not answer ({type(error).__name__})", 502) from None
        payload = await self.judge_answer(request, route, target, limits, status, answer_headers, bytes(answer))
        return web.Response(status=status, body=payload, headers=CIMultiDict(answer_headers))

    async def judge_answer(self, request: web.Request, route: Route, target, limits: Limits, status: int,
                     headers: list[tuple[str, str]], body: bytes) -> bytes:
        """What of this answer may reach the browser (raise :class:`Refusal` if nothing); its headers
        and the guard's charge for its body are taken from the owner's budget."""
        for key, value in headers:
            if key.lower() == "content-disposition" and "attachment" in value.lower():
                raise Refusal("downloads are disabled in an enclave")
        if is_contents_route(route):
            if request.method == "GET" and status == 200:
                judge_contents(body, limits)
        if route.rest.startswith(GIT_PANEL):
            judge_git_panel(body, limits)
        path, guard = f"{route.prefix}{route.rest}", self.guard(route.user, route.server)
        assets = self.assets.assets(target.image_id)
        if body and status == 200 and hashlib.sha256(body).hexdigest() in assets.files:
            payload, charge = body, 0  # one of JupyterLab's own files, byte for byte: its headers alone count
        else:
            if body and looks_binary(body):
                raise Refusal("binary answers do not reach the browser: results leave through the egress gate")
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            judged = body
            if route.rest.startswith(LAB_SETTINGS) and request.method == "GET" and status == 200:
                judged = await self.judged(settings_for_charge, body, assets.schemas, size=len(body)) or body
            passed = await self.judged(guard.answer, route.rest, content_type, judged, size=len(judged))
            self.report_hits(route.user, route.server, path, passed.hits, len(body))
            if judged is body or passed.payload != judged:
                payload = passed.payload.encode() if isinstance(passed.payload, str) else passed.payload
            else:
                payload = body  # the guard passed the settings unchanged: the schemas go with them
            charge = passed.charge
        size = charge + guard.charge("headers", header_block(status, headers))
        if not self.take(route.user, route.server, limits, size, path):
            raise Refusal(self.budget_notice(route.user, route.server, limits, size) + ": results leave through the egress gate", 429)
        return payload

    async def websocket(self, request: web.Request, route: Route, target_url: str, limits: Limits) -> web.StreamResponse:
        channel = socket_channel(route.rest)
        headers = self.forwarded_headers(request)
        try:
            upstream = await self.session.ws_connect(target_url + request.raw_path, headers=headers, max_msg_size=0,
                                                     autoping=True, protocols=())
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as error:
            self.targets.forget(route.user, route.server)
            raise Refusal(f"the server refused the websocket ({error})", 502) from None
        browser = web.WebSocketResponse(max_msg_size=self.settings.seal_max_request, autoping=True)  # no subprotocol: JSON messages
        await browser.prepare(request)
        to_server = asyncio.create_task(self._browser_to_server(browser, upstream))
        try:
            await self._server_to_browser(upstream, browser, route, channel, limits)
        finally:
            to_server.cancel()
            await upstream.close()
            await browser.close()
        return browser

    @staticmethod
    async def _browser_to_server(browser: web.WebSocketResponse, upstream) -> None:
        async for msg in browser:
            if msg.type == WSMsgType.TEXT:
                await upstream.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            else:
                break
        await upstream.close()

    async def _server_to_browser(self, upstream, browser: web.WebSocketResponse, route: Route, channel: str,
                                 limits: Limits) -> None:
        user, slug, last_notice = route.user, route.server, 0.0
        path, guard = f"{route.prefix}{route.rest}", self.guard(route.user, route.server)
        stream = f"{path}#{id(browser)}"  # this websocket: a terminal's output is judged as one stream
        async for msg in upstream:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            passed = await self.judged(guard.message, channel, msg.data, stream, size=len(msg.data))
            self.report_hits(user, slug, path, passed.hits, len(msg.data))
            data = passed.payload
            size = len(data.encode() if isinstance(data, str) else data)
            if size <= limits.message_cap and self.take(user, slug, limits, passed.charge, path):
                await (browser.send_str(data) if isinstance(data, str) else browser.send_bytes(data))
                continue
            over = size > limits.message_cap
            self.audit.hit(user, slug, AuditAction.seal_output_capped, path, size, channel=channel, limit="message" if over else "budget")
            now = time.monotonic()
            if not isinstance(data, str) or now - last_notice < NOTICE_INTERVAL:
                continue  # dropped
            room = max(0, min(limits.message_cap, self.book.room((user, slug), limits.budgets)))
            what = (f"one message over {limits.message_cap // KIB} KiB "
                    f"({kb(self.book.room((user, slug), limits.budgets))} of your output budget left)"
                    if over else self.budget_notice(user, slug, limits))
            replacement = shrink_message(channel, data, room, what)
            if replacement is not None:
                last_notice = now
                self.spend(user, slug, limits, len(replacement.encode()), path)
                await browser.send_str(replacement)

    # --- the application ---

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.seal_max_request)
        app.router.add_get(self.service_prefix + "oauth_callback", self.oauth_callback)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self.loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600)
        self.session = aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        app["writer"] = asyncio.create_task(self.write_behind_forever())

    async def _stop(self, app: web.Application) -> None:
        app["writer"].cancel()
        self.write_spent()
        await self.session.close()
        self.judges.shutdown(wait=True)
        self.audit.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spawner_config.seal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: ENCLAVE_SEAL_PORT, 10102)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    settings = Settings.from_env()
    web.run_app(Seal(settings).app(), host="127.0.0.1", port=args.port or settings.seal_port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
