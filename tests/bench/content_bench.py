"""make bench (seal content): what an analysis day costs under the seal's information charge, against
what the demo's whole extract set costs to print — and how fast the content guard judges.

A real notebook container (the researchers' image, the demo's extracts mounted at ~/data) runs
JupyterLab's server; the bench fetches what JupyterLab asks for at start, runs the analysis day of
tests/seal/analysis_day.py on a real kernel over its websocket, then each way of printing the
extracts out, and passes every answer and message through a fresh
:class:`spawner_config.seal_content.ContentGuard`. Written to .bench/content.json.

``--record`` also writes JupyterLab's start answers to tests/seal/data/lab_startup.json.gz, the
recording the pure replay test (tests/seal/test_content.py) reads.

Run under the Docker lock: ``flock /tmp/enclave-docker-tests.lock .venv/bin/python -m tests.bench.content_bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import requests

from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY as DEFAULT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR as DEFAULT_BUDGET_PER_HOUR
from spawner_config.seal_content import ContentGuard
from tests.seal.analysis_day import ATTACKS, DAY, LAB_STARTUP, SETUP, run_locally

REPO = Path(__file__).resolve().parents[2]
IMAGE = "enclave/notebook:latest"
MASTER_KEY = hashlib.sha256(b"enclave content bench").digest()  # fixed: the same extracts every run (a replay matches them)
STARTUP_CALLS = ("lab", "lab/api/settings", "api/kernelspecs", "api/sessions", "api/terminals", "api/contents?content=1",
                 "api/contents/data?content=1", "lab/api/translations", "lab/api/translations/en", "api/me",
                 "lab/api/workspaces/default", "api/config/notebook", "lab/api/listings/@jupyterlab/extensionmanager-extension/listings.json")


def make_extracts(folder: Path) -> Path:
    """The demo's extracts (``make demo``: 2000 people, seed 42, projects/demo-cardio.toml)."""
    from pseudonymizer.catalog import load_catalog
    from pseudonymizer.extract import extract
    from pseudonymizer.synth import generate

    sources, out = folder / "sources", folder / "extracts"
    generate(sources, people=2000, seed=42, progress=False)
    extract(load_catalog(REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"), sources, "demo-cardio", out,
            MASTER_KEY, tables=["IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC", "KI_CCI_R"],
            where=["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"], progress=False)
    out.chmod(0o755)
    for f in out.iterdir():
        f.chmod(0o644)
    return out


class Server:
    """A JupyterLab server in the notebook image, on a loopback port."""

    def __init__(self, extracts: Path):
        self.token = uuid.uuid4().hex
        self.name = f"content-bench-{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "run", "-d", "--rm", "--name", self.name, "-p", "127.0.0.1::8888",
                        "-v", f"{extracts}:/home/jovyan/data:ro", "--entrypoint", "jupyter", IMAGE, "lab",
                        f"--ServerApp.token={self.token}", "--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888",
                        "--no-browser", "--ServerApp.root_dir=/home/jovyan"], check=True, capture_output=True)
        port = subprocess.run(["docker", "port", self.name, "8888"], check=True, capture_output=True, text=True).stdout
        self.base = f"http://{port.strip().splitlines()[0]}/"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {self.token}"
        for _ in range(600):  # the server answers when it is ready (the wait is a readiness poll, not a timing)
            try:
                if self.http.get(self.base + "api/status", timeout=5).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise SystemExit("the notebook server did not start")

    def close(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)

    def startup_answers(self) -> list[dict]:
        answers = []
        for path in STARTUP_CALLS:
            answer = self.http.get(self.base + path, timeout=60)
            if answer.ok:
                answers.append({"path": path, "content_type": answer.headers.get("Content-Type", ""),
                                "body": answer.text})
        return answers

    async def run_cells(self, cells: list[str]) -> list[list[str]]:
        kernel = self.http.post(self.base + "api/kernels", json={"name": "python3"}, timeout=60).json()["id"]
        out = []
        async with aiohttp.ClientSession(headers={"Authorization": f"token {self.token}"}) as http:
            ws_url = self.base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}"
            async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                for code in cells:
                    msg_id = uuid.uuid4().hex
                    await ws.send_str(json.dumps({
                        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": "bench", "username": "alice",
                                   "date": "", "version": "5.3"}, "parent_header": {}, "metadata": {}, "buffers": [],
                        "channel": "shell", "content": {"code": code, "silent": False, "store_history": True,
                                                        "user_expressions": {}, "allow_stdin": False}}))
                    messages, idle, replied = [], False, False
                    while not (idle and replied):
                        frame = await ws.receive(timeout=300)
                        messages.append(frame.data)
                        message = json.loads(frame.data)
                        if message.get("parent_header", {}).get("msg_id") == msg_id:
                            idle = idle or (message["msg_type"] == "status" and message["content"]["execution_state"] == "idle")
                            replied = replied or message["msg_type"] == "execute_reply"
                    out.append(messages)
        return out


def charge_messages(guard: ContentGuard, cells: list[list[str]]) -> tuple[int, list]:
    total, hits = 0, []
    for messages in cells:
        for message in messages:
            passed = guard.message("kernel", message)
            total += passed.charge
            hits += passed.hits
    return total, hits


def measure(startup: list[dict], day: list[list[str]], attacks: dict[str, list[list[str]]], extracts: Path) -> dict:
    guard = ContentGuard(extracts)
    start_charge = sum(guard.answer(a["path"], a["content_type"], a["body"].encode()).charge for a in startup)
    reload_charge = sum(guard.answer(a["path"], a["content_type"], a["body"].encode()).charge for a in startup)
    day_charge, day_hits = charge_messages(guard, day)
    result = {
        "extract_set_bytes": sum(p.stat().st_size for p in extracts.glob("*.parquet")),
        "lab_start_raw_bytes": sum(len(a["body"].encode()) for a in startup),
        "lab_start_charge": start_charge, "lab_reload_charge": reload_charge,
        "day_kernel_raw_bytes": sum(len(m.encode()) for c in day for m in c), "day_kernel_charge": day_charge,
        "day_hits": [list(h) for h in day_hits],
        "day_total_charge": start_charge + 3 * reload_charge + day_charge,  # JupyterLab opened once, reloaded three times
        "attacks": {},
        "budget_per_hour": DEFAULT_BUDGET_PER_HOUR, "budget_per_day": DEFAULT_BUDGET_PER_DAY,
    }
    for name, cells in attacks.items():
        judge = ContentGuard(extracts)
        passed = [judge.message("kernel", m) for c in cells for m in c]
        hits = [h for p in passed for h in p.hits]
        result["attacks"][name] = {"raw_bytes": sum(len(m.encode()) for c in cells for m in c), "charge": sum(p.charge for p in passed),
                                   "hits": len(hits), "kinds": sorted({h.kind for h in hits}),
                                   "extract_bytes_recovered": recovered(judge, [p.payload for p in passed])}
    return result


def recovered(guard: ContentGuard, payloads: list) -> int:
    """Fingerprint matches with the extracts in what reached the browser: its text, and its images' pixels."""
    from io import BytesIO

    from PIL import Image

    found = 0
    for payload in payloads:
        message = json.loads(payload) if isinstance(payload, str) and payload.startswith("{") else {}
        content = message.get("content", {})
        found += guard.known.fingerprints.matches(content.get("text", "").encode("latin-1", "ignore"))
        png = content.get("data", {}).get("image/png")
        if png:
            pixels = Image.open(BytesIO(base64.b64decode(png))).convert("RGB").tobytes()
            found += guard.known.fingerprints.matches(pixels)
    return found


def guard_speed(extracts: Path) -> dict:
    """MB/s of the guard on ordinary output and on a base64 blob (the seal's hot path)."""
    guard = ContentGuard(extracts)
    guard.known.fingerprints, guard.known.pseudonym_keys  # loaded once per project, before the clock
    prose = (REPO / "README.md").read_text() * 20
    blob = base64.b64encode(os.urandom(1_000_000)).decode()
    speeds = {}
    for name, text in (("text", prose), ("base64", blob)):
        message = json.dumps({"header": {"msg_type": "stream"}, "content": {"name": "stdout", "text": text}})
        start = time.perf_counter()
        guard.message("kernel", message)
        speeds[f"{name}_mb_s"] = len(message) / (time.perf_counter() - start) / 1e6
    return speeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help=f"write JupyterLab's start answers to {LAB_STARTUP}")
    parser.add_argument("--replay", action="store_true", help="judge the last run's recording again (no container)")
    args = parser.parse_args(argv)
    if args.replay:
        return report(replayed())
    with tempfile.TemporaryDirectory() as tmp:
        extracts = make_extracts(Path(tmp))
        server = Server(extracts)
        try:
            startup = server.startup_answers()
            day = asyncio.run(server.run_cells(DAY))
            attack_runs = asyncio.run(server.run_cells([SETUP, *ATTACKS.values()]))[1:]
        finally:
            server.close()
        if args.record:
            LAB_STARTUP.parent.mkdir(exist_ok=True)
            LAB_STARTUP.write_bytes(gzip.compress(json.dumps(startup).encode(), 9, mtime=0))
        (REPO / ".bench").mkdir(exist_ok=True)
        (REPO / ".bench" / "content_recording.json.gz").write_bytes(gzip.compress(json.dumps(
            {"startup": startup, "day": day, "attacks": dict(zip(ATTACKS, attack_runs))}).encode(), 6))
        summary = {"real_kernel": measure(startup, day, {name: [run] for name, run in zip(ATTACKS, attack_runs)}, extracts),
                   "local_day_kernel_charge": charge_messages(ContentGuard(extracts), run_locally(DAY, extracts))[0],
                   "guard_speed": guard_speed(extracts)}
    return report(summary)


def replayed() -> dict:
    recording = json.loads(gzip.decompress((REPO / ".bench" / "content_recording.json.gz").read_bytes()))
    with tempfile.TemporaryDirectory() as tmp:
        extracts = make_extracts(Path(tmp))  # the same bytes as when recorded (MASTER_KEY)
        return {"real_kernel": measure(recording["startup"], recording["day"],
                                       {n: [run] for n, run in recording["attacks"].items()}, extracts),
                "guard_speed": guard_speed(extracts)}


def report(summary: dict) -> int:
    out = REPO / ".bench"
    out.mkdir(exist_ok=True)
    (out / "content.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    real = summary["real_kernel"]
    ok = real["day_total_charge"] < DEFAULT_BUDGET_PER_DAY and all(
        (a["charge"] > DEFAULT_BUDGET_PER_DAY or a["hits"]) and not a["extract_bytes_recovered"] if name != "png"
        else not a["extract_bytes_recovered"] for name, a in real["attacks"].items())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
