"""Fixtures of the scale tests: synthetic sources, the shared SNDS tables, one Spark session.

The Spark session (one JVM for every Spark test) runs with the extraction's own configuration
(:data:`pseudonymizer.distributed.SPARK_CONF`) made as talkative as it gets: log level INFO into a
file and the event log on, so that the key tests can search everything Spark writes.

A single-node Docker Swarm and an enclave platform on it, the hub in its own container.

`swarm` (session) runs ``docker swarm init --advertise-addr 127.0.0.1`` on this host's engine and, at
the end — passed, failed or interrupted — removes every service, secret and overlay it made and leaves
the swarm (``docker swarm leave --force``, then ``docker_gwbridge``), then puts the host firewall back.
A host already in a swarm is left alone: the tests fail and say so. Swarm rewrites the host's iptables
for everyone: run these tests under the shared Docker lock (``flock -o /tmp/enclave-docker.lock``).

`swarm_platform` (session) is :func:`tests.enclave.platform.running_platform` with
``ENCLAVE_BACKEND=swarm``: registry and provisioning on this host, the hub (with its proxy, the seal and
the gate) in a container of the hub's image (Dockerfile.hub, built by ``scripts/build_images.sh hub``)
with the Docker socket, which the spawner attaches to each project's overlay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import docker
import pyarrow.parquet as pq
import pytest

from pseudonymizer.engines import EngineSpec
from pseudonymizer.synth import generate
from tests.enclave.conftest import BUILD_SCRIPT, image  # noqa: F401 - the researcher image, built as for tests/enclave
from tests.enclave.platform import RUN, running_platform

from ..conftest import REPO, SHARED_SNDS

SYNTH_CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
SNDS_CATALOG = REPO / "pseudonymizer" / "catalogs" / "snds" / "catalog.toml"
SNDS_TABLES = ["IR_BEN_R", "ER_PRS_F", "T_MCOaaC", "KI_CCI_R", "T_MCOaaB"]
PEOPLE = 3000


@pytest.fixture(scope="session")
def synth_sources(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale-sources")
    generate(out, people=PEOPLE, seed=11, progress=False)
    care = out / "ER_PRS_F.parquet"  # many row groups, of a size no batch size divides: slices start inside them
    pq.write_table(pq.read_table(care), care, row_group_size=1234)
    return out


@pytest.fixture(scope="session")
def snds_sources(tmp_path_factory):
    """A private copy of the shared synthetic SNDS schemas and CSV tables (the shared folder is read-only)."""
    if not (SHARED_SNDS / "schemas").is_dir():
        pytest.skip(f"the shared synthetic SNDS folder is absent ({SHARED_SNDS})")
    out = tmp_path_factory.mktemp("snds") / "schemas"
    shutil.copytree(SHARED_SNDS / "schemas", out)
    return out


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local[2] Spark session for the whole test session: (session, its log file, its event log folder)."""
    pytest.importorskip("pyspark")
    from pseudonymizer.distributed import spark_session

    where = tmp_path_factory.mktemp("spark")
    log, events = where / "spark.log", where / "events"
    events.mkdir()
    config = where / "log4j2.properties"
    config.write_text(
        "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
        "appender.file.type = File\nappender.file.name = file\n"
        f"appender.file.fileName = {log}\n"
        "appender.file.layout.type = PatternLayout\nappender.file.layout.pattern = %d %p %c: %m%n\n"
    )
    session = spark_session(EngineSpec("spark", workers=2), {
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{events}",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{config}",
    })
    session.sparkContext.setLogLevel("INFO")
    yield session, log, events
    session.stop()


# The swarm: a single-node Docker Swarm and a platform on it.
HUB_IMAGE = f"{os.environ.get('HUB_IMAGE') or 'enclave/hub'}:latest"
HUB_CONTAINER = f"enclave-hub-test-{RUN}"
PROJECTS = {"alpha": ["alice", "carol"], "beta": ["bob"], "gamma": ["alice"]}  # gamma: the weakened spawner's

# gamma's servers are started by a spawner that leaves out setpriv --no-new-privs and the entry point's
# seccomp filter (which sets no_new_privs too): the check after start must refuse them. Every other
# project gets the real SwarmEnclaveSpawner.
WEAKENED_CONFIG = """
import shlex

from enclave.seccomp import self_filter_command
from spawner_config.swarm_spawner import START, SwarmEnclaveSpawner


class WeakenedForGamma(SwarmEnclaveSpawner):
    def _configure(self, grant):
        super()._configure(grant)
        if grant.slug.startswith("gamma-"):
            spec = dict(self.extra_container_spec)
            # without setpriv --no-new-privs -- and without the seccomp filter before tini
            spec["command"] = ["sh", "-c", START.replace(shlex.join(self_filter_command()) + " ", ""), *spec["command"][6:]]
            self.extra_container_spec = spec


c.JupyterHub.spawner_class = WeakenedForGamma
"""


def _docker(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


def swarm_state() -> str:
    return _docker("info", "--format", "{{.Swarm.LocalNodeState}}", check=True).stdout.strip()


def leave_swarm() -> None:
    """Remove what the tests made on the swarm, leave it, and give the host firewall back its rules."""
    engine = docker.from_env()
    _docker("rm", "-f", HUB_CONTAINER)
    for service in engine.services.list(filters={"label": "enclave.project"}):
        service.remove()
    for secret in engine.secrets.list(filters={"label": "enclave.project"}):
        for _ in range(20):
            if _docker("secret", "rm", secret.id).returncode == 0:
                break
            subprocess.run(["sleep", "0.5"])
    _docker("swarm", "leave", "--force")
    _docker("network", "rm", "docker_gwbridge")  # made by swarm init, left behind by leave
    from enclave import firewall
    from enclave.settings import Settings

    remaining = firewall.current_openings()
    if remaining:
        firewall.apply(remaining, Settings.from_env({}).firewall_ports)


@pytest.fixture(scope="session")
def swarm():
    state = swarm_state()
    if state != "inactive":
        pytest.fail(f"this Docker engine is already in a swarm ({state}): the tests start and remove their own; "
                    "leave it (`docker swarm leave --force`) if it is a leftover, then run again")
    initialised = _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        assert initialised.returncode == 0, f"docker swarm init failed: {initialised.stderr}"
        yield docker.from_env()
    finally:
        leave_swarm()
        assert swarm_state() == "inactive"


@pytest.fixture(scope="session")
def hub_image(tmp_path_factory) -> str:
    log = tmp_path_factory.mktemp("hub-image") / "build_hub.log"
    with log.open("w") as out:
        build = subprocess.run(["bash", str(BUILD_SCRIPT), "hub"], stdout=out, stderr=subprocess.STDOUT, timeout=3600,
                               env={**os.environ, "HUB_IMAGE": HUB_IMAGE.rsplit(":", 1)[0]})
    if build.returncode != 0:
        pytest.fail(f"scripts/build_images.sh hub failed (full log: {log}):\n" + "\n".join(log.read_text().splitlines()[-40:]))
    return HUB_IMAGE


def hub_in_container(hub_image: str):
    """The command that runs the hub in its container, in the foreground (``docker run`` passes SIGTERM on)."""

    def command(platform, config: Path) -> list[str]:
        env = {name: value for name, value in platform.env.items() if name.startswith("ENCLAVE_")}
        env.update(ENCLAVE_BACKEND="swarm", ENCLAVE_HUB_CONTAINER=HUB_CONTAINER)
        root = str(platform.root)
        return ["docker", "run", "--rm", "--name", HUB_CONTAINER, "--init",
                "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{root}:{root}", "-w", root,
                "-p", f"127.0.0.1:{platform.proxy_port}:{platform.proxy_port}",
                *[arg for name, value in sorted(env.items()) for arg in ("-e", f"{name}={value}")],
                hub_image, "jupyterhub", "-f", str(config)]

    return command


@pytest.fixture(scope="session")
def swarm_platform(tmp_path_factory, swarm, image, hub_image):  # noqa: F811 - image is the fixture imported above
    with running_platform(tmp_path_factory.mktemp("swarm-platform"), image, PROJECTS, hub_config=WEAKENED_CONFIG,
                          hub_command=hub_in_container(hub_image), base_config="/opt/enclave-src/jupyterhub_config.py") as p:
        p.env["ENCLAVE_BACKEND"] = "swarm"
        yield p
