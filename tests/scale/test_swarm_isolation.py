"""Invariants 1 and 2 for servers spawned as Swarm services (ENCLAVE_BACKEND=swarm), on a single-node swarm
made by the fixture, through a real hub running in its container: the same probes as tests/enclave's
isolation tests — canaries, the other project, nothing forwarded, hardening, read-only extracts — plus
what is Swarm's own: no leg on docker_gwbridge, the token out of the service spec, an encrypted
internal overlay per project, and a weakened spawner's server refused."""

from __future__ import annotations

import json
import socket
import time

import pytest

from enclave.swarm import overlay_name
from tests.enclave.platform import slug
from tests.isolation_probes import (
    LISTENER,
    Canary,
    assert_extracts_read_only_and_alone,
    assert_server_hardened,
    can_connect,
    docker0_address,
    in_container,
    wait_until_the_host_reaches,
)

from .conftest import HUB_CONTAINER

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def task_container(engine, user: str, name: str):
    """The running container of user's server of project ``name`` (a Swarm task, on this single node)."""
    service = f"enclave-{slug(name)}-{user}"
    found = engine.containers.list(filters={"label": f"com.docker.swarm.service.name={service}"})
    assert len(found) == 1, f"{service}: {len(found)} running containers"
    return found[0]


def overlay_address(container, name: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][overlay_name(slug(name))]["IPAddress"]


@pytest.fixture(scope="module")
def running(swarm_platform, swarm):
    """alice in project alpha and bob in project beta, both servers up (Swarm services)."""
    for user, name in (("alice", "alpha"), ("bob", "beta")):
        response = swarm_platform.start_server(user, slug(name), timeout=180)
        assert response.status_code < 400, response.text
        ready = swarm_platform.api("GET", f"/users/{user}").json()["servers"].get(slug(name), {}).get("ready")
        assert ready, f"{user}/{name} did not start; hub log: {swarm_platform.log}\n{swarm_platform.hub_log()[-3000:]}"
    yield {"alpha": task_container(swarm, "alice", "alpha"), "beta": task_container(swarm, "bob", "beta")}
    swarm_platform.stop_server("alice", slug("alpha"))
    swarm_platform.stop_server("bob", slug("beta"))


@pytest.fixture(scope="module")
def hub(swarm):
    return swarm.containers.get(HUB_CONTAINER)


def test_servers_are_services_on_encrypted_internal_overlays(swarm, running):
    for user, name in (("alice", "alpha"), ("bob", "beta")):
        service = swarm.services.get(f"enclave-{slug(name)}-{user}")
        spec = service.attrs["Spec"]
        assert spec["EndpointSpec"]["Mode"] == "dnsrr" and not spec["EndpointSpec"].get("Ports")
        overlay = swarm.networks.get(overlay_name(slug(name)))
        assert overlay.attrs["Driver"] == "overlay" and overlay.attrs["Internal"] and overlay.attrs["Attachable"]
        assert "encrypted" in overlay.attrs["Options"]
        assert [n["Target"] for n in spec["TaskTemplate"]["Networks"]] == [overlay.id]


def test_extracts_present_read_only_and_alone(swarm_platform, running):
    assert_extracts_read_only_and_alone(running["alpha"], swarm_platform.settings().project_dir(slug("alpha")), slug("beta"),
                                        "alice-was-here-swarm.txt")


def test_hardening(running):
    """The probe every backend passes, then Swarm's own: the entry point's seccomp filter on every process."""
    server_tree = assert_server_hardened(running["alpha"])
    # The entry point's seccomp filter, over Docker's default: on every process of the server's tree (what it
    # denies: tests/enclave/test_hardening_check.py); jupyter-server non-dumpable, its memory closed to uid 1000.
    from spawner_config.hardening import PROBE

    probe = running["alpha"].exec_run(["python3", "-c", PROBE], user="1000:100")
    seen = json.loads(probe.output.decode().strip().splitlines()[-1])
    assert seen["server_filters"] == seen["filters"] + 1 and seen["server_memory"] == 13 and seen["server_ptrace"] == 1, seen
    for pid, proc in server_tree.items():
        assert int(proc["Seccomp_filters"]) == seen["server_filters"], (pid, proc)


def test_token_is_a_secret_not_in_the_service_spec(swarm, running):
    service = swarm.services.get(f"enclave-{slug('alpha')}-alice")
    container_spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    names = [item.partition("=")[0] for item in container_spec.get("Env") or []]
    assert "JUPYTERHUB_API_TOKEN" not in names and "JPY_API_TOKEN" not in names
    assert not any(len(arg) >= 32 and arg.isalnum() for arg in container_spec.get("Args") or [])
    [secret] = container_spec["Secrets"]
    assert secret["File"]["Mode"] == 0o400 and secret["File"]["UID"] == "1000"
    # the server authenticated with the hub using it: it is ready (the running fixture), and its token
    # is the one its process has (the secret file, read by the entry point)
    token = running["alpha"].exec_run(["cat", "/run/secrets/jupyterhub-api-token"], user="1000:100").output.decode()
    environ = running["alpha"].exec_run(["sh", "-c", "tr '\\0' '\\n' < /proc/1/environ"], user="1000:100").output.decode()
    assert len(token) >= 32 and f"JUPYTERHUB_API_TOKEN={token}" in environ.splitlines()


def test_no_leg_out_of_the_overlay(running):
    """Only the overlay's interface, and no default route: no docker_gwbridge, nothing to the host or beyond."""
    seen = in_container(running["alpha"], """
import json
ifaces = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:])
routes = [line.split()[1] for line in open("/proc/net/route").readlines()[1:]]
print(json.dumps({"ifaces": ifaces, "routes": routes}))
""")
    assert seen["ifaces"] == ["eth0", "lo"]
    assert "00000000" not in seen["routes"], "a default route"


def test_only_the_hub_api_and_gate_answer(swarm_platform, running, hub, swarm):
    """Canaries on the host (every address) and in the hub's container, the public proxy, the hub's address
    on the other project's overlay: none answers. The hub API and the gate's enclave port do, at the hub's
    address on the project's own overlay."""
    alpha = running["alpha"]
    hub_alpha, hub_beta = overlay_address(hub, "alpha"), overlay_address(hub, "beta")
    gwbridge = swarm.networks.get("docker_gwbridge").attrs["IPAM"]["Config"][0]["Gateway"]
    canary = Canary("0.0.0.0")
    try:
        socket.create_connection(("127.0.0.1", canary.port), timeout=2).close()  # the listener is real
        assert canary.wait_for_hits(1) == 1
        for address in (docker0_address(), gwbridge, hub_alpha):
            assert not can_connect(alpha, address, canary.port), address
        assert not can_connect(alpha, hub_alpha, swarm_platform.proxy_port), "the public proxy is closed to enclaves"
        assert not can_connect(alpha, hub_beta, swarm_platform.hub_api_enclave_port), "the hub's address on another project's overlay"
        assert not can_connect(alpha, hub_alpha, swarm_platform.hub_api_port), "the hub API itself is on the hub container's loopback"
        assert can_connect(alpha, hub_alpha, swarm_platform.settings().egress_enclave_port)
        assert canary.hits == 1
        status = in_container(alpha, f"""
import json, urllib.request
print(json.dumps({{"status": urllib.request.urlopen("http://{hub_alpha}:{swarm_platform.hub_api_enclave_port}/hub/api/", timeout=5).status}}))
""")
        assert status["status"] == 200
    finally:
        canary.close()


def test_other_project_unreachable(running, swarm, image):
    """Beta's server and a listener on beta's overlay are out of alpha's reach; beta's own server reaches
    the listener (so the probe can fail)."""
    beta_ip, alpha_ip = overlay_address(running["beta"], "beta"), overlay_address(running["alpha"], "alpha")
    assert not can_connect(running["alpha"], beta_ip, 8888)
    assert not can_connect(running["beta"], alpha_ip, 8888)
    listener = swarm.containers.run(image, LISTENER,
                                    detach=True, remove=True, user="1000:100", network=overlay_name(slug("beta")),
                                    labels={"enclave.test": "swarm-canary"})
    try:
        address = overlay_address(listener, "beta")
        deadline = time.time() + 20
        while not can_connect(running["beta"], address, 9999):
            assert time.time() < deadline, "the listener on beta's overlay never answered beta's server"
            time.sleep(0.5)
        assert not can_connect(running["alpha"], address, 9999)
    finally:
        listener.remove(force=True)


def test_nothing_forwarded_to_the_default_bridge(running, swarm, image):
    outside = swarm.containers.run(image, LISTENER,
                                   detach=True, remove=True, user="1000:100")
    try:
        outside.reload()
        address = outside.attrs["NetworkSettings"]["IPAddress"]
        wait_until_the_host_reaches(address, 9999)
        assert not can_connect(running["alpha"], address, 9999)
    finally:
        outside.remove(force=True)


def test_host_firewall_drops_docker_gwbridge(swarm_platform, running):
    """The host's rules hold the docker_gwbridge drops; Swarm's own rules (an encrypted overlay inserts its
    VXLAN rule at the top of INPUT) are moved below ours by the next apply, as at provisioning."""
    import subprocess

    from enclave import firewall

    ports = swarm_platform.settings().firewall_ports
    firewall.apply(firewall.current_openings(), ports)
    assert firewall.problems(firewall.current_openings(), ports) == []
    listed = subprocess.run(["iptables", "-w", "-S", firewall.FORWARD_CHAIN], capture_output=True, text=True, check=True).stdout
    assert f"-A {firewall.FORWARD_CHAIN} -i docker_gwbridge -j DROP" in listed.splitlines()
    assert f"-A {firewall.FORWARD_CHAIN} -o docker_gwbridge -j DROP" in listed.splitlines()


def test_a_weakened_server_is_refused(swarm_platform, swarm, running):
    """gamma's spawner leaves out setpriv --no-new-privs and the seccomp filter: its service starts, the check
    after start finds it (in the spec, in /proc/1/status inside and by the ptrace probe), removes it and the
    hub never marks it ready."""
    from sqlalchemy import select

    from enclave.db import make_engine, session_scope
    from enclave.models import AuditEvent

    swarm_platform.start_server("alice", slug("gamma"), timeout=180)
    state = swarm_platform.api("GET", "/users/alice").json()["servers"].get(slug("gamma"))
    assert not state or not state.get("ready"), state
    service_name = f"enclave-{slug('gamma')}-alice"
    deadline = time.time() + 30
    while swarm.services.list(filters={"name": service_name}) and time.time() < deadline:
        time.sleep(0.5)
    assert not swarm.services.list(filters={"name": service_name}), "the weakened service was left running"
    assert not swarm.secrets.list(filters={"label": f"enclave.project={slug('gamma')}"}), "its token's secret was left"
    settings = swarm_platform.settings()
    with session_scope(make_engine(settings.db_url), settings.audit_head) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "server.refused")).all()
        details = [e.details for e in events if e.project == slug("gamma")]
    assert details, "no server.refused audit event"
    problems = " ".join(details[-1]["problems"])
    assert "NoNewPrivs is '0'" in problems and "setpriv --no-new-privs" in problems
    assert "without the entry point's seccomp filter" in problems
    assert "is not hardened" in swarm_platform.hub_log()


def test_the_gate_takes_a_submission_from_its_own_server_only(swarm_platform, running, hub):
    """The gate's enclave port, at the hub's address on the overlay: the server's own token (its secret)
    for its own project is held; another token, or another project, is refused."""
    from tests.seal.test_cross_project import SUBMIT, call

    settings = swarm_platform.settings()
    (settings.project_dir(slug("alpha")) / "workspace" / "table.csv").write_text("region,count\nNorth,120\nSouth,85\n")
    alpha = running["alpha"]
    token = alpha.exec_run(["cat", "/run/secrets/jupyterhub-api-token"], user="1000:100").output.decode().strip()
    gate = f"http://{overlay_address(hub, 'alpha')}:{settings.egress_enclave_port}/services/egress/api/requests"
    assert call(alpha, SUBMIT, "0" * len(token), slug("alpha"), gate)["status"] == 403
    other = call(alpha, SUBMIT, token, slug("beta"), gate)
    assert other["status"] == 403 and slug("alpha") in other["body"], other
    held = call(alpha, SUBMIT, token, slug("alpha"), gate)
    assert held["status"] == 201 and held["body"]["files"][0]["name"] == "table.csv", held
    listed = call(alpha, SUBMIT, token, "GET", gate)
    assert listed["status"] == 200 and {r["project"] for r in listed["body"]["requests"]} == {slug("alpha")}, listed
