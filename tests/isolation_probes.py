"""The isolation probes, one copy run against each backend (Docker containers in tests/enclave, Swarm
services in tests/scale): what a server's own user sees from inside, and the listeners the tests own."""

from __future__ import annotations

import json
import socket
import threading
import time

PROBE_TIMEOUT = 3
LISTENER = ["python3", "-c", "import socket,time\ns=socket.socket();s.bind(('0.0.0.0',9999));s.listen();time.sleep(300)"]


class Canary:
    """A TCP listener the test owns; it records every connection that reaches it."""

    def __init__(self, host: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()

    def wait_for_hits(self, count: int, seconds: float = 5) -> int:
        """The listener thread counts asynchronously: wait until it has seen ``count`` connections."""
        deadline = time.time() + seconds
        while self.hits < count and time.time() < deadline:
            time.sleep(0.05)
        return self.hits

    def close(self):
        self.sock.close()


def in_container(container, code: str) -> dict:
    """Run Python in the container as its user; it prints one JSON object."""
    result = container.exec_run(["python3", "-c", code], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    return json.loads(result.output.decode().strip().splitlines()[-1])


def can_connect(container, host: str, port: int) -> bool:
    code = f"""
import json, socket
s = socket.socket(); s.settimeout({PROBE_TIMEOUT})
try:
    s.connect(({host!r}, {port})); ok = True
except OSError:
    ok = False
print(json.dumps({{"ok": ok}}))
"""
    return in_container(container, code)["ok"]


def docker0_address() -> str:
    import ipaddress
    import subprocess

    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True).stdout
    return str(ipaddress.ip_interface(shown.split()[3]).ip)


def gateway(project_slug: str) -> str:
    """The host's address on a project's Docker network."""
    from enclave.networks import find_network

    return find_network(project_slug).gateway


def wait_until_the_host_reaches(address: str, port: int, seconds: float = 20) -> None:
    """A listener the test started is up: the host itself connects to it (so a refused probe means something)."""
    deadline = time.time() + seconds
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            assert time.time() < deadline, f"the listener at {address}:{port} never came up"
            time.sleep(0.2)


EXTRACTS_PROBE = """
import json, os, sys
home = os.path.expanduser("~")
files = sorted(os.listdir(home + "/data"))
try:
    open(home + "/data/IR_BEN_R.parquet", "ab").close(); writable = True
except OSError:
    writable = False
try:
    open(home + "/data/new.txt", "w").close(); creatable = True
except OSError:
    creatable = False
open(home + "/work/" + sys.argv[-1], "w").write("ok")
mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
print(json.dumps({"files": files, "writable": writable, "creatable": creatable, "mounts": mounts}))
"""


def assert_extracts_read_only_and_alone(container, project_dir, other_slug: str, marker: str) -> None:
    """The project's extracts, all of them and nothing else, read-only; its workspace shared with the host
    (``marker`` written inside appears there); nothing of the other project, the sources or Docker mounted;
    the binds are exactly extracts (ro), workspace (rw) and approved imports (ro)."""
    manifest = json.loads((project_dir / "extracts" / "manifest.json").read_text())
    result = container.exec_run(["python3", "-c", EXTRACTS_PROBE, marker], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    seen = json.loads(result.output.decode().strip().splitlines()[-1])
    expected = sorted([e["output"]["file"] for e in manifest["tables"].values()] + ["manifest.json", "DATA_DICTIONARY.md"])
    assert seen["files"] == expected
    assert not seen["writable"] and not seen["creatable"]
    assert (project_dir / "workspace" / marker).read_text() == "ok"
    joined = " ".join(seen["mounts"])
    assert other_slug not in joined and "sources" not in joined and "docker.sock" not in joined
    binds = [m for m in container.attrs["Mounts"] if m["Type"] == "bind" and not m["Destination"].startswith("/run/secrets/")]
    assert sorted((m["Source"], m["RW"]) for m in binds) == sorted([(str(project_dir / "extracts"), False),
                                                                     (str(project_dir / "workspace"), True),
                                                                     (str(project_dir / "imports"), False)])


HARDENING_PROBE = """
import json, os
procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    except OSError:
        continue
    if pid == "1" or status["PPid"].strip() != "0":
        procs[pid] = {k: status[k].strip() for k in ("Name", "PPid", "Uid", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp", "Seccomp_filters")}
try:
    open("/usr/local/x", "w").close(); root_writable = True
except OSError:
    root_writable = False
sock = any(os.path.exists(p) for p in ("/var/run/docker.sock", "/run/docker.sock"))
print(json.dumps({"procs": procs, "root_writable": root_writable, "docker_sock": sock}))
"""


def assert_server_hardened(container) -> dict:
    """Every process of the server's tree (PID 1 and its descendants, which are all a researcher gets) runs
    as uid 1000 with no capability, no way to gain privileges and a seccomp filter; the exec'd probe itself
    (parent outside the container) is left out: it is ours, not the server's. Root read-only, no Docker
    socket, the container's limits. Returns the server's processes, for a backend's own checks."""
    seen = in_container(container, HARDENING_PROBE)
    server_tree = {pid: p for pid, p in seen["procs"].items() if pid == "1" or p["PPid"] != "0"}
    names = {p["Name"] for p in server_tree.values()}
    assert "tini" in names and any(n.startswith("jupyterhub") or n.startswith("python") for n in names), names
    for pid, proc in server_tree.items():
        assert proc["Uid"].split() == ["1000"] * 4, (pid, proc)
        assert int(proc["CapEff"], 16) == 0 and int(proc["CapBnd"], 16) == 0, (pid, proc)
        assert proc["NoNewPrivs"] == "1", (pid, proc)
        assert proc["Seccomp"] == "2", (pid, proc)
    assert not seen["root_writable"] and not seen["docker_sock"]
    host_config = container.attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] and host_config["CapDrop"] == ["ALL"]
    assert host_config["Memory"] == 1 << 30 and host_config["PidsLimit"] == 256
    assert host_config["NanoCpus"] == 10 ** 9 or host_config["CpuQuota"] == 100_000
    return server_tree
