"""`make demo` itself, end to end: ``scripts/demo.sh`` in a temporary folder, then the researcher and
steward journeys in Chromium on the demo it leaves running (http://127.0.0.1:8000, the dev OIDC
provider on 127.0.0.1:9400, project demo-cardio with bob as a researcher, carol and dave as stewards).
``scripts/demo_stop.sh`` always runs at the end.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from ..conftest import REPO
from ..enclave.test_egress_e2e import gate, log_in
from .test_journeys import READ_PY, READ_R, TABLES, approve, download_released, row_counts, run_notebook, submit_flagged_then_fixed

PROJECT = "demo-cardio"
NETWORK = f"enclave-{PROJECT}"
RESEARCHER = "bob"
STEWARDS = ("carol", "dave")
URL = "http://127.0.0.1:8000"
PEOPLE = "300"


@dataclass
class Demo:
    """What the journey helpers (log_in, gate) need of a platform."""
    root: object
    output: str
    hub_url: str = URL
    issuer: str = "http://127.0.0.1:9400"

    def settings(self):
        """The demo's settings, as its enclave.env gives them (only the paths are needed here)."""
        from pathlib import Path

        from enclave.settings import Settings

        root = Path(str(self.root))
        return Settings.from_env({"ENCLAVE_HOME": str(root / "var"), "ENCLAVE_PROJECTS_DIR": str(root / "projects")})

    def container(self, user: str, slug: str = PROJECT):
        import docker

        return docker.from_env().containers.get(f"enclave-{slug}-{user}")


def _taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _remove_demo_containers(client) -> None:
    for container in client.containers.list(all=True, filters={"label": f"enclave.project={PROJECT}"}):
        try:
            container.remove(force=True)
        except Exception as error:  # noqa: BLE001 - best effort at teardown
            print(f"could not remove {container.name}: {error}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import docker

    for port, what in ((8000, "the hub"), (9400, "the OIDC provider")):
        if _taken(port):
            pytest.fail(f"port {port} ({what}) is already taken: a demo is probably running; "
                        "stop it with `make demo-stop` and run the test again", pytrace=False)
    client = docker.from_env()
    network_existed = bool(client.networks.list(names=[NETWORK]))
    root = tmp_path_factory.mktemp("demo")
    try:
        started = time.monotonic()
        result = subprocess.run(["bash", "scripts/demo.sh", str(root), PEOPLE], cwd=REPO,
                                capture_output=True, text=True, timeout=1800)
        print(f"demo.sh took {time.monotonic() - started:.0f}s")
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"scripts/demo.sh exited {result.returncode}:\n{output[-6000:]}"
        assert f"{URL}/" in result.stdout, f"demo.sh did not print {URL}/:\n{output[-6000:]}"
        yield Demo(root=root, output=output)
    finally:
        stopped = subprocess.run(["bash", "scripts/demo_stop.sh", str(root)], cwd=REPO,
                                 capture_output=True, text=True, timeout=300)
        print(stopped.stdout, stopped.stderr)
        _remove_demo_containers(client)
        if not network_existed:
            for network in client.networks.list(names=[NETWORK]):
                if network.name == NETWORK:
                    try:
                        network.remove()
                    except Exception as error:  # noqa: BLE001 - best effort at teardown
                        print(f"could not remove network {NETWORK}: {error}")


def test_the_journeys_on_the_demo(demo, browser):
    # The researcher logs in (OIDC + TOTP), starts demo-cardio from the home page, JupyterLab loads.
    researcher = browser.new_context(accept_downloads=True)
    try:
        page = researcher.new_page()
        log_in(page, demo, RESEARCHER)
        page.wait_for_selector(f"#open-{PROJECT}")
        page.click(f"#open-{PROJECT}")
        page.wait_for_url(re.compile(rf"/user/{RESEARCHER}/{PROJECT}/lab"), timeout=180_000)
        page.wait_for_selector(".jp-LabShell, #jp-main-dock-panel", timeout=120_000)
        container = demo.container(RESEARCHER)

        # Python and R notebooks read the extracts: the row counts are the manifest's.
        manifest = json.loads((demo.settings().project_dir(PROJECT) / "extracts" / "manifest.json").read_text())
        expected = {t: manifest["tables"][t]["rows_out"] for t in TABLES}
        for kernel, source in (("python3", READ_PY), ("ir", READ_R)):
            assert row_counts(run_notebook(demo, container, PROJECT, kernel, source)) == expected, kernel

        # A table with a small cell is flagged; the fixed table, a new request, passes.
        _, second, held = submit_flagged_then_fixed(container)

        # Two stewards approve in their browsers.
        for number, name in enumerate(STEWARDS):
            context = browser.new_context()
            try:
                steward = context.new_page()
                log_in(steward, demo, name)
                approve(steward, demo, second, held, number, last=number == len(STEWARDS) - 1)
            finally:
                context.close()

        # The researcher downloads the released file in the browser: the quarantined bytes.
        page.goto(f"{gate(demo)}requests/{second}")
        page.wait_for_load_state()
        download_released(page, held)
    finally:
        researcher.close()
