"""The tornado application of the portal, and :func:`main`, which the hub runs as the ``portal`` service.

Identity as in the egress gate: browsers log in with the hub's OAuth (callback at
``<prefix>oauth_callback``); public pages need no login. Every form carries JupyterHub's XSRF
token (``xsrf_cookies=True``). The one seam for tests is the service kit's ``identity_provider``
application setting (:mod:`enclave.shell.service`), which replaces only the hub's lookup of
the user model; production never sets it.
"""

from __future__ import annotations

import asyncio
import logging
import os

from jinja2 import Environment
from jupyterhub.services.auth import HubOAuth
from tornado import web
from tornado.httpserver import HTTPServer

from enclave.shell.service import service_app
from enclave.shell.web import Shell
from enclave.web import escaping_templates, persistent_cookie_secret

from ..config import PortalConfig
from . import handlers as h
from .office import Office

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
log = logging.getLogger("portal.service")


def templates() -> Environment:
    return escaping_templates(TEMPLATES)


def cookie_secret(config: PortalConfig) -> bytes:
    return persistent_cookie_secret(config.data_dir)


def make_app(config: PortalConfig, hub_auth: HubOAuth | None = None, office: Office | None = None,
             identity_provider=None, **settings) -> web.Application:
    office = office or Office(config)
    hub_auth = hub_auth or HubOAuth(cache_max_age=60)
    p = config.prefix
    n = r"(\d+)"
    routes = [
        (p, h.HomeHandler),
        (p + "catalogue", h.CatalogueHandler),
        (p + r"catalogue\.(ttl|jsonld)", h.ExportHandler),
        (p + "catalogue/datasets/([a-z0-9-]+)", h.DatasetHandler),
        (p + "catalogue/tables/([A-Za-z0-9_]+)", h.TableHandler),
        (p + "directory", h.DirectoryHandler),
        (p + "requests", h.MyRequestsHandler),
        (p + "requests/new", h.NewRequestHandler),
        (p + f"requests/{n}", h.RequestHandler),
        (p + f"requests/{n}/(submit|withdraw|revise|comment|conflict|opinion|send-back|authorise)", h.ActionHandler),
        (p + f"requests/{n}/decision-document", h.DecisionDocumentHandler),
        (p + "committee", h.CommitteeHandler),
        (p + "staff", h.StaffHandler),
        (p + "publish", h.PublishHandler),
    ]
    hub_base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    return service_app(
        routes, prefix=p, hub_auth=hub_auth, jinja=templates(), base=h.BaseHandler, identity_provider=identity_provider,
        shell=settings.pop("shell", None) or Shell("portal", "Front office: catalogue and access requests", office.session, hub_base),
        cookie_secret=settings.pop("cookie_secret", None) or cookie_secret(config), office=office, config=config, **settings,
    )


async def serve(config: PortalConfig) -> None:
    app = make_app(config)
    server = HTTPServer(app, xheaders=True)
    server.listen(config.bind_port, config.bind_host)
    log.info("portal listening on %s:%s%s", config.bind_host, config.bind_port, config.prefix)
    await asyncio.Event().wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(PortalConfig.from_env()))
