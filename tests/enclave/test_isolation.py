"""Invariants 1 and 2 against a real hub, real Docker and the real image: a container sees its own
project's extracts read-only and nothing else; only the hub API and the gate's enclave port on the host
answer — never the public proxy, whose routes lead to every other server."""

from __future__ import annotations

import socket
import uuid

import docker
import pytest

from ..isolation_probes import (
    LISTENER,
    Canary,
    assert_extracts_read_only_and_alone,
    assert_server_hardened,
    can_connect,
    docker0_address,
    gateway as project_gateway,
    in_container,
    wait_until_the_host_reaches,
)
from .platform import slug


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
    return project_gateway(slug(name))


def test_extracts_present_read_only_and_alone(platform, running):
    assert_extracts_read_only_and_alone(running["alpha"], platform.settings().project_dir(slug("alpha")), slug("beta"),
                                        "alice-was-here.txt")


def test_hardening(platform, running):
    assert_server_hardened(running["alpha"])


def test_only_the_hub_api_gate_answers_on_the_host(platform, running):
    gw = gateway("alpha")
    canaries = {"gateway": Canary(gw), "docker0": Canary(docker0_address()), "any": Canary("0.0.0.0")}
    try:
        for name, canary in canaries.items():  # each listener is real: the host itself reaches it
            host = "127.0.0.1" if name == "any" else (gw if name == "gateway" else docker0_address())
            socket.create_connection((host, canary.port), timeout=2).close()
        for canary in canaries.values():
            canary.wait_for_hits(1)
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
    outside = engine.containers.run(image, LISTENER, detach=True, remove=True, user="1000:100")
    try:
        outside.reload()
        address = outside.attrs["NetworkSettings"]["IPAddress"]
        wait_until_the_host_reaches(address, 9999)
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
