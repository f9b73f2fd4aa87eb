"""make bench (metering): what sampling costs, for 50 idle containers, against `docker stats --no-stream`
on the same containers, measured in this one run.

50 containers of the small Debian base image run `sleep`, labelled as enclave servers of one
project of a throw-away registry. A sampler pass (:meth:`metering.sampler.Sampler.run_pass`: list
the containers, read their cgroup counters, record the differences in the registry) is timed in
CPU seconds — this process's and the Docker engine's (dockerd's, from /proc) — over PASSES passes
after a first one (which inspects each container once, as after a restart). The baseline is
`docker stats --no-stream` for the same containers: the CLI's CPU and the engine's. The share of
one core is the CPU of one pass divided by the sampling interval (ENCLAVE_METER_INTERVAL, 60 s).
Written to .bench/metering.json.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import docker

from enclave.db import make_engine, session_scope, upgrade
from enclave.models import ProjectState
from enclave.settings import Settings
from metering.sampler import Sampler
from tests.registry.factories import create_project_at_state

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = 50
PASSES = 20
INTERVAL = 60
IMAGE = os.environ.get("METERING_BENCH_IMAGE") or "enclave/debian-base:bookworm"
RUN = os.urandom(2).hex()
PROJECT = f"meterbench-{RUN}"


def dockerd_cpu() -> float:
    pid = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True, check=True).stdout.split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_containers(engine) -> list:
    containers = []
    for n in range(CONTAINERS):
        containers.append(engine.containers.run(
            IMAGE, ["sleep", "infinity"], name=f"{PROJECT}-u{n}", detach=True, remove=True, network_mode="none",
            mem_limit="64m", labels={"enclave.project": PROJECT, "enclave.user": f"u{n}"}))
    return containers


def measure_sampler(sampler: Sampler) -> dict:
    started = time.perf_counter()
    first = sampler.run_pass()
    first_seconds = time.perf_counter() - started
    assert first.recorded == CONTAINERS, f"the first pass recorded {first.recorded} of {CONTAINERS} containers"
    cpu0, engine0, wall0 = time.process_time(), dockerd_cpu(), time.perf_counter()
    for _ in range(PASSES):
        report = sampler.run_pass()
        assert report.read == CONTAINERS, report
    cpu, engine_cpu, wall = time.process_time() - cpu0, dockerd_cpu() - engine0, time.perf_counter() - wall0
    return {"first_pass_seconds": first_seconds, "pass_seconds": wall / PASSES, "pass_cpu_seconds": cpu / PASSES,
            "pass_engine_cpu_seconds": engine_cpu / PASSES, "pass_total_cpu_seconds": (cpu + engine_cpu) / PASSES}


def measure_docker_stats(rounds: int = 3) -> dict:
    names = [f"{PROJECT}-u{n}" for n in range(CONTAINERS)]
    cpu0, engine0, wall0 = children_cpu(), dockerd_cpu(), time.perf_counter()
    for _ in range(rounds):
        subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.MemUsage}}", *names],
                       check=True, capture_output=True)
    cpu, engine_cpu, wall = children_cpu() - cpu0, dockerd_cpu() - engine0, time.perf_counter() - wall0
    return {"pass_seconds": wall / rounds, "pass_cpu_seconds": cpu / rounds, "pass_engine_cpu_seconds": engine_cpu / rounds,
            "pass_total_cpu_seconds": (cpu + engine_cpu) / rounds}


def main() -> None:
    engine = docker.from_env()
    home = Path(tempfile.mkdtemp(prefix="metering-bench-"))
    settings = Settings.from_env({"ENCLAVE_HOME": str(home), "ENCLAVE_PROJECTS_DIR": str(home / "projects")})
    registry = make_engine(settings.db_url)
    upgrade(registry)
    with session_scope(registry, settings.audit_head) as session:
        create_project_at_state(session, PROJECT, ProjectState.active, pi="pia")
    containers = []
    try:
        containers = start_containers(engine)
        time.sleep(2)
        sampler = Sampler(settings, registry, engine, storage_every=timedelta(hours=1))
        ours = measure_sampler(sampler)
        baseline = measure_docker_stats()
    finally:
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        registry.dispose()
        subprocess.run(["rm", "-rf", str(home)], check=False)
    share = ours["pass_total_cpu_seconds"] / INTERVAL
    result = {
        "containers": CONTAINERS, "passes": PASSES, "interval_seconds": INTERVAL, "sampler": ours, "docker_stats": baseline,
        "sampler_share_of_one_core": share,
        "sampler_share_of_one_core_for_100": share * 100 / CONTAINERS,  # linear in the containers: one read each
        "docker_stats_share_of_one_core": baseline["pass_total_cpu_seconds"] / INTERVAL,
        "ratio_cpu_sampler_vs_docker_stats": ours["pass_total_cpu_seconds"] / baseline["pass_total_cpu_seconds"],
        "ratio_wall_sampler_vs_docker_stats": ours["pass_seconds"] / baseline["pass_seconds"],
        "load_average": os.getloadavg(),
    }
    out = REPO / ".bench"
    out.mkdir(exist_ok=True)
    (out / "metering.json").write_text(json.dumps(result, indent=2))
    print(f"metering, {CONTAINERS} idle containers, one pass (mean of {PASSES}):")
    print(f"  sampler:        {ours['pass_seconds'] * 1000:7.1f} ms wall, {ours['pass_total_cpu_seconds'] * 1000:6.1f} ms CPU "
          f"({ours['pass_cpu_seconds'] * 1000:.1f} own + {ours['pass_engine_cpu_seconds'] * 1000:.1f} dockerd); first pass "
          f"{ours['first_pass_seconds'] * 1000:.0f} ms")
    print(f"  docker stats:   {baseline['pass_seconds'] * 1000:7.1f} ms wall, {baseline['pass_total_cpu_seconds'] * 1000:6.1f} ms CPU "
          f"({baseline['pass_cpu_seconds'] * 1000:.1f} CLI + {baseline['pass_engine_cpu_seconds'] * 1000:.1f} dockerd)")
    print(f"  every {INTERVAL} s: {share * 100:.3f} % of one core ({share * 100 * 100 / CONTAINERS:.3f} % for 100 enclaves; "
          f"target < 2 %); docker stats would take {result['docker_stats_share_of_one_core'] * 100:.3f} %")
    print(f"  ratio sampler / docker stats: {result['ratio_cpu_sampler_vs_docker_stats']:.3f}x CPU, "
          f"{result['ratio_wall_sampler_vs_docker_stats']:.3f}x wall")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
