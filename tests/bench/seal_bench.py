"""make bench (seal): what the seal costs a researcher, against the same server reached directly, in
this one run.

A real platform (hub, proxy, seal) and one enclave server; the same requests go through the hub's
URL twice: with the proxy's route to the seal (proxy -> seal -> container), and with the route
pointed straight at the container (proxy -> container, what the hub did before the seal), switched
through the proxy's own API between rounds. Measured, median of ROUNDS, alternated:

- opening JupyterLab: the page, every script it names, and the API calls JupyterLab makes at start;
- a notebook cell round trip on a kernel websocket (execute ``1+1``, until the kernel is idle);
- allowed-traffic throughput: JupyterLab's largest file, fetched repeatedly.

Written to .bench/seal.json. Targets: both ratios <= 1.15 (the throughput is reported).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import requests

from tests.enclave.platform import running_platform, slug

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 15
STARTUP_CALLS = ("lab/api/settings", "api/kernelspecs", "api/sessions", "api/terminals", "api/contents/work?content=1",
                 "lab/api/translations", "api/me")


def open_lab(http: requests.Session, base: str) -> float:
    start = time.perf_counter()
    page = http.get(base + "lab", timeout=60)
    page.raise_for_status()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
    for src in scripts:
        http.get(src if src.startswith("http") else base.split("/user/")[0] + src, timeout=60).raise_for_status()
    for call in STARTUP_CALLS:
        http.get(base + call, timeout=60)
    return time.perf_counter() - start


async def cell_round_trips(ws_base: str, token: str, kernel: str, rounds: int) -> list[float]:
    times = []
    session_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{ws_base}api/kernels/{kernel}/channels?session_id={session_id}",
                                   headers={"Authorization": f"token {token}"}) as ws:
            for _ in range(rounds):
                msg_id = uuid.uuid4().hex
                start = time.perf_counter()
                await ws.send_str(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session_id, "username": "alice",
                               "date": "", "version": "5.3"}, "parent_header": {}, "metadata": {}, "buffers": [],
                    "channel": "shell", "content": {"code": "1+1", "silent": False, "store_history": False,
                                                    "user_expressions": {}, "allow_stdin": False}}))
                while True:
                    message = json.loads((await ws.receive(timeout=60)).data)
                    if (message.get("msg_type") == "status" and message["parent_header"].get("msg_id") == msg_id
                            and message["content"]["execution_state"] == "idle"):
                        break
                times.append(time.perf_counter() - start)
    return times


def throughput(http: requests.Session, url: str, rounds: int = 10) -> float:
    size, start = 0, time.perf_counter()
    for _ in range(rounds):
        answer = http.get(url, timeout=60)
        answer.raise_for_status()
        size += len(answer.content)
    return size / (time.perf_counter() - start) / 2**20


PROXY_TOKEN = uuid.uuid4().hex
# The bench measures the seal's speed, not its budgets: opening JupyterLab twenty times must not meet them.
BENCH_BUDGETS = {"bench": {"output_budget_per_hour": "256M", "output_budget_per_day": "1024M"}}


def route_to(platform, project: str, target: str) -> None:
    """Point the proxy's route of alice's server at ``target`` (the seal, or the container)."""
    answer = requests.post(f"http://127.0.0.1:{platform.proxy_api_port}/api/routes/user/alice/{project}",
                           headers={"Authorization": f"token {PROXY_TOKEN}"}, timeout=10,
                           json={"target": target, "user": "alice", "server_name": project})
    answer.raise_for_status()


def main() -> int:
    image = "enclave/notebook:latest"
    hub_config = f"c.ConfigurableHTTPProxy.auth_token = {PROXY_TOKEN!r}\nc.JupyterHub.last_activity_interval = 3600\n"
    with tempfile.TemporaryDirectory() as tmp, running_platform(Path(tmp), image, {"bench": ["alice"]},
                                                                hub_config=hub_config, resources=BENCH_BUDGETS) as platform:
        project = slug("bench")
        response = platform.start_server("alice", project)
        if response.status_code >= 400:
            raise SystemExit(f"the server did not start: {response.text}")
        token = platform.api("POST", "/users/alice/tokens", json={"note": "bench"}).json()["token"]
        container = platform.container("alice", project)
        address = container.attrs["NetworkSettings"]["Networks"][f"enclave-{project}"]["IPAddress"]
        targets = {"seal": f"http://127.0.0.1:{platform.settings().seal_port}", "direct": f"http://{address}:8888"}
        base = f"{platform.hub_url}/user/alice/{project}/"
        http = requests.Session()
        http.headers["Authorization"] = f"token {token}"
        lab = {name: [] for name in targets}
        cells = {name: [] for name in targets}
        rates = {}
        kernel = http.post(base + "api/kernels", json={"name": "python3"}, timeout=60).json()["id"]
        page = http.get(base + "lab", timeout=60).text
        biggest = max(re.findall(r'<script[^>]+src="([^"]+)"', page), key=len)
        for name, target in targets.items():  # warm both paths (the seal lists JupyterLab's files once per image)
            route_to(platform, project, target)
            open_lab(http, base)
        for _ in range(ROUNDS):
            for name, target in targets.items():
                route_to(platform, project, target)
                lab[name].append(open_lab(http, base))
        for _ in range(3):
            for name, target in targets.items():
                route_to(platform, project, target)
                cells[name] += asyncio.run(cell_round_trips(base.replace("http://", "ws://"), token, kernel, 10))
        for name, target in targets.items():
            route_to(platform, project, target)
            rates[name] = throughput(http, biggest if biggest.startswith("http") else platform.hub_url + biggest)
        route_to(platform, project, targets["seal"])
        platform.stop_server("alice", project)

    summary = {
        "open_jupyterlab_seconds": {name: statistics.median(v) for name, v in lab.items()},
        "cell_round_trip_ms": {name: statistics.median(v) * 1000 for name, v in cells.items()},
        "static_throughput_mib_s": rates,
    }
    summary["open_ratio"] = summary["open_jupyterlab_seconds"]["seal"] / summary["open_jupyterlab_seconds"]["direct"]
    summary["cell_ratio"] = summary["cell_round_trip_ms"]["seal"] / summary["cell_round_trip_ms"]["direct"]
    out = REPO / ".bench"
    out.mkdir(exist_ok=True)
    (out / "seal.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"open JupyterLab (median of {ROUNDS}): seal {summary['open_jupyterlab_seconds']['seal']:.3f} s, "
          f"proxy straight to the container {summary['open_jupyterlab_seconds']['direct']:.3f} s -> {summary['open_ratio']:.2f}x (target <= 1.15)")
    print(f"cell round trip (median of 30): seal {summary['cell_round_trip_ms']['seal']:.1f} ms, "
          f"without the seal {summary['cell_round_trip_ms']['direct']:.1f} ms -> {summary['cell_ratio']:.2f}x (target <= 1.15)")
    print(f"allowed traffic, JupyterLab's largest script: seal {rates['seal']:.0f} MiB/s, without {rates['direct']:.0f} MiB/s")
    print(f"written to {out / 'seal.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
