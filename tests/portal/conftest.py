"""The portal service in-process: a real tornado server on a free port, in a thread, on a migrated SQLite registry.

Real: the registry, workflow, catalogue, templates, JupyterHub's XSRF handling and scope check.
Replaced, and only that: the hub's answer to "who is this?", by :class:`TestOnlyIdentityProvider`
passed as the ``portal_identity_provider`` setting — the single seam the app offers for tests.
The browser test of the whole path (``test_journey_browser.py``) uses the real hub instead.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from jupyterhub.services.auth import HubOAuth
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from enclave.db import make_engine, session_scope
from portal.config import PortalConfig
from portal.service import Office, make_app

from .factories import USERS, create_cast

PREFIX = "/services/portal/"
SERVICE_SCOPE = "access:services!service=portal"


class TestOnlyIdentityProvider:
    """TEST ONLY — stands in for the hub's user lookup; the cookie ``enclave-test-identity`` plays the
    hub's OAuth cookie, so XSRF checks apply as in production."""

    __test__ = False
    COOKIE = "enclave-test-identity"

    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens

    def get_user(self, handler) -> dict | None:
        name = self.tokens.get(handler.get_cookie(self.COOKIE) or "")
        return {"kind": "user", "name": name, "scopes": [SERVICE_SCOPE], "groups": []} if name else None


@dataclass
class PortalServer:
    url: str
    root: Path
    office: Office
    tokens: dict[str, str]

    def session(self):
        return self.office.session()

    def client(self, user: str | None) -> requests.Session:
        client = requests.Session()
        if user:
            client.cookies.set(TestOnlyIdentityProvider.COOKIE, self.tokens[user])
        return client

    def page(self, user: str | None, path: str, **kw) -> requests.Response:
        return self.client(user).get(self.url + PREFIX + path, timeout=30, allow_redirects=False, **kw)

    def post(self, user: str | None, path: str, data: dict, from_page: str = "", with_token: bool = True,
             **kw) -> requests.Response:
        """As a browser: GET ``from_page`` (sets the XSRF cookie), then POST the form with its token."""
        client = self.client(user)
        page = client.get(self.url + PREFIX + from_page, timeout=30)
        assert page.status_code == 200, page.text
        if with_token:
            data = {**data, "_xsrf": client.cookies.get("_xsrf")}
        return client.post(self.url + PREFIX + path, data=data, timeout=30, allow_redirects=False, **kw)


def _run(app, sockets, state: dict, started: threading.Event) -> None:
    async def main():
        server = HTTPServer(app)
        server.add_sockets(sockets)
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        await state["stop"].wait()
        server.stop()
        await server.close_all_connections()
    asyncio.run(main())


@pytest.fixture
def portal_env(tmp_path, sqlite_template) -> dict[str, str]:  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "registry.db")
    return {"ENCLAVE_HOME": str(home), "ENCLAVE_PROJECTS_DIR": str(tmp_path / "projects"),
            "ENCLAVE_ACTOR": "test-ops", "JUPYTERHUB_SERVICE_PREFIX": PREFIX}


@pytest.fixture
def portal_server(tmp_path, portal_env) -> Iterator[PortalServer]:
    config = PortalConfig.from_env(portal_env)
    engine = make_engine(config.settings.db_url)
    with session_scope(engine, config.settings.audit_head) as session:
        create_cast(session)
    tokens = {user: f"tok-{user}-{i}" for i, user in enumerate(USERS)}
    hub_auth = HubOAuth(api_token="test-token-never-sent", api_url="http://127.0.0.1:9/hub/api/", base_url=PREFIX,
                        hub_prefix="/hub/", oauth_client_id="service-portal", access_scopes={SERVICE_SCOPE})
    office = Office(config, engine)
    app = make_app(config, hub_auth=hub_auth, office=office,
                   identity_provider=TestOnlyIdentityProvider({t: u for u, t in tokens.items()}))
    sockets = bind_sockets(0, "127.0.0.1")
    state: dict = {}
    started = threading.Event()
    thread = threading.Thread(target=_run, args=(app, sockets, state, started), daemon=True)
    thread.start()
    assert started.wait(10), "the portal service did not start"
    try:
        yield PortalServer(f"http://127.0.0.1:{sockets[0].getsockname()[1]}", tmp_path, office, tokens)
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        engine.dispose()
