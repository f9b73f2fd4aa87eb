"""The Docker side of a project: its internal network and the containers running for it.

Each project gets one Docker network, ``enclave-<slug>``, created ``internal`` (no route out) and
labelled with the project, on a Linux bridge with a short fixed name (``encl-<hash>``) so the host
firewall can name it. Containers of a project carry the label ``enclave.project=<slug>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import docker
from docker.errors import APIError, DockerException, NotFound

from enclave.errors import EnclaveError

PROJECT_LABEL = "enclave.project"
USER_LABEL = "enclave.user"  # on a server's container: whose server it is
PORT_LABEL = "enclave.port"  # on a server's container: the port its server listens on
MANAGED_LABEL = "enclave.managed"
BRIDGE_PREFIX = "encl-"


@dataclass(frozen=True)
class ProjectNetwork:
    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str


def network_name(slug: str) -> str:
    return f"enclave-{slug}"


def bridge_name(slug: str) -> str:
    """Linux interface names hold 15 bytes: a prefix and a hash of the slug."""
    return BRIDGE_PREFIX + hashlib.sha256(slug.encode()).hexdigest()[:10]


def client() -> docker.DockerClient:
    try:
        engine = docker.from_env()
        engine.ping()
        return engine
    except DockerException as exc:
        raise EnclaveError(
            f"cannot reach the Docker engine ({str(exc).splitlines()[0][:160]})",
            "start it (`dockerd &`, or `make install`, which installs and starts it), then run again",
        ) from None


def ensure_network(slug: str, engine: docker.DockerClient | None = None) -> ProjectNetwork:
    """The project's internal network, created if missing; an error if a foreign one has its name."""
    engine = engine or client()
    name = network_name(slug)
    try:
        network = engine.networks.get(name)
    except NotFound:
        network = engine.networks.create(
            name,
            driver="bridge",
            internal=True,
            labels={PROJECT_LABEL: slug, MANAGED_LABEL: "1"},
            options={"com.docker.network.bridge.name": bridge_name(slug)},
        )
        network.reload()
    attrs = network.attrs
    if attrs.get("Labels", {}).get(PROJECT_LABEL) != slug or not attrs.get("Internal"):
        raise EnclaveError(
            f"Docker network {name} exists but is not project {slug}'s internal network",
            f"remove it (`docker network rm {name}`) and provision again",
        )
    return _describe(network)


def _describe(network) -> ProjectNetwork:
    attrs = network.attrs
    config = (attrs.get("IPAM", {}).get("Config") or [{}])[0]
    return ProjectNetwork(
        name=network.name,
        id=network.id,
        bridge=attrs.get("Options", {}).get("com.docker.network.bridge.name", ""),
        subnet=config.get("Subnet", ""),
        gateway=config.get("Gateway", ""),
    )


def all_networks(engine: docker.DockerClient | None = None) -> list[ProjectNetwork]:
    """Every project bridge network on this Docker engine (those labelled with a project)."""
    engine = engine or client()
    found = []
    for network in engine.networks.list(filters={"label": PROJECT_LABEL, "driver": "bridge"}):  # not the Swarm overlays
        network.reload()
        found.append(_describe(network))
    return sorted(found, key=lambda n: n.name)


def find_network(slug: str, engine: docker.DockerClient | None = None) -> ProjectNetwork | None:
    engine = engine or client()
    try:
        engine.networks.get(network_name(slug))
    except NotFound:
        return None
    return ensure_network(slug, engine)


def stop_containers(slug: str, engine: docker.DockerClient | None = None) -> list[str]:
    """Stop and remove every container labelled with the project, and its Swarm services when this
    engine is a Swarm manager; return their names."""
    from enclave import swarm  # it builds on this module

    engine = engine or client()
    stopped = swarm.remove_services(slug, engine)
    for container in engine.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={slug}"}):
        try:
            container.remove(force=True)
        except NotFound:
            continue  # gone meanwhile (auto-removed)
        stopped.append(container.name)
    return sorted(stopped)


def remove_network(slug: str, engine: docker.DockerClient | None = None) -> bool:
    """Remove the project's network (its containers first, and its Swarm overlay if any); False if there was none."""
    from enclave import swarm

    engine = engine or client()
    stop_containers(slug, engine)
    swarm.remove_overlay(slug, engine)
    try:
        network = engine.networks.get(network_name(slug))
    except NotFound:
        return False
    if network.attrs.get("Labels", {}).get(PROJECT_LABEL) != slug:
        raise EnclaveError(f"Docker network {network.name} is not project {slug}'s", "leave it alone or remove it by hand")
    try:
        for container in network.attrs.get("Containers", {}) or {}:
            network.disconnect(container, force=True)
        network.remove()
    except NotFound:
        return False
    except APIError as exc:
        raise EnclaveError(f"cannot remove Docker network {network.name}: {exc.explanation}", "stop what uses it, then run again") from None
    return True
