"""The tornado application of the gate, and :func:`main`, which the hub runs as the ``egress`` service.

Identity: browsers log in with the hub's OAuth (:class:`~jupyterhub.services.auth.HubOAuth`, the
callback at ``<prefix>oauth_callback``); API clients send their hub token (``Authorization:
token …``), which HubOAuth checks with the hub. Forms are protected by JupyterHub's XSRF tokens
(``xsrf_cookies=True``; the token is bound to the hub login), which token-authenticated API
requests do not need.

The one seam for tests is the service kit's ``identity_provider`` application setting
(:data:`IDENTITY_PROVIDER_SETTING`, :mod:`enclave.shell.service`): an object with ``get_user(handler) -> dict | None`` that
replaces *only* the hub lookup of the user model (``HubAuth.get_user``). Scope checks, XSRF,
templates, the registry, quarantine, checks, workflow and release store stay real. Production
never sets it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from jinja2 import Environment
from jupyterhub.services.auth import HubOAuth
from tornado import web
from tornado.httpserver import HTTPServer

from enclave.enclave_origin import EnclaveOrigins
from enclave.shell.service import service_app
from enclave.shell.web import Shell
from enclave.web import escaping_templates, persistent_cookie_secret

from ..review_summary import passed_and_other
from . import handlers as h, imports
from .config import GateConfig
from .gate import Gate

TEMPLATES = Path(__file__).resolve().parent / "templates"
log = logging.getLogger("egress_gate.service")


def templates() -> Environment:
    env = escaping_templates(TEMPLATES)
    env.globals["passed_and_other"] = passed_and_other
    return env


def hub_base() -> str:
    return os.environ.get("JUPYTERHUB_BASE_URL", "/")


def cookie_secret(config: GateConfig) -> bytes:
    return persistent_cookie_secret(config.data_dir)


def make_app(config: GateConfig, hub_auth: HubOAuth | None = None, gate: Gate | None = None,
             identity_provider=None, enclave_origins: EnclaveOrigins | None = None, **settings) -> web.Application:
    """The application; ``hub_auth`` defaults to a HubOAuth configured from the ``JUPYTERHUB_*`` environment.

    With ``enclave_origins``, the application of the enclave listener: the submission API only, each
    request bound to the enclave server that sent it (:mod:`enclave.enclave_origin`)."""
    gate = gate or Gate(config)
    hub_auth = hub_auth or HubOAuth(cache_max_age=60)
    p = config.prefix
    api_routes = [
        (p + "api/requests", h.ApiRequestsHandler),
        (p + r"api/requests/(\d+)", h.ApiRequestHandler),
    ]
    routes = api_routes if enclave_origins is not None else [
        (p, h.HomeHandler),
        (p + "requests", h.MyRequestsHandler),
        (p + "requests/new", h.NewRequestHandler),
        (p + r"requests/(\d+)", h.RequestHandler),
        (p + r"requests/(\d+)/decision", h.DecisionHandler),
        (p + r"requests/(\d+)/release", h.ReleaseHandler),
        (p + r"requests/(\d+)/update", h.UpdateFileHandler),
        (p + r"requests/(\d+)/withdraw", h.WithdrawHandler),
        (p + r"requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)", h.DownloadHandler),
        (p + r"requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)/preview", h.PreviewHandler),
        (p + r"requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)/preview\.csv", h.PreviewCsvHandler),
        (p + r"requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)/figure", h.FigureHandler),
        (p + "queue", h.QueueHandler),
        (p + "security", h.SecurityHandler),
        *imports.routes(p),  # the import airlock's page and upload API (browsers only, never enclaves)
        *api_routes,
    ]
    return service_app(
        routes, prefix=p, hub_auth=hub_auth, jinja=templates(), base=None if enclave_origins is not None else h.BaseHandler,
        cookie_secret=settings.pop("cookie_secret", None) or cookie_secret(config), identity_provider=identity_provider,
        shell=settings.pop("shell", None) or Shell("egress", "Outputs: the egress gate", gate.session, hub_base=hub_base()),
        gate=gate, config=config, enclave_origins=enclave_origins, **settings,
    )


async def serve(config: GateConfig) -> None:
    gate, hub_auth = Gate(config), HubOAuth(cache_max_age=60)
    server = HTTPServer(make_app(config, hub_auth, gate), xheaders=True)
    server.listen(config.bind_port, config.bind_host)
    log.info("egress gate listening on %s:%s%s", config.bind_host, config.bind_port, config.prefix)
    # Enclave servers' submissions: the firewall opens this port at each project network's gateway
    # only; the peer address must be a container's, so no forwarded-for header is trusted here.
    enclave_server = HTTPServer(make_app(config, hub_auth, gate, enclave_origins=EnclaveOrigins()), xheaders=False)
    enclave_server.listen(config.settings.egress_enclave_port, "0.0.0.0")
    log.info("egress gate: enclave submissions on port %s", config.settings.egress_enclave_port)
    await asyncio.Event().wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(GateConfig.from_env()))
