"""An authorisation that ends takes the project out of reach in every process that notices it.

The reconciler (``python -m spawner_config.reconciler --once``, the hub's service) suspends an
expired project; its Docker network and its opening in the host firewall must go with it, although
the reconciler never provisions anything. The hub API it asks for running servers is a loopback
stand-in answering "no servers": what is tested is the reconciler's own side effects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from enclave.networks import bridge_name

from ..conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class _NoServers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps([]).encode() if self.path.startswith("/users") else b"{}"
        self.send_response(200 if self.path.startswith("/users") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoServers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def firewall_input_rules() -> str:
    listed = subprocess.run(["iptables", "-w", "-S", "ENCLAVE-INPUT"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_reconciler_suspending_an_expired_project_removes_its_network_and_firewall_opening(
        registry, enclave_project, new_slug, hub_api):
    project = enclave_project(registry, new_slug("expiry"))
    project.provision()
    bridge = bridge_name(project.slug)
    assert project.network() is not None and f"-i {bridge} " in firewall_input_rules()
    registry.execute("UPDATE projects SET expires_on = :day WHERE slug = :slug",
                     day=date.today() - timedelta(days=1), slug=project.slug)

    reconciler = subprocess.run(
        [sys.executable, "-m", "spawner_config.reconciler", "--once"], cwd=REPO, capture_output=True, text=True,
        timeout=120, env={**os.environ, **project.env(), "JUPYTERHUB_API_URL": hub_api,
                          "JUPYTERHUB_API_TOKEN": "unused"})
    assert reconciler.returncode == 0, reconciler.stderr
    assert f"suspended {project.slug}: authorisation expired" in reconciler.stderr
    assert "reconcile pass failed" not in reconciler.stderr, reconciler.stderr

    assert project.state() == "suspended"
    assert project.network() is None
    assert f"-i {bridge} " not in firewall_input_rules()
    [event] = [e for e in project.events() if e.action == "project.suspend"]
    assert event.actor == "reconciler" and event.details["reason"].startswith("authorisation expired on")
