"""make bench (swarm): spawn-to-ready time of an enclave server as a Swarm service (ENCLAVE_BACKEND=swarm,
the hub in its container) against the Docker backend's (the hub on this host), same image, same run.

Both go through a real hub and its REST API, with every hardening and the check after start (Swarm).
A single-node swarm is made for the run and left at the end (tests/scale/conftest.py); run it under the
Docker lock, like the tests. Median of ROUNDS spawns each, alternated. Written to .bench/swarm.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from tests.enclave.platform import running_platform, slug
from tests.scale.conftest import HUB_IMAGE, hub_in_container, leave_swarm, swarm_state

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 5
PROJECT = "bench"


def spawn_seconds(platform, user: str, server: str) -> float:
    start = time.perf_counter()
    response = platform.start_server(user, server, timeout=180)
    elapsed = time.perf_counter() - start
    if not platform.api("GET", f"/users/{user}").json()["servers"].get(server, {}).get("ready"):
        raise SystemExit(f"{user}/{server} did not start: {response.text}\nhub log: {platform.log}")
    return elapsed


def stop(platform, user: str, server: str, name: str, swarm: bool) -> None:
    platform.stop_server(user, server)
    engine = docker.from_env()
    deadline = time.time() + 60
    while time.time() < deadline:
        gone = not (engine.services.list(filters={"name": name}) if swarm else engine.containers.list(all=True, filters={"name": name}))
        if gone:
            return
        time.sleep(0.2)


def main() -> int:
    image = f"{os.environ.get('NOTEBOOK_IMAGE') or 'enclave/notebook'}:latest"  # build_images.sh reads it too
    subprocess.run(["bash", str(REPO / "scripts" / "build_images.sh")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["bash", str(REPO / "scripts" / "build_images.sh"), "hub"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "HUB_IMAGE": HUB_IMAGE.rsplit(":", 1)[0]})
    if swarm_state() != "inactive":
        raise SystemExit("this Docker engine is already in a swarm: the bench makes and removes its own")
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {"docker": [], "swarm": []}
    try:
        with tempfile.TemporaryDirectory() as docker_root, tempfile.TemporaryDirectory() as swarm_root:
            with running_platform(Path(docker_root), image, {PROJECT: ["alice"]}) as docker_hub, \
                    running_platform(Path(swarm_root), image, {PROJECT: ["alice"]}, hub_command=hub_in_container(HUB_IMAGE),
                                     base_config="/opt/enclave-src/jupyterhub_config.py") as swarm_hub:
                cases = {"docker": docker_hub, "swarm": swarm_hub}
                for round_ in range(ROUNDS):
                    for name, hub in cases.items():
                        server = slug(PROJECT)
                        times[name].append(spawn_seconds(hub, "alice", server))
                        stop(hub, "alice", server, f"enclave-{server}-alice", swarm=name == "swarm")
                    print(f"round {round_ + 1}/{ROUNDS}: docker {times['docker'][-1]:.2f}s, swarm {times['swarm'][-1]:.2f}s", flush=True)
    finally:
        leave_swarm()
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["swarm"] / medians["docker"]
    summary = {"rounds": ROUNDS, "spawn_seconds": times, "median_spawn_seconds": medians, "spawn_ratio_swarm_to_docker": ratio}
    out = REPO / ".bench" / "swarm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'backend':<10}{'median spawn s':>16}")
    for name, median in medians.items():
        print(f"{name:<10}{median:>16.2f}")
    print(f"\nswarm / docker spawn time = {ratio:.2f}x; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
