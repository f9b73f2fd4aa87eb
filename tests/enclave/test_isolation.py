"""Invariants 1 and 2 against a real hub, real Docker and the real image: a container sees its own
project's extracts read-only and nothing else; only the hub API and the gate's enclave port on the host
answer — never the public proxy, whose routes lead to every other server."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import docker
import pytest

from .platform import slug

PROBE_TIMEOUT = 3


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


@pytest.fixture(scope="module")
def running(platform):
    """alice in project alpha and bob in project beta, both servers up."""
    for user, name in (("alice", "alpha"), ("bob", "beta")):
        response = platform.start_server(user, slug(name))
        assert response.status_code < 400, response.text
    yield {"alpha": platform.container("alice", slug("alpha")), "beta": platform.container("bob", slug("beta"))}
    platform.stop_server("alice", slug("alpha"))
    platform.stop_server("bob", slug("beta"))


def gateway(name: str) -> str:
    from enclave.networks import find_network

    return find_network(slug(name)).gateway


def docker0_address() -> str:
    import ipaddress
    import subprocess

    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True).stdout
    return str(ipaddress.ip_interface(shown.split()[3]).ip)


def test_extracts_present_read_only_and_alone(platform, running):
    manifest = json.loads((platform.settings().project_dir(slug("alpha")) / "extracts" / "manifest.json").read_text())
    seen = in_container(running["alpha"], """
import json, os
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
open(home + "/work/alice-was-here.txt", "w").write("ok")
mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
print(json.dumps({"files": files, "writable": writable, "creatable": creatable, "mounts": mounts}))
""")
    expected = sorted([e["output"]["file"] for e in manifest["tables"].values()] + ["manifest.json", "DATA_DICTIONARY.md"])
    assert seen["files"] == expected
    assert not seen["writable"] and not seen["creatable"]
    # the workspace is the project's, shared with the host folder
    assert (platform.settings().project_dir(slug("alpha")) / "workspace" / "alice-was-here.txt").read_text() == "ok"
    # nothing of the other project, of the sources, of the keys, of Docker
    joined = " ".join(seen["mounts"])
    assert slug("beta") not in joined and "sources" not in joined and "docker.sock" not in joined
    binds = [m for m in running["alpha"].attrs["Mounts"] if m["Type"] == "bind"]
    assert sorted((m["Source"], m["RW"]) for m in binds) == sorted([
        (str(platform.settings().project_dir(slug("alpha")) / "extracts"), False),
        (str(platform.settings().project_dir(slug("alpha")) / "workspace"), True),
        (str(platform.settings().project_dir(slug("alpha")) / "imports"), False),  # approved imports, read-only
    ])


def test_hardening(platform, running):
    seen = in_container(running["alpha"], """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
try:
    open("/usr/local/x", "w").close(); root_writable = True
except OSError:
    root_writable = False
sock = any(os.path.exists(p) for p in ("/var/run/docker.sock", "/run/docker.sock"))
print(json.dumps({"uid": os.getuid(), "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
                  "no_new_privs": status["NoNewPrivs"].strip(), "root_writable": root_writable,
                  "docker_sock": sock}))
""")
    assert seen["uid"] == 1000
    assert int(seen["cap_eff"], 16) == 0 and int(seen["cap_bnd"], 16) == 0
    assert seen["no_new_privs"] == "1"
    assert not seen["root_writable"]
    assert not seen["docker_sock"]
    host_config = running["alpha"].attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] and host_config["CapDrop"] == ["ALL"]
    assert host_config["Memory"] == 1 << 30 and host_config["PidsLimit"] == 256
    assert host_config["NanoCpus"] or host_config["CpuQuota"] == 100_000


def test_only_the_hub_api_gate_answers_on_the_host(platform, running):
    gw = gateway("alpha")
    canaries = {"gateway": Canary(gw), "docker0": Canary(docker0_address()), "any": Canary("0.0.0.0")}
    try:
        for name, canary in canaries.items():  # each listener is real: the host itself reaches it
            host = "127.0.0.1" if name == "any" else (gw if name == "gateway" else docker0_address())
            socket.create_connection((host, canary.port), timeout=2).close()
        for canary in canaries.values():  # the listener thread counts asynchronously
            deadline = time.time() + 5
            while canary.hits < 1 and time.time() < deadline:
                time.sleep(0.05)
        before = {name: c.hits for name, c in canaries.items()}
        assert before == {"gateway": 1, "docker0": 1, "any": 1}
        alpha = running["alpha"]
        assert not can_connect(alpha, gw, canaries["gateway"].port)
        assert not can_connect(alpha, docker0_address(), canaries["docker0"].port)
        assert not can_connect(alpha, gw, canaries["any"].port)
        assert not can_connect(alpha, docker0_address(), canaries["any"].port)
        assert not can_connect(alpha, docker0_address(), platform.hub_api_enclave_port), "the gate only at the project's gateway"
        # The hub API itself is on loopback: its port answers the host (canary: it did answer containers
        # at their gateway until the gate), never a container.
        socket.create_connection(("127.0.0.1", platform.hub_api_port), timeout=2).close()
        assert not can_connect(alpha, gw, platform.hub_api_port), "the hub API itself is closed to enclaves"
        assert not can_connect(alpha, docker0_address(), platform.hub_api_port)
        assert not can_connect(alpha, gw, platform.proxy_port), "the public proxy is closed to enclaves"
        assert can_connect(alpha, gw, platform.settings().egress_enclave_port)
        assert {name: c.hits for name, c in canaries.items()} == before
        status = in_container(alpha, f"""
import json, urllib.request
print(json.dumps({{"status": urllib.request.urlopen("http://{gw}:{platform.hub_api_enclave_port}/hub/api/", timeout=5).status}}))
""")
        assert status["status"] == 200
    finally:
        for canary in canaries.values():
            canary.close()


def test_other_project_container_unreachable(platform, running):
    beta_ip = running["beta"].attrs["NetworkSettings"]["Networks"][f"enclave-{slug('beta')}"]["IPAddress"]
    assert beta_ip
    assert not can_connect(running["alpha"], beta_ip, 8888)
    alpha_ip = running["alpha"].attrs["NetworkSettings"]["Networks"][f"enclave-{slug('alpha')}"]["IPAddress"]
    assert not can_connect(running["beta"], alpha_ip, 8888)


def test_no_way_out(platform, running, image):
    """Nothing is forwarded out of an enclave network: a listener in a container on Docker's default
    bridge — the way to every other address — is unreachable, while the host itself reaches it."""
    engine = docker.from_env()
    outside = engine.containers.run(image, ["python3", "-c", "import socket,time\ns=socket.socket();s.bind(('0.0.0.0',9999));s.listen();time.sleep(300)"],
                                    detach=True, remove=True, user="1000:100")
    try:
        outside.reload()
        address = outside.attrs["NetworkSettings"]["IPAddress"]
        deadline = time.time() + 20
        while True:  # the listener is up: the host reaches it
            try:
                socket.create_connection((address, 9999), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the outside listener never came up"
        assert not can_connect(running["alpha"], address, 9999)
    finally:
        outside.remove(force=True)


def test_internal_network_alone_leaves_the_host_open(platform, image):
    """Why the firewall exists: on a plain --internal network (not an enclave bridge), the host
    answers through the gateway. The same probe as above then succeeds — so the probe can fail."""
    engine = docker.from_env()
    name = f"plain-internal-{uuid.uuid4().hex[:8]}"
    network = engine.networks.create(name, internal=True, options={"com.docker.network.bridge.name": f"pi-{uuid.uuid4().hex[:8]}"})
    container = None
    try:
        network.reload()
        gw = network.attrs["IPAM"]["Config"][0]["Gateway"]
        canary = Canary(gw)
        container = engine.containers.run(image, ["sleep", "120"], network=name, detach=True, remove=True, user="1000:100")
        try:
            assert can_connect(container, gw, canary.port)
            assert canary.hits >= 1
        finally:
            canary.close()
    finally:
        if container is not None:
            container.remove(force=True)
        network.remove()
