"""A real enclave platform for the tests: registry, two provisioned projects, a JupyterHub with its
proxy, all on this host's Docker engine — and every container, network and rule removed after.

Import the fixtures from here in a test module: ``from .platform import platform, hub_api``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from ..conftest import REPO

SOURCE_PEOPLE = 300
PROJECTS = {  # slug: members
    "alpha": ["alice", "carol"],
    "beta": ["bob"],
    "gamma": ["alice"],   # suspended by a test
    "delta": ["alice"],   # expired by a test
}
ADMIN_TOKEN = "enclave-test-admin-" + os.urandom(8).hex()
RUN = os.urandom(2).hex()  # this session's projects never collide with anything else on the host


def slug(name: str) -> str:
    """The real slug of one of :data:`PROJECTS` in this test session."""
    return f"{name}-{RUN}"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port never handed out before in this test session: the kernel may give the same
    free port to two ``bind(0)`` calls in a row, and two of a platform's services on one port put one
    behind the other's address (CI saw the gate's routes answered by the hub API gate)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


TEST_RESOURCES = {"mem_limit": "1G", "cpu_limit": 1.0, "pids_limit": 256}  # a project's manifest may change them


def manifest(slug: str, members: list[str], resources: dict[str, str] | None = None) -> str:
    return f"""slug = "{slug}"
title = "Test project {slug}"
purpose = "health_information"
principal_investigator = "{members[0]}"
members = {json.dumps(members)}

[approvals]
committee_reference = "TEST-{slug}"
committee_date = 2026-01-01
cnil_reference = "CNIL-{slug}"
cnil_date = 2026-02-01
expires_on = {date.today() + timedelta(days=365)}

[data]
tables = ["IR_BEN_R", "ER_PRS_F"]
key_version = 1

[resources]
""" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in {**TEST_RESOURCES, **(resources or {})}.items())


@dataclass
class Platform:
    root: Path
    env: dict[str, str]
    hub_url: str = ""
    hub_api_port: int = 0
    hub_api_enclave_port: int = 0  # the hub API gate: what containers reach of the hub API
    proxy_port: int = 0
    proxy_api_port: int = 0
    image: str = ""
    issuer: str = ""  # the development OIDC provider the hub's login uses (enclave.auth.devidp)
    projects: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    log: Path = field(default_factory=Path)

    def enclave(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "enclave.cli", *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"enclave {' '.join(args)}: {result.stderr}"
        return result

    def settings(self):
        from enclave.settings import Settings

        return Settings.from_env(self.env)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {ADMIN_TOKEN}"}
        return requests.request(method, f"{self.hub_url}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def start_server(self, user: str, slug: str, timeout: float = 120) -> requests.Response:
        """Ask the hub for user's server of project slug; wait until it is ready or has failed."""
        from enclave import firewall

        # Other tests on this host (provisioning) rebuild the firewall for the default ports: as the
        # hub does at start, make sure it holds this hub's ports.
        firewall.apply(firewall.current_openings(), self.settings().firewall_ports)
        self.api("POST", "/users", json={"usernames": [user]})
        current = self.api("GET", f"/users/{user}")
        if current.json().get("servers", {}).get(slug, {}).get("ready"):
            return current  # already running
        response = self.api("POST", f"/users/{user}/servers/{slug}")
        if response.status_code >= 400:
            return response
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.api("GET", f"/users/{user}").json()
            server = state.get("servers", {}).get(slug)
            if server and server.get("ready"):
                return response
            if not server or (not server.get("pending") and not server.get("ready")):
                return self.api("GET", f"/users/{user}")  # the spawn failed and is gone
            time.sleep(1)
        raise AssertionError(f"{user}/{slug} not ready after {timeout}s; hub log: {self.log}")

    def stop_server(self, user: str, slug: str) -> None:
        self.api("DELETE", f"/users/{user}/servers/{slug}", json={"remove": True})

    def container(self, user: str, slug: str):
        import docker

        return docker.from_env().containers.get(f"enclave-{slug}-{user}")

    def hub_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the hub exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:  # the proxy answers 404 until the hub routes it
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the hub did not answer at {url} within {timeout}s:\n{log.read_text()[-4000:]}")


@contextmanager
def running_platform(root: Path, image: str, projects: dict[str, list[str]], hub_config: str = "",
                     resources: dict[str, dict[str, str]] | None = None, people: int = SOURCE_PEOPLE,
                     hub_command=None, base_config: str = str(REPO / "jupyterhub_config.py"),
                     stack_image: str = "") -> Iterator[Platform]:
    """Registry, provisioned ``projects`` ({name: members}) and a running hub under ``root``;
    ``hub_config`` is appended to the hub's configuration, ``resources`` ({name: {field: value}}) to
    the projects' manifests; ``stack_image`` is the image of projects choosing ``image = "stack"``.
    Everything is removed at the end.

    ``hub_command(platform, config_path)`` gives the command that runs the hub in the foreground
    (default: JupyterHub on this host); ``base_config`` is the path of jupyterhub_config.py as that
    command sees it (tests/scale run the hub in its container)."""
    if shutil.which("configurable-http-proxy") is None:
        raise RuntimeError("configurable-http-proxy is not installed: run `make host`")
    from pseudonymizer.synth import generate

    generate(root / "sources", people=people, seed=11, progress=False)
    (root / "master.key").write_text(os.urandom(32).hex())
    for private in (root / "sources", root / "master.key"):  # the hub refuses to start otherwise
        subprocess.run(["chmod", "-R", "go-rwx", str(private)], check=True)
    (root / "projects").mkdir()
    p = Platform(root=root, env={}, hub_api_port=free_port(), hub_api_enclave_port=free_port(), proxy_port=free_port(), proxy_api_port=free_port(),
                 image=image, projects=[slug(name) for name in projects])
    # PYTHONPATH: the hub and its services run this checkout's code, whichever checkout the venv was installed from.
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    p.env = {**os.environ, "PYTHONPATH": pythonpath, "ENCLAVE_HOME": str(root / "var"), "ENCLAVE_PROJECTS_DIR": str(root / "projects"),
             "ENCLAVE_SOURCES_DIR": str(root / "sources"), "ENCLAVE_MASTER_KEY_FILE": str(root / "master.key"),
             "ENCLAVE_HUB_API_PORT": str(p.hub_api_port), "ENCLAVE_HUB_API_ENCLAVE_PORT": str(p.hub_api_enclave_port),
             "ENCLAVE_PROXY_PORT": str(p.proxy_port),
             "ENCLAVE_PROXY_API_PORT": str(p.proxy_api_port), "ENCLAVE_EGRESS_PORT": str(free_port()),
             "ENCLAVE_EGRESS_ENCLAVE_PORT": str(free_port()), "ENCLAVE_SEAL_PORT": str(free_port()),
             "ENCLAVE_PORTAL_PORT": str(free_port()), "ENCLAVE_TOOLS_ENCLAVE_PORT": str(free_port()),
             "ENCLAVE_USAGE_PORT": str(free_port()),
             "ENCLAVE_NOTEBOOK_IMAGE": image, "ENCLAVE_ACTOR": "test-ops",
             # A real login: OIDC with the development provider (started below), then TOTP; the egress
             # test's stewards log in with a browser.
             "ENCLAVE_OIDC_ISSUER": "(set below)", "ENCLAVE_OIDC_CLIENT_ID": "enclave-test",
             "ENCLAVE_OIDC_CLIENT_SECRET": "unused", "ENCLAVE_TOTP_KEY": "dGVzdC10b3RwLWtleS1ub3QtYS1zZWNyZXQtMzJieXQ=",
             "ENCLAVE_OIDC_CALLBACK_URL": f"http://127.0.0.1:{p.proxy_port}/hub/oauth_callback"}
    if stack_image:
        p.env["ENCLAVE_NOTEBOOK_STACK_IMAGE"] = stack_image
    stack = ExitStack()
    try:
        from enclave.auth.devidp import running_idp

        p.issuer = stack.enter_context(running_idp(free_port(), root / "idp.log"))
        p.env["ENCLAVE_OIDC_ISSUER"] = p.issuer
        p.enclave("db", "upgrade")
        for user in sorted({u for members in projects.values() for u in members} | {"eve"}):
            p.enclave("user", "add", user, "--role", "researcher")
        for name, members in projects.items():
            (root / "projects" / f"{slug(name)}.toml").write_text(manifest(slug(name), members, (resources or {}).get(name)))
            p.enclave("provision", slug(name), "--quiet")
        config = root / "hub_config.py"
        config.write_text(
            f"load_subconfig({base_config!r})\n"
            f"c.JupyterHub.services.append({{'name': 'test-admin', 'api_token': {ADMIN_TOKEN!r}}})\n"
            "c.JupyterHub.load_roles.append({'name': 'test-admin', 'scopes': ['admin:users', 'admin:servers', 'list:users', 'tokens'], 'services': ['test-admin']})\n"
            "c.JupyterHub.services = [s for s in c.JupyterHub.services if s['name'] != 'enclave-reconciler']\n"
            "c.JupyterHub.load_roles = [r for r in c.JupyterHub.load_roles if r['name'] != 'enclave-reconciler']\n"
            "c.JupyterHub.log_level = 'DEBUG'\n" + hub_config
        )
        p.log = root / "hub.log"
        p.hub_url = f"http://127.0.0.1:{p.proxy_port}"
        with open(p.log, "wb") as log:
            command = hub_command(p, config) if hub_command else [sys.executable, "-m", "jupyterhub", "-f", str(config)]
            p.process = subprocess.Popen(command, cwd=root, env=p.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_http(f"{p.hub_url}/hub/api/", p.process, p.log)
        yield p
    finally:
        _teardown(p)
        stack.close()


@pytest.fixture(scope="session")
def platform(tmp_path_factory, image):
    """The enclave platform of :data:`PROJECTS`, shared by the session's tests."""
    with running_platform(tmp_path_factory.mktemp("platform"), image, PROJECTS) as p:
        yield p


def _teardown(p: Platform) -> None:
    if p.process is not None and p.process.poll() is None:
        os.killpg(p.process.pid, signal.SIGTERM)
        try:
            p.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.process.pid, signal.SIGKILL)
    pid_file = p.root / "var" / "jupyterhub-proxy.pid"  # the proxy outlives a killed hub
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    from enclave import firewall, networks

    for project in p.projects:
        try:
            networks.remove_network(project)  # its containers first
        except Exception:  # noqa: BLE001 - clean up the rest regardless
            pass
    from enclave import workspace
    from enclave.settings import Settings

    for point in workspace.mounted_under(p.root):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)
    remaining = firewall.current_openings()
    if remaining:
        firewall.apply(remaining, Settings.from_env({}).firewall_ports)
    else:
        firewall.remove()
