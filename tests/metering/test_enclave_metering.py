"""Metering of real enclaves: a real hub (its ``usage`` service sampling every 2 s), real containers
of the notebook image, researchers running cells through the seal, and the cgroup counters as the
engine reports them (``docker stats``: the same kernel counters, read by another program).

One platform for the module; run under the shared Docker lock.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import docker
import pytest
import requests
from sqlalchemy import func, select

from enclave.db import make_engine, session_scope
from metering.models import UsageCounter, UsageDay

from ..conftest import REPO
from ..enclave.conftest import image  # noqa: F401 - the notebook image
from ..enclave.platform import running_platform, slug
from ..seal.conftest import Researcher

PROJECTS = {"alpha": ["alice", "carol"], "beta": ["bob"]}
CPU_SECONDS = 5.0
BURN = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {CPU_SECONDS}: pass\nprint('burnt')"
FAST_SAMPLING = """
for _service in c.JupyterHub.services:
    if _service["name"] == "usage":
        _service["environment"] = {{**_service["environment"], "ENCLAVE_METER_INTERVAL": "2", "ENCLAVE_TARIFFS_DIR": {tariffs!r}}}
"""


def dear_tariff(folder: Path) -> Path:
    """The shipped tariff with every price × 100,000: a few seconds of a test's CPU are worth a budget."""
    folder.mkdir()
    text = (REPO / "tariffs" / "2026-01.toml").read_text()
    text = re.sub(r'= "([0-9.]+)"', lambda m: f'= "{Decimal(m.group(1)) * 100_000}"', text)
    (folder / "2026-01.toml").write_text(text)
    return folder


@pytest.fixture(scope="module")
def metered(tmp_path_factory, image):  # noqa: F811
    root = tmp_path_factory.mktemp("metered")
    tariffs = dear_tariff(root / "tariffs")
    with running_platform(root, image, PROJECTS, hub_config=FAST_SAMPLING.format(tariffs=str(tariffs))) as p:
        p.env["ENCLAVE_TARIFFS_DIR"] = str(tariffs)
        p.engine = make_engine(p.settings().db_url)
        p.enclave("user", "add", "olga", "--role", "ops")
        yield p
        p.engine.dispose()


def metered_cpu_s(platform, project: str, user: str) -> float:
    with session_scope(platform.engine) as session:
        usec = session.scalar(select(func.sum(UsageDay.cpu_usec)).where(UsageDay.project == slug(project), UsageDay.username == user))
    return (usec or 0) / 1e6


def engine_cpu_s(platform, project: str, user: str) -> float:
    """The container's CPU time as the Docker engine reports it (``docker stats``)."""
    stats = docker.from_env().api.stats(f"enclave-{slug(project)}-{user}", stream=False, one_shot=True)
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def sample_once(platform) -> str:
    """One pass of the sampler in a process of its own (as after a restart: it knows only the registry)."""
    done = subprocess.run([sys.executable, "-m", "metering.service", "--once"], env=platform.env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ran(messages: list[dict]) -> bool:
    return any(m.get("msg_type") == "stream" and "burnt" in m["content"].get("text", "") for m in messages)


def test_a_cpu_bound_cell_is_metered_within_ten_percent_of_the_cgroup(metered):
    alice = Researcher(metered, "alice")
    alice.start("alpha")
    assert ran(alice.run_cell("alpha", "print('burnt')"))  # the kernel machinery warmed up once
    sample_once(metered)
    before_metered, before_truth = metered_cpu_s(metered, "alpha", "alice"), engine_cpu_s(metered, "alpha", "alice")
    assert ran(alice.run_cell("alpha", BURN))
    sample_once(metered)
    after_metered, after_truth = metered_cpu_s(metered, "alpha", "alice"), engine_cpu_s(metered, "alpha", "alice")
    metered_delta, truth_delta = after_metered - before_metered, after_truth - before_truth
    assert truth_delta >= CPU_SECONDS * 0.95, truth_delta
    assert abs(metered_delta - truth_delta) <= 0.10 * truth_delta, (metered_delta, truth_delta)
    # and the whole container's life so far: the metered total is the counter at the last reading
    assert abs(after_metered - after_truth) <= 0.10 * after_truth, (after_metered, after_truth)


def usage_service_pid(platform) -> int:
    """The hub's ``usage`` service process (a child of the hub this test started)."""
    children = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(platform.process.pid)], capture_output=True,
                              text=True, check=True).stdout.splitlines()
    pids = [int(line.split()[0]) for line in children if "metering.service" in line]
    assert len(pids) == 1, children
    return pids[0]


def latest_reading(platform, project: str, user: str) -> datetime | None:
    with session_scope(platform.engine) as session:
        return session.scalar(select(func.max(UsageCounter.read_at)).where(UsageCounter.project == slug(project),
                                                                            UsageCounter.username == user))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_restart_of_the_metering_loses_and_doubles_nothing(metered):
    carol = Researcher(metered, "carol")
    carol.start("alpha")
    wait_for(lambda: latest_reading(metered, "alpha", "carol"), 30, "the usage service's first reading")
    # The service dies (as at a hub restart); carol's server keeps running and burns CPU meanwhile.
    old = usage_service_pid(metered)
    os.kill(old, signal.SIGKILL)
    killed_at = datetime.now(UTC)
    assert ran(carol.run_cell("alpha", BURN))
    # The hub starts the service again; it bills from the registry's reading, not from zero or from now.
    wait_for(lambda: usage_service_pid_or_none(metered) not in (None, old), 90, "the hub to restart the usage service")
    wait_for(lambda: (latest_reading(metered, "alpha", "carol") or killed_at) > killed_at + timedelta(seconds=1), 60,
             "a reading after the restart")
    # Two more samplers at once, beside the service: readings already billed add nothing.
    passes = [subprocess.Popen([sys.executable, "-m", "metering.service", "--once"], env=metered.env, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in passes:
        assert process.wait(120) == 0, process.stderr.read()
    truth = engine_cpu_s(metered, "alpha", "carol")
    metered_now = metered_cpu_s(metered, "alpha", "carol")
    assert truth >= CPU_SECONDS
    assert abs(metered_now - truth) <= 0.10 * truth, (metered_now, truth)
    # Stopping reads the counters one last time: the last interval is billed too, and no more than
    # the container could use (its CPU limit, 1 core) between the last look at the truth and that reading.
    before_stop, looked_at = engine_cpu_s(metered, "alpha", "carol"), datetime.now(UTC)
    metered.stop_server("carol", slug("alpha"))
    wait_for(lambda: not _running(f"enclave-{slug('alpha')}-carol"), 60, "carol's container to go")
    final, last_read = metered_cpu_s(metered, "alpha", "carol"), latest_reading(metered, "alpha", "carol")
    assert last_read > looked_at  # the stop hook's reading
    assert before_stop - 0.05 <= final <= before_stop + (last_read - looked_at).total_seconds() * 1.0 + 0.05, (
        final, before_stop, last_read - looked_at)


def usage_service_pid_or_none(platform) -> int | None:
    try:
        return usage_service_pid(platform)
    except AssertionError:
        return None


def _running(name: str) -> bool:
    try:
        return docker.from_env().containers.get(name).status == "running"
    except docker.errors.NotFound:
        return False


def page(platform, user: str, path: str) -> requests.Response:
    token = platform.api("POST", f"/users/{user}/tokens", json={"note": "usage test", "expires_in": 600})
    assert token.status_code == 201, token.text
    return requests.get(f"{platform.hub_url}/services/usage/{path}", timeout=60, allow_redirects=False,
                        headers={"Authorization": f"token {token.json()['token']}"})


def test_members_and_ops_see_a_projects_usage_and_no_one_else(metered):
    metered.api("POST", "/users", json={"usernames": ["olga", "bob", "eve"]})
    alpha, beta = slug("alpha"), slug("beta")
    mine = page(metered, "alice", f"projects/{alpha}")
    assert mine.status_code == 200, mine.text
    assert "<svg" in mine.text and 'id="member-alice"' in mine.text and "<script" not in mine.text
    assert "default-src 'none'" in mine.headers["Content-Security-Policy"]
    assert page(metered, "olga", f"projects/{alpha}").status_code == 200  # ops
    for user, path in (("bob", f"projects/{alpha}"), ("alice", f"projects/{beta}"), ("eve", f"projects/{alpha}"),
                       ("bob", "projects/no-such-project")):
        refused = page(metered, user, path)
        assert refused.status_code == 404, (user, path, refused.status_code)
        shown = refused.text.split('id="main"', 1)[-1]  # the page, past the shell's header (which names the viewer)
        assert 'id="main"' in refused.text and "alice" not in shown and "cpu" not in shown.lower()
    listing = page(metered, "bob", "")
    assert beta in listing.text and alpha not in listing.text
    anonymous = requests.get(f"{metered.hub_url}/services/usage/projects/{alpha}", timeout=30, allow_redirects=False)
    assert anonymous.status_code in (302, 403) and "svg" not in anonymous.text


def test_the_usage_service_is_out_of_reach_of_enclave_containers(metered):
    """It listens on loopback and is reached through the proxy, which enclave networks cannot reach."""
    alice = Researcher(metered, "alice")
    alice.start("alpha")
    port = metered.settings().usage_port
    code = ("import os, socket, urllib.parse\n"
            "gateway = urllib.parse.urlparse(os.environ['JUPYTERHUB_API_URL']).hostname\n"
            f"for host, port in ((gateway, {port}), (gateway, {metered.proxy_port})):\n"
            "    try:\n"
            "        socket.create_connection((host, port), timeout=3).close(); print('reached', port)\n"
            "    except OSError as e:\n"
            "        print('refused', port, type(e).__name__)\n")
    out = "".join(m["content"].get("text", "") for m in alice.run_cell("alpha", code) if m.get("msg_type") == "stream")
    assert f"refused {port}" in out and f"refused {metered.proxy_port}" in out and "reached" not in out, out


def test_the_team_is_warned_near_its_budget(metered):
    from enclave.settings import Settings
    from spawner_config.home import budget_warnings_of

    manifest = metered.root / "projects" / f"{slug('alpha')}.toml"
    manifest.write_text(manifest.read_text() + '\n[billing]\norganisation_type = "private"\nmonthly_budget = "100.00"\n')
    metered.enclave("provision", slug("alpha"), "--quiet")
    shown = page(metered, "alice", f"projects/{slug('alpha')}")
    assert 'id="budget-warning"' in shown.text and "of its monthly budget of 100.00 EUR" in shown.text

    class HubUser:  # what the hub passes to a template_vars callable: its user, by name
        def __init__(self, name: str):
            self.name = name

    warnings = budget_warnings_of(Settings.from_env(metered.env))
    assert any(slug("alpha") in w for w in warnings(HubUser("carol")))
    assert warnings(HubUser("bob")) == []  # beta has no budget
