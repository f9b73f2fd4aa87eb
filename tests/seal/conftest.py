"""A sealed platform for the seal's tests: a real hub, its proxy, the seal and the gate, real
containers of the real image, and the researcher's channels driven as a browser would drive them
(HTTP with the user's hub token or cookies, kernel and terminal websockets).

Every request carries an identity the seal checks with the hub: a researcher's hub token here, the
seal's own session cookie in a browser (test_lab_ui) or made with the seal's secret (:func:`seal_cookie`).

Projects: ``open`` (alice, bob, erin; the default 512 KiB message cap and budgets no channel test
meets: 32 MiB an hour, 96 MiB a day) and ``tight`` (alice, bob, carol, dan — budgets are per user
and project; a 16 KiB message cap, 64 KiB an hour, 192 KiB a day and a 32 MiB workspace, so that
the limits themselves are what the tests meet) and ``plain`` (the default budgets and caps: the
attacks and the analysis day of test_exfiltration, and the same attacks through Chromium in
test_exfiltration_browser: one member per attack).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
import requests

from ..enclave.conftest import image  # noqa: F401 - the notebook image, built once per session
from ..enclave.platform import running_platform, slug

# budgets are per user and project; ``plain`` has the defaults (test_exfiltration: one member per attack)
PROJECTS = {"open": ["alice", "bob", "erin"], "tight": ["alice", "bob", "carol", "dan"],
            "plain": ["frank", "grace", "heidi", "ivan", "judy", "kate", "leo", "mia", "nina", "oscar"]}
RESOURCES = {"open": {"output_budget_per_hour": "32M", "output_budget_per_day": "96M"},
             "tight": {"output_message_cap": "16K", "output_budget_per_hour": "64K", "output_budget_per_day": "192K",
                       "workspace_quota": "32M"}}
PEOPLE = 1500  # extracts of a few hundred KiB: larger than the tight budget


@pytest.fixture(scope="session")
def sealed(tmp_path_factory, image):  # noqa: F811
    with running_platform(tmp_path_factory.mktemp("sealed"), image, PROJECTS, resources=RESOURCES, people=PEOPLE) as p:
        yield p


def in_own_loop(coroutine):
    """Run a websocket client to completion in a thread of its own (the session's browser holds
    the main thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Researcher:
    """One user's view of the platform from their browser's side: their hub token, their servers."""

    def __init__(self, platform, user: str):
        self.platform, self.user = platform, user
        platform.api("POST", "/users", json={"usernames": [user]})
        response = platform.api("POST", f"/users/{user}/tokens", json={"note": "seal test", "expires_in": 7200})
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {self.token}"

    def server(self, name: str) -> str:
        return f"{self.platform.hub_url}/user/{self.user}/{slug(name)}/"

    def get(self, name: str, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.server(name) + path, timeout=60, allow_redirects=False, **kwargs)

    def request(self, method: str, name: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.server(name) + path, timeout=60, allow_redirects=False, **kwargs)

    def start(self, name: str):
        response = self.platform.start_server(self.user, slug(name))
        assert response.status_code < 400, response.text
        return self.platform.container(self.user, slug(name))

    # --- websockets, as JupyterLab uses them ---

    def ws_url(self, name: str, path: str) -> str:
        return self.server(name).replace("http://", "ws://") + path

    def run_cell(self, name: str, code: str, timeout: float = 90) -> list[dict]:
        """Execute ``code`` in a new kernel of the server through its websocket; every message the
        browser received for it (parsed), up to the kernel's idle status."""
        kernel = self.request("POST", name, "api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        try:
            return in_own_loop(self._run_cell(name, kernel.json()["id"], code, timeout))
        finally:
            self.request("DELETE", name, f"api/kernels/{kernel.json()['id']}")

    async def _run_cell(self, name: str, kernel_id: str, code: str, timeout: float) -> list[dict]:
        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        request = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                              "username": self.user, "date": "", "version": "5.3"},
                   "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
                   "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                               "allow_stdin": False, "stop_on_error": True}}
        received: list[dict] = []
        headers = {"Authorization": f"token {self.token}"}
        async with aiohttp.ClientSession() as http:
            url = self.ws_url(name, f"api/kernels/{kernel_id}/channels?session_id={session}")
            async with http.ws_connect(url, headers=headers, max_msg_size=0) as ws:
                await ws.send_str(json.dumps(request))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    try:
                        msg = await ws.receive(timeout=deadline - time.monotonic())
                    except asyncio.TimeoutError:
                        break  # past the budget, even the kernel's idle status may be held back
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    message = json.loads(msg.data)
                    message["_bytes"] = len(msg.data.encode())
                    received.append(message)
                    if (message.get("msg_type") == "status" and message.get("parent_header", {}).get("msg_id") == msg_id
                            and message["content"].get("execution_state") == "idle"):
                        break
        return received

    def terminal(self, name: str, command: str, until: str, timeout: float = 60) -> tuple[str, int]:
        """Type ``command`` in a new terminal through its websocket; what the browser received
        (text) and the bytes of the messages, up to ``until`` or the timeout."""
        created = self.request("POST", name, "api/terminals")
        assert created.status_code == 200, created.text
        try:
            return in_own_loop(self._terminal(name, created.json()["name"], command, until, timeout))
        finally:
            self.request("DELETE", name, f"api/terminals/{created.json()['name']}")

    async def _terminal(self, name: str, terminal: str, command: str, until: str, timeout: float) -> tuple[str, int]:
        text, size = "", 0
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(self.ws_url(name, f"terminals/websocket/{terminal}"),
                                       headers={"Authorization": f"token {self.token}"}, max_msg_size=0) as ws:
                await ws.send_str(json.dumps(["stdin", command + "\r"]))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and until not in text:
                    try:
                        msg = await ws.receive(timeout=min(5.0, deadline - time.monotonic()))
                    except asyncio.TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    size += len(msg.data.encode())
                    data = json.loads(msg.data)
                    if data[0] == "stdout":
                        text += data[1]
        return text, size


@pytest.fixture(scope="session")
def bob(sealed) -> Researcher:
    return Researcher(sealed, "bob")


def audit_events(platform, action: str, since: int = 0) -> list[dict]:
    """The audit log's events of one kind, with their details (the real registry)."""
    from sqlalchemy import select

    from enclave.db import make_engine
    from enclave.models import AuditEvent

    engine = make_engine(platform.settings().db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(AuditEvent.seq, AuditEvent.actor, AuditEvent.project, AuditEvent.details)
                                      .where(AuditEvent.action == action, AuditEvent.seq > since)).all()
    finally:
        engine.dispose()
    return [{"seq": seq, "actor": actor, "project": project, **details} for seq, actor, project, details in rows]


def last_seq(platform) -> int:
    from sqlalchemy import func, select

    from enclave.db import make_engine
    from enclave.models import AuditEvent

    engine = make_engine(platform.settings().db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.max(AuditEvent.seq))).scalar() or 0
    finally:
        engine.dispose()


def wait_for_audit(platform, action: str, since: int, hits: int, timeout: float = 30) -> list[dict]:
    """Poll until the refusals since ``since`` add up to ``hits`` (the seal folds floods into one
    event per 10 s window, with their count)."""
    deadline = time.monotonic() + timeout
    while True:
        events = audit_events(platform, action, since)
        total = sum(e.get("hits", 1) if e.get("folded") else 1 for e in events)
        if total >= hits or time.monotonic() > deadline:
            return events
        time.sleep(1)


def seal_cookie(platform, user: str, token: str, now: float | None = None) -> str:
    """The seal's session cookie for ``user`` holding hub ``token``, signed with the platform seal's
    own secret (as its OAuth callback would set it; ``now`` in the past makes a stale one)."""
    from spawner_config.seal_identity import COOKIE, Signer, session_cookie

    secret = (platform.settings().home / "seal" / "cookie_secret").read_bytes()
    return f"{COOKIE}={session_cookie(Signer(secret), user, token, now=now)}"


def spent(platform, user: str, project: str) -> dict[str, int]:
    """What the registry says the current hour and day hold for (user, project)."""
    from datetime import UTC, datetime

    from enclave.db import make_engine, session_scope
    from enclave.output_budgets import spent_now

    engine = make_engine(platform.settings().db_url)
    try:
        with session_scope(engine) as session:
            return spent_now(session, project, user, datetime.now(UTC))
    finally:
        engine.dispose()


def all_spent(platform) -> int:
    """Everything every budget of the registry holds."""
    from sqlalchemy import func, select

    from enclave.db import make_engine
    from enclave.models import OutputBudget

    engine = make_engine(platform.settings().db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.coalesce(func.sum(OutputBudget.spent), 0))).scalar()
    finally:
        engine.dispose()


def wait_for_spent(platform, user: str, project: str, above: int, timeout: float = 30) -> dict[str, int]:
    """Poll until the day's spending of (user, project) in the registry exceeds ``above`` (the seal
    writes behind, every second)."""
    deadline = time.monotonic() + timeout
    while True:
        now = spent(platform, user, project)
        if now["day"] > above or time.monotonic() > deadline:
            return now
        time.sleep(0.5)
