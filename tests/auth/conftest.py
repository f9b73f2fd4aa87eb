"""Login tests: the registry fixtures (SQLite and PostgreSQL) for the TOTP unit tests, and a real
hub with the Enclave authenticator, its proxy and a real OIDC provider for the browser tests.

The hub here is started from a small configuration of its own (login settings only, through
``enclave.auth.hub.configure_login``, as ``jupyterhub_config.py`` does): the full configuration
needs Docker and the host firewall, and logging in needs neither.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from enclave.auth.devidp import running_idp

from ..conftest import REPO, run_enclave
from ..enclave.platform import _wait_http, free_port

ADMIN_TOKEN = "enclave-auth-test-" + os.urandom(8).hex()
USERS = [  # name, roles, oidc subject (None: the subject is the user name)
    ("alice", ["researcher"], "7f3c-alice"),
    ("bob", ["researcher"], None),
    ("carol", ["researcher"], None),
    ("dave", ["researcher", "steward"], None),
    ("erin", ["researcher"], None),
]

HUB_CONFIG = """
from enclave.auth.hub import configure_login
from enclave.auth.settings import AuthSettings
from enclave.settings import Settings

c = get_config()  # noqa: F821
settings = Settings.from_env()
configure_login(c, settings, AuthSettings.from_env())
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.db_url = "sqlite:///{home}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{home}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = "{home}/proxy.pid"
c.JupyterHub.redirect_to_server = False
c.JupyterHub.allow_named_servers = True
c.JupyterHub.services = [{{"name": "test-admin", "api_token": "{token}"}}]
c.JupyterHub.load_roles += [{{"name": "test-admin", "services": ["test-admin"],
                             "scopes": ["admin:users", "admin:groups", "list:users", "read:roles"]}}]
c.JupyterHub.log_level = "DEBUG"
"""


@dataclass
class LoginHub:
    url: str
    issuer: str
    env: dict[str, str]
    log: Path

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {ADMIN_TOKEN}"}, **kwargs)

    def enclave(self, *args: str) -> str:
        result = run_enclave(*args, env=self.env)
        assert result.returncode == 0, f"enclave {' '.join(args)}: {result.stderr}"
        return result.stdout

    def audit_actions(self) -> list[tuple[str, str]]:
        lines = self.enclave("audit", "tail", "-n", "500").splitlines()
        return [(line.split()[3], line.split()[4]) for line in lines]


@pytest.fixture(scope="session")
def login_hub(tmp_path_factory) -> Iterator[LoginHub]:
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail("configurable-http-proxy is not installed: run `make host`", pytrace=False)
    root = tmp_path_factory.mktemp("login-hub")
    home = root / "var"
    proxy_port, hub_port, proxy_api_port, idp_port = free_port(), free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    with running_idp(idp_port, root / "idp.log") as issuer:
        env = {**os.environ, "ENCLAVE_HOME": str(home), "ENCLAVE_ACTOR": "test-ops",
               "ENCLAVE_OIDC_ISSUER": issuer, "ENCLAVE_OIDC_CLIENT_ID": "enclave-hub",
               "ENCLAVE_OIDC_CLIENT_SECRET": "test-secret", "ENCLAVE_OIDC_CALLBACK_URL": f"{url}/hub/oauth_callback",
               "ENCLAVE_TOTP_KEY": Fernet.generate_key().decode(), "ENCLAVE_SESSION_HOURS": "8"}
        hub = LoginHub(url, issuer, env, root / "hub.log")
        hub.enclave("db", "upgrade")
        for name, roles, sub in USERS:
            hub.enclave("user", "add", name, *[a for r in roles for a in ("--role", r)],
                        *(("--oidc-sub", sub) if sub else ()))
        config = root / "hub_config.py"
        config.write_text(HUB_CONFIG.format(proxy_port=proxy_port, hub_port=hub_port, proxy_api_port=proxy_api_port,
                                            home=home, token=ADMIN_TOKEN))
        with open(hub.log, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=root, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(f"{url}/hub/api/", process, hub.log)
            yield hub
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            pid_file = home / "proxy.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass


SCREENSHOTS = REPO / "docs" / "screenshots"
