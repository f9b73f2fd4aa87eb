"""A researcher owns the uid of the server inside their container. Under Docker's default seccomp
profile that was enough to take jupyter-server over (ptrace on a process of the same uid) and put a
server of their own in its place, serving ``~/data`` through the hub's URL. The enclave's profile
now refuses ptrace (the test shows it: EPERM), but the seal must still bound a rogue server — defence
in depth, and whatever way a takeover might still be found (a kernel bug, a server extension). So the
takeover is simulated from the host: ``ss -K`` closes jupyter-server's listening socket (what the
researcher did with ptrace), then — as uid 1000 inside the container — ``python -m http.server``
starts on the freed port, serving the extract and its hex dump.

Through the hub's URL, the seal answers the binary extract with a refusal and lets the hex through
only up to the server's hourly budget; a second listener on another port is never reached.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

from ..enclave.platform import slug
from .conftest import last_seq, wait_for_audit

BUDGET = 64 * 1024  # the tight project's hourly budget
CHUNK = 4096

PTRACE = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
server = next(int(p) for p in os.listdir("/proc") if p.isdigit()
              and b"jupyterhub-singleuser" in open(f"/proc/{p}/cmdline", "rb").read())
attached = libc.ptrace(16, server, 0, 0) == 0          # PTRACE_ATTACH
os.waitpid(server, 0) if attached else None
libc.ptrace(17, server, 0, 0) if attached else None    # PTRACE_DETACH
print(json.dumps({"server": server, "ptrace": attached, "errno": ctypes.get_errno()}))
"""

ROGUE = r"""
import os, sys
root = "/tmp/rogue" + sys.argv[1]  # the server gets the whole path, the hub's prefix included
os.makedirs(root, exist_ok=True)
data = open("/home/jovyan/data/ER_PRS_F.parquet", "rb").read()
open(root + "ER_PRS_F.parquet", "wb").write(data)
hexed = data.hex()
for i in range(0, len(hexed), CHUNK):
    open(root + f"x{i // CHUNK}", "w").write(hexed[i:i + CHUNK])
print(len(hexed))
"""

PROBE = r"""
import json, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:PORT/", timeout=2); print(json.dumps({"up": True}))
except Exception:
    print(json.dumps({"up": False}))
"""


def _exec(container, code: str, *args: str, user: str = "1000:100") -> str:
    result = container.exec_run(["python3", "-c", code, *args], user=user)
    assert result.exit_code == 0, result.output.decode()
    return result.output.decode().strip().splitlines()[-1]


def test_a_rogue_server_in_the_container_yields_nothing_beyond_the_budget(sealed, bob):
    container = bob.start("tight")
    ptrace = json.loads(_exec(container, PTRACE))
    prefix = f"/user/bob/{slug('tight')}/"
    hex_size = int(_exec(container, ROGUE.replace("CHUNK", str(CHUNK)), prefix))
    assert hex_size > 3 * BUDGET

    # From inside, ptrace on jupyter-server is refused (the enclave's seccomp profile).
    assert not ptrace["ptrace"] and ptrace["errno"] == 1, ptrace  # EPERM
    # The takeover: jupyter-server's listening socket closed (what ptrace did, done here from the host),
    # then the researcher's own server on the same port.
    pid = container.attrs["State"]["Pid"]
    listening = subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-Hltn"], check=True, capture_output=True, text=True)
    assert ":8888" in listening.stdout, listening.stdout
    subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-K", "-atn", "sport = :8888"], check=True,  # + kept-alive
                   capture_output=True)
    listening = subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-Hltn"], check=True, capture_output=True, text=True)
    assert ":8888" not in listening.stdout, listening.stdout
    container.exec_run(["python3", "-m", "http.server", "8888", "--directory", "/tmp/rogue"], user="1000:100",
                       detach=True)
    container.exec_run(["python3", "-m", "http.server", "8889", "--directory", "/home/jovyan/data"], user="1000:100",
                       detach=True)
    deadline = time.time() + 20
    while not json.loads(_exec(container, PROBE.replace("PORT", "8888").replace("/\"", prefix + "x0\"")))["up"]:
        assert time.time() < deadline, "the rogue server did not start"
        time.sleep(0.5)
    bob.platform.settings()  # the seal finds the same container: nothing else changed

    since = last_seq(sealed)
    raw = bob.get("tight", "ER_PRS_F.parquet")
    assert raw.status_code == 403 and b"PAR1" not in raw.content, raw.content[:200]
    received, refused, hex_received = 0, 0, 0
    for i in range(hex_size // CHUNK + 1):
        answer = bob.get("tight", f"x{i}")
        if answer.status_code == 200:
            received += len(answer.content)
            hex_received += sum(len(run) for run in re.findall(rb"[0-9a-f]{32,}", answer.content))
        else:
            assert answer.status_code == 429 and "budget" in answer.text, answer.text
            refused += 1
    # Each chunk of hex is cut by the guard (it decodes to the extract): what arrives is notices,
    # charged little, and no hex beyond what an hour's budget allows.
    assert hex_received <= BUDGET < hex_size, (hex_received, hex_size)
    # The other listener is never reached: the seal forwards only to the port the spawner labelled.
    for path in ("", "ER_PRS_F.parquet", "../8889/ER_PRS_F.parquet"):
        answer = bob.get("tight", path)
        assert b"PAR1" not in answer.content
    events = wait_for_audit(sealed, "seal.refused", since, hits=1 + refused)
    assert any("binary" in e["reason"] for e in events), events
    assert all(e["actor"] == "bob" for e in events if e["project"]), events  # the hub's readiness checks are anonymous
    cuts = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    assert cuts and all(e["actor"] == "bob" and e["project"] == slug("tight") for e in cuts), cuts
    bob.platform.stop_server("bob", slug("tight"))
