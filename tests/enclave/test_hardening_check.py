"""The enclave's seccomp profile in real containers, and the Docker spawner's check after start.

A researcher owns uid 1000, jupyter-server's uid: under Docker's default profile they may ptrace a
process of that uid (and take jupyter-server's port or token). Under the enclave's profile, ptrace and
process_vm_readv fail with EPERM; in a control container of the same image, user and capabilities but
without the profile, they succeed — so the refusal is the profile's doing. And jupyter-server, made
non-dumpable, is closed to its uid even where seccomp cannot look: its /proc/<pid>/mem cannot be opened. A hub whose spawner leaves the profile
out (the weakening injected as tests/scale do for Swarm) gets its server refused, removed and audited
``server.refused``; the same hub's sound server starts, and the time the check adds is measured.
"""

from __future__ import annotations

import json
import re

import docker
import pytest

from enclave import seccomp
from spawner_config.hardening import PROBE

from .platform import running_platform, slug

EPERM = 1

# Project "weak" gets a spawner without the enclave's seccomp profile (Docker's default instead).
WEAKENED_CONFIG = """
from spawner_config.spawner import EnclaveSpawner


class WithoutTheProfile(EnclaveSpawner):
    def _configure(self, grant):
        super()._configure(grant)
        if grant.slug.startswith("weak-"):
            self.extra_host_config = {**self.extra_host_config, "security_opt": ["no-new-privileges"]}


c.JupyterHub.spawner_class = WithoutTheProfile
"""


def probe(container, user: str = "1000:100") -> dict:
    result = container.exec_run(["python3", "-c", PROBE], user=user)  # as the researcher
    assert result.exit_code == 0, result.output.decode()
    return json.loads(result.output.decode().strip().splitlines()[-1])


def control_probe(image: str, security_opt: list[str]) -> dict:
    """The probe in a throw-away container of the same image, user and capabilities, with ``security_opt``:
    PID 1 is a shell of uid 1000 that stays (it has a second command to run), the probe its child."""
    output = docker.from_env().containers.run(
        image, ["-c", 'python3 -c "$0" --no-server; true', PROBE], entrypoint="sh", user="1000:100", cap_drop=["ALL"],
        security_opt=security_opt, network_mode="none", remove=True, read_only=True)
    return json.loads(output.decode().strip().splitlines()[-1])


def test_ptrace_and_process_vm_readv_succeed_without_the_profile_and_fail_with_it(image):
    default = control_probe(image, ["no-new-privileges"])  # Docker's default profile
    unconfined = control_probe(image, ["no-new-privileges", "seccomp=unconfined"])
    enclave = control_probe(image, ["no-new-privileges", seccomp.security_opt()])
    assert default["ptrace"] == 0, default  # the hole: ptrace on a process of the same uid
    assert unconfined["ptrace"] == 0 and unconfined["process_vm_readv"] == 0, unconfined
    assert enclave["ptrace"] == EPERM and enclave["process_vm_readv"] == EPERM, enclave
    # The Swarm backend's way (no custom profile in a service spec on this engine): the entry point's own
    # filter over Docker's default profile denies the same calls to every process started under it.
    self_filtered = docker.from_env().containers.run(
        image, ["-c", 'python3 -c "$0" --no-server; true', PROBE], entrypoint=seccomp.self_filter_command() + ["sh"],
        user="1000:100", cap_drop=["ALL"], security_opt=["no-new-privileges"], network_mode="none", remove=True, read_only=True)
    self_filtered = json.loads(self_filtered.decode().strip().splitlines()[-1])
    assert self_filtered["ptrace"] == EPERM and self_filtered["process_vm_readv"] == EPERM, self_filtered
    assert self_filtered["filters"] == default["filters"] + 1, (self_filtered, default)
    # (Docker 20.10's default profile already refuses process_vm_readv: recorded, not required.)
    print(f"Docker's default profile: ptrace {default['ptrace']}, process_vm_readv errno {default['process_vm_readv']}")


@pytest.fixture(scope="module")
def weakened(tmp_path_factory, image):
    with running_platform(tmp_path_factory.mktemp("weakened"), image, {"weak": ["alice"], "sound": ["alice"]},
                          hub_config=WEAKENED_CONFIG) as p:
        yield p


def test_a_server_without_the_profile_is_refused_and_audited(weakened):
    from sqlalchemy import select

    from enclave.db import make_engine
    from enclave.models import AuditEvent

    answer = weakened.start_server("alice", slug("weak"))
    server = answer.json().get("servers", {}).get(slug("weak")) if answer.status_code == 200 else None
    assert not (server and server.get("ready")), f"the weakened server was handed out: {answer.status_code} {answer.text[:500]}"
    assert not docker.from_env().containers.list(all=True, filters={"name": f"enclave-{slug('weak')}-alice"}), "not removed"
    engine = make_engine(weakened.settings().db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(AuditEvent.actor, AuditEvent.project, AuditEvent.details)
                                      .where(AuditEvent.action == "server.refused")).all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0].actor == "alice" and rows[0].project == slug("weak"), rows
    problems = " ".join(rows[0].details["problems"])
    assert "seccomp=<the enclave profile> is missing" in problems and "ptrace on a process of the same uid allowed" in problems, problems
    assert "non-dumpable" not in problems, problems  # only the profile was left out

    # Positive control: the same hub's sound server starts; in it, the probe finds jupyter-server and is refused.
    answer = weakened.start_server("alice", slug("sound"))
    assert answer.status_code < 400, answer.text
    container = weakened.container("alice", slug("sound"))
    seen = probe(container)
    command = container.exec_run(["cat", f"/proc/{seen['server']}/cmdline"], user="1000:100").output
    assert b"jupyterhub-singleuser" in command, command
    assert seen["ptrace"] == EPERM and seen["process_vm_readv"] == EPERM, seen
    assert seen["server_memory"] == 13 and seen["server_ptrace"] == EPERM, seen  # EACCES: root's, not uid 1000's
    # The server works (it answered the hub), and its kernels are the researcher's as before (dumpable).
    kernel = container.exec_run(["python3", "-c", "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"], user="1000:100")
    assert kernel.output.decode().strip() == "1", kernel.output
    times = [float(t) for t in re.findall(rf"hardening check of enclave-{slug('sound')}-alice: ([0-9.]+)s, 0 problems",
                                          weakened.hub_log())]
    assert times, "no hardening check in the hub's log"
    print(f"the hardening check added {times[-1]:.2f}s to the spawn")
    weakened.stop_server("alice", slug("sound"))
