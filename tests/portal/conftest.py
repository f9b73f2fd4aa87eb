"""The portal service in-process: a real tornado server on a free port, in a thread, on a migrated SQLite registry.

Real: the registry, workflow, catalogue, templates, JupyterHub's XSRF handling and scope check.
Replaced, and only that: the hub's answer to "who is this?", by
:class:`~tests.service_kit.TestOnlyIdentityProvider` — the single seam the app offers for tests.
The browser test of the whole path (``test_journey_browser.py``) uses the real hub instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from enclave.db import make_engine, session_scope
from portal.config import PortalConfig
from portal.service import Office, make_app

from ..service_kit import TestOnlyIdentityProvider, hub_auth_for, serving
from .factories import USERS, create_cast

PREFIX = "/services/portal/"
SERVICE_SCOPE = "access:services!service=portal"


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
    office = Office(config, engine)
    app = make_app(config, hub_auth=hub_auth_for(PREFIX, "portal"), office=office,
                   identity_provider=TestOnlyIdentityProvider({t: u for u, t in tokens.items()}, SERVICE_SCOPE))
    try:
        with serving(app, "portal") as url:
            yield PortalServer(url, tmp_path, office, tokens)
    finally:
        engine.dispose()
