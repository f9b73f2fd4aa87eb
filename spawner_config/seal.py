"""The seal: a reverse proxy on the host, between the public proxy and every enclave server.

The public proxy (configurable-http-proxy) sends every browser request for ``/user/<user>/<slug>/``
here (the spawner gives the seal's address as each server's address); the seal forwards it to the
server's container and judges what comes back. It sits where the researcher cannot reach — they own
the uid of the server inside the container, and can replace that server — so it trusts nothing the
container answers:

- raw file transfers are refused before the container is asked (:mod:`spawner_config.seal_rules`);
- contents-API answers carry no extract, no binary and no large file;
- every byte sent to the browser counts against the server's hourly budget, except JupyterLab's own
  files, recognised by their hash (:mod:`spawner_config.seal_targets`);
- kernel and terminal websockets are cut per message and per budget, with a visible notice;
- every refusal and cap hit is in the audit log.

Run by the hub as a managed service: ``python -m spawner_config.seal`` (port ``ENCLAVE_SEAL_PORT``,
loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import time

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from enclave.db import make_engine, session_scope
from enclave.registry import get_project
from enclave.settings import Settings
from spawner_config.seal_budget import AuditTrail, Budgets
from spawner_config.seal_rules import (
    GIT_PANEL,
    Limits,
    Refusal,
    Route,
    check_request,
    judge_contents,
    judge_git_panel,
    looks_binary,
    parse_route,
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


class Seal:
    """The seal's state: where servers are, their limits and budgets, and the audit trail."""

    def __init__(self, settings: Settings, targets: Targets | None = None, assets: AssetIndex | None = None):
        self.settings = settings
        self.targets = targets or Targets(swarm=settings.backend == "swarm")
        self.assets = assets or AssetIndex(settings.home / "seal")
        self.budgets = Budgets()
        self.engine = make_engine(settings.db_url)
        self.audit = AuditTrail(self.engine, settings.audit_head, "seal", log)
        self._limits: dict[str, tuple[float, Limits]] = {}
        self.session: aiohttp.ClientSession | None = None

    # --- registry: limits and audit (blocking calls, kept off the event loop) ---

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

    # --- requests ---

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route: Route | None = None
        try:
            route = parse_route(request.raw_path)
            check_request(request.method, route, request.query_string)
            target = await asyncio.get_running_loop().run_in_executor(None, self.targets.find, route.user, route.server)
            if target is None:
                raise Refusal("this server is not running", 503)
            limits = await self.limits(route.server)
            if request.headers.get("upgrade", "").lower() == "websocket":
                return await self.websocket(request, route, target.url, limits)
            return await self.http(request, route, target, limits)
        except Refusal as refusal:
            return self.refuse(request, route, refusal)

    def refuse(self, request: web.Request, route: Route | None, refusal: Refusal, size: int = 0) -> web.Response:
        if route is not None and refusal.status in (403, 413, 429):
            self.audit.hit(route.user, route.server, "seal.refused", request.path_qs[:300], size, reason=refusal.reason)
        text = f"Refused by the enclave: {refusal.reason}."
        if route is not None and route.rest.startswith("api/"):
            return web.json_response({"message": text, "reason": refusal.reason}, status=refusal.status)
        return web.Response(text=text + "\n", status=refusal.status, content_type="text/plain")

    async def http(self, request: web.Request, route: Route, target, limits: Limits) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        headers["Host"] = request.host
        body = await request.read() if request.can_read_body else None
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
                                                           if k.lower() not in HOP_BY_HOP]
        except aiohttp.ClientError as error:
            self.targets.forget(route.user, route.server)
            raise Refusal(f"the server did not answer ({type(error).__name__})", 502) from None
        self.judge_answer(request, route, target, limits, status, answer_headers, bytes(answer))
        return web.Response(status=status, body=bytes(answer), headers=CIMultiDict(answer_headers))

    def judge_answer(self, request: web.Request, route: Route, target, limits: Limits, status: int,
                     headers: list[tuple[str, str]], body: bytes) -> None:
        """Raise :class:`Refusal` unless this answer may reach the browser; charge its bytes."""
        for key, value in headers:
            if key.lower() == "content-disposition" and "attachment" in value.lower():
                raise Refusal("downloads are disabled in an enclave")
        if route.rest.startswith("api/contents/") or route.rest == "api/contents":
            if request.method == "GET" and status == 200:
                judge_contents(body, limits)
        if route.rest.startswith(GIT_PANEL):
            judge_git_panel(body, limits)
        if body and status == 200 and hashlib.sha256(body).hexdigest() in self.assets.hashes(target.image_id):
            return  # one of JupyterLab's own files, byte for byte
        if body and looks_binary(body):
            raise Refusal("binary answers do not reach the browser: results leave through the egress gate")
        size = len(body) + sum(len(k) + len(v) + 4 for k, v in headers)
        if not self.budgets.take((route.user, route.server), limits.budget_per_hour, size):
            raise Refusal("this server's hourly output budget is spent: results leave through the egress gate", 429)

    async def websocket(self, request: web.Request, route: Route, target_url: str, limits: Limits) -> web.StreamResponse:
        channel = socket_channel(route.rest)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        headers["Host"] = request.host
        try:
            upstream = await self.session.ws_connect(target_url + request.raw_path, headers=headers, max_msg_size=0,
                                                     autoping=True, protocols=())
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as error:
            self.targets.forget(route.user, route.server)
            raise Refusal(f"the server refused the websocket ({error})", 502) from None
        browser = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024, autoping=True)  # no subprotocol: JSON messages
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
        key, last_notice = (route.user, route.server), 0.0
        async for msg in upstream:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            data = msg.data
            size = len(data.encode() if msg.type == WSMsgType.TEXT else data)
            if size <= limits.message_cap and self.budgets.take(key, limits.budget_per_hour, size):
                await (browser.send_str(data) if msg.type == WSMsgType.TEXT else browser.send_bytes(data))
                continue
            what = (f"one message over {limits.message_cap // 1024} KiB" if size > limits.message_cap
                    else "this server's hourly output budget is spent")
            self.audit.hit(route.user, route.server, "seal.output_capped", f"{route.prefix}{route.rest}", size,
                           channel=channel, limit="message" if size > limits.message_cap else "budget")
            now = time.monotonic()
            if msg.type != WSMsgType.TEXT or now - last_notice < NOTICE_INTERVAL:
                continue  # dropped
            room = max(0, min(limits.message_cap, self.budgets.available(key, limits.budget_per_hour)))
            replacement = shrink_message(channel, data, room, what)
            if replacement is not None:
                last_notice = now
                self.budgets.spend(key, limits.budget_per_hour, len(replacement.encode()))
                await browser.send_str(replacement)

    # --- the application ---

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600)
        self.session = aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        app["flusher"] = asyncio.create_task(self.audit.flush_forever())

    async def _stop(self, app: web.Application) -> None:
        app["flusher"].cancel()
        await self.session.close()
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
