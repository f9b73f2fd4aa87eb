"""The hub API gate: the hub API as enclave containers see it, cut down to what a single-user server needs.

Enclave containers never reach the hub API itself (it listens on loopback); the spawner gives them this
gate's address as their hub (``hub_connect_url``: ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_ACTIVITY_URL``),
and the host firewall opens its port, ``ENCLAVE_HUB_API_ENCLAVE_PORT``, at each project network's
gateway. A call is forwarded to the hub API only if its method and path are one of the allow-list's
(:mod:`spawner_config.hub_api_rules`), matched exactly after decoding once, with a body within that
call's limit and of its shape; only a few headers go through. Everything else gets 403 (413 for a body
over the limit) and a ``hub_api.refused`` audit event naming the container's user and project (one event
per caller and reason every ten seconds, the rest folded into it with their count).

Run by the hub as a managed service: ``python -m spawner_config.hub_api_gate`` (all interfaces: the
firewall decides who reaches it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import aiohttp
from aiohttp import web

from enclave.audit import AuditAction
from enclave.db import make_engine
from enclave.enclave_origin import EnclaveOrigins
from enclave.networks import PROJECT_LABEL, USER_LABEL
from enclave.settings import Settings
from spawner_config.hub_api_rules import FORWARDED_HEADERS, Refused, check_body, match
from spawner_config.seal_budget import AuditTrail

log = logging.getLogger("enclave.hub_api_gate")

MAX_REQUEST = 8192  # above every rule's limit (each rule reads at most its own limit plus one byte)
CALLER_TTL = 10.0  # seconds a refused caller's identity is kept: a flood asks Docker once per audit window
MAX_ANSWER = 256 * 1024  # a user model, a token reply
ANSWER_HEADERS = ("Content-Type", "X-JupyterHub-Version")


class HubApiGate:
    """The gate's state: the hub's loopback address, the HTTP client, the audit trail."""

    def __init__(self, settings: Settings, origins: EnclaveOrigins | None = None):
        self.settings = settings
        self.upstream = f"http://127.0.0.1:{settings.hub_api_port}"
        self._origins = origins
        self.engine = make_engine(settings.db_url)
        self.audit = AuditTrail(self.engine, settings.audit_head, "hub-api-gate", log, logging.WARNING)
        self.session: aiohttp.ClientSession | None = None
        self._callers: dict[str, tuple[float, tuple[str, str, str]]] = {}

    def _caller(self, address: str) -> tuple[str, str, str]:
        """(user, project, container) of the enclave container at ``address`` (cached briefly)."""
        cached = self._callers.get(address)
        if cached and time.monotonic() - cached[0] < CALLER_TTL:
            return cached[1]
        caller = self._lookup(address)
        self._callers[address] = (time.monotonic(), caller)
        return caller

    def _lookup(self, address: str) -> tuple[str, str, str]:
        try:
            self._origins = self._origins or EnclaveOrigins()
            container = self._origins.container_at(address)
        except Exception:  # noqa: BLE001 - no engine (Kubernetes) or a transient error: the event still names the address
            container = None
        if container is None:
            return "unknown", "", ""
        return container.labels.get(USER_LABEL, "unknown"), container.labels.get(PROJECT_LABEL, ""), container.name

    async def refuse(self, request: web.Request, refusal: Refused) -> web.Response:
        address = request.remote or ""
        user, project, container = await asyncio.get_running_loop().run_in_executor(None, self._caller, address)
        self.audit.hit(user, project, AuditAction.hub_api_refused.value, f"{request.method} {request.raw_path[:200]}",
                       request.content_length or 0, reason=refusal.reason, address=address, container=container)
        return web.json_response({"message": f"Refused by the enclave: {refusal.reason}."}, status=refusal.status)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            rule, path = match(request.method, request.raw_path)
            if (request.content_length or 0) > rule.max_body:
                raise Refused(f"a body of {request.content_length} bytes is over this call's limit of {rule.max_body}", 413)
            body = await request.content.read(rule.max_body + 1)
            check_body(rule, body)
        except Refused as refusal:
            return await self.refuse(request, refusal)
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        async with self.session.request(request.method, self.upstream + path, headers=headers, data=body or None,
                                        allow_redirects=False) as answer:
            content = await answer.content.read(MAX_ANSWER + 1)
            if len(content) > MAX_ANSWER:
                log.error("the hub answered %s with more than %d bytes: not forwarded", path, MAX_ANSWER)
                return web.json_response({"message": "the hub's answer is too large"}, status=502)
            kept = {name: answer.headers[name] for name in ANSWER_HEADERS if name in answer.headers}
            return web.Response(status=answer.status, body=content, headers=kept)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        timeout = aiohttp.ClientTimeout(total=60, sock_connect=10)
        self.session = aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())
        app["flusher"] = asyncio.create_task(self.audit.flush_forever())

    async def _stop(self, app: web.Application) -> None:
        app["flusher"].cancel()
        await self.session.close()
        self.audit.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spawner_config.hub_api_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="port (default: ENCLAVE_HUB_API_ENCLAVE_PORT, 10107)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all; the firewall decides who reaches it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    settings = Settings.from_env()
    web.run_app(HubApiGate(settings).app(), host=args.host, port=args.port or settings.hub_api_enclave_port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
