"""make bench (enclave): spawn-to-ready time and idle memory of an enclave server, against a plain
DockerSpawner server of the same image on Docker's default bridge, measured in this one run.

Both servers go through a real hub and its REST API; the plain one has no project network, no
firewall, no mounts and no hardening. Median of ROUNDS spawns each, alternated. Written to
.bench/enclave.json. Targets: ratio <= 1.2, idle memory <= 150 MiB per enclave.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from tests.enclave.platform import running_platform, slug

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 5
IDLE_SECONDS = 20
PROJECT = "bench"


def plain_hub_config(image: str) -> str:
    return f"""
import subprocess, ipaddress
docker0 = str(ipaddress.ip_interface(subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"],
              capture_output=True, text=True, check=True).stdout.split()[3]).ip)
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = {image!r}
c.DockerSpawner.network_name = "bridge"
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.pull_policy = "never"
c.DockerSpawner.name_template = "plain-{{raw_servername}}-{{raw_username}}"
c.DockerSpawner.hub_connect_url = f"http://{{docker0}}:{{c.JupyterHub.hub_bind_url.rsplit(':', 1)[1]}}"
"""


def spawn_seconds(platform, user: str, server: str) -> float:
    start = time.perf_counter()
    response = platform.start_server(user, server, timeout=180)
    elapsed = time.perf_counter() - start
    if not platform.api("GET", f"/users/{user}").json()["servers"].get(server, {}).get("ready"):
        raise SystemExit(f"{user}/{server} did not start: {response.text}\nhub log: {platform.log}")
    return elapsed


def stop(platform, user: str, server: str, container_name: str) -> None:
    platform.stop_server(user, server)
    engine = docker.from_env()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            engine.containers.get(container_name)
        except docker.errors.NotFound:
            return
        time.sleep(0.2)


def idle_mib(container_name: str) -> float:
    stats = docker.from_env().containers.get(container_name).stats(stream=False)["memory_stats"]
    cache = stats.get("stats", {}).get("cache", 0) or stats.get("stats", {}).get("inactive_file", 0)
    return (stats["usage"] - cache) / 2**20


def main() -> int:
    image = "enclave/notebook:latest"
    subprocess.run(["bash", str(REPO / "scripts" / "build_images.sh")], check=True, stdout=subprocess.DEVNULL)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as enclave_root, tempfile.TemporaryDirectory() as plain_root:
        with running_platform(Path(enclave_root), image, {PROJECT: ["alice"]}) as enclave_hub, \
                running_platform(Path(plain_root), image, {"plain": ["alice"]}, plain_hub_config(image)) as plain_hub:
            cases = {
                "enclave": (enclave_hub, slug(PROJECT), f"enclave-{slug(PROJECT)}-alice"),
                "plain": (plain_hub, "plain", "plain-plain-alice"),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for round_ in range(ROUNDS):
                for name, (hub, server, container) in cases.items():
                    times[name].append(spawn_seconds(hub, "alice", server))
                    if round_ == ROUNDS - 1:
                        time.sleep(IDLE_SECONDS)
                        results.setdefault(name, {})["idle_memory_mib"] = idle_mib(container)
                    stop(hub, "alice", server, container)
                print(f"round {round_ + 1}/{ROUNDS}: enclave {times['enclave'][-1]:.2f}s, plain {times['plain'][-1]:.2f}s", flush=True)
            for name in cases:
                results[name].update({"spawn_seconds": times[name], "median_spawn_seconds": statistics.median(times[name])})
    ratio = results["enclave"]["median_spawn_seconds"] / results["plain"]["median_spawn_seconds"]
    summary = {"rounds": ROUNDS, "results": results, "spawn_ratio_enclave_to_plain": ratio,
               "targets": {"spawn_ratio": "<= 1.2", "idle_memory_mib": "<= 150"}}
    out = REPO / ".bench" / "enclave.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'server':<10}{'median spawn s':>16}{'idle MiB':>10}")
    for name in ("enclave", "plain"):
        print(f"{name:<10}{results[name]['median_spawn_seconds']:>16.2f}{results[name]['idle_memory_mib']:>10.0f}")
    print(f"\nenclave / plain spawn time = {ratio:.2f}x (target <= 1.2); written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
