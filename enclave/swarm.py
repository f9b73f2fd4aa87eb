"""The Swarm side of a project (``ENCLAVE_BACKEND=swarm``): its overlay network and its services.

Each project gets one overlay network, ``enclave-swarm-<slug>``: ``--internal`` (no route out, no
``docker_gwbridge`` leg in its tasks), ``--attachable`` (the hub's container joins it: a Swarm node
cannot reach overlay addresses itself), encrypted (IPsec between nodes), labelled with the project.
Servers are services labelled ``enclave.project=<slug>``, resolved by DNS round robin (``dnsrr``: the
virtual-IP mode needs the ``ip_vs`` kernel module, which hosts like this one lack). Each server's
API token is a Docker secret of its own (never in the service spec), removed with the service.
"""

from __future__ import annotations

import time

import docker
from docker.errors import APIError, NotFound

from enclave.errors import EnclaveError
from enclave.networks import MANAGED_LABEL, PROJECT_LABEL, client

OVERLAY_PREFIX = "enclave-swarm-"


def overlay_name(slug: str) -> str:
    return OVERLAY_PREFIX + slug


def is_manager(engine: docker.DockerClient | None = None) -> bool:
    """Whether this engine is a Swarm manager (where services are created and listed)."""
    engine = engine or client()
    swarm = engine.info().get("Swarm") or {}
    return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))


def require_manager(engine: docker.DockerClient) -> None:
    if not is_manager(engine):
        raise EnclaveError("ENCLAVE_BACKEND=swarm but this Docker engine is not a Swarm manager",
                           "run `docker swarm init` (or join this node as a manager), or set ENCLAVE_BACKEND=docker")


def ensure_overlay(slug: str, engine: docker.DockerClient | None = None):
    """The project's encrypted internal attachable overlay, created if missing; an error if a network of
    that name is not exactly that (a foreign or weakened one is never used)."""
    engine = engine or client()
    require_manager(engine)
    name = overlay_name(slug)
    try:
        network = engine.networks.get(name)
    except NotFound:
        network = engine.networks.create(name, driver="overlay", internal=True, attachable=True, scope="swarm",
                                         options={"encrypted": "true"}, labels={PROJECT_LABEL: slug, MANAGED_LABEL: "1"})
    network.attrs = _inspect(engine, network.id)
    problems = overlay_problems(network.attrs, slug)
    if problems:
        raise EnclaveError(f"Docker network {name} is not project {slug}'s overlay: {'; '.join(problems)}",
                           f"remove it (`docker network rm {name}`) and start the server again")
    return network


def _inspect(engine: docker.DockerClient, network_id: str) -> dict:
    """The network as the swarm knows it; a just-created overlay is listed for a moment without its driver."""
    for _ in range(20):
        attrs = engine.api.inspect_network(network_id, scope="swarm")
        if attrs.get("Driver"):
            return attrs
        time.sleep(0.25)
    return attrs


def overlay_problems(attrs: dict, slug: str) -> list[str]:
    """What makes a network other than the project's encrypted internal overlay (empty: none)."""
    found = []
    if attrs.get("Driver") != "overlay":
        found.append(f"driver {attrs.get('Driver')!r}, not overlay")
    if (attrs.get("Labels") or {}).get(PROJECT_LABEL) != slug:
        found.append("not labelled with the project")
    if not attrs.get("Internal"):
        found.append("not internal (it would have a route out)")
    if "encrypted" not in (attrs.get("Options") or {}):
        found.append("not encrypted")
    return found


def remove_services(slug: str, engine: docker.DockerClient | None = None) -> list[str]:
    """Remove every service of the project and the secrets they held; return the services' names."""
    engine = engine or client()
    if not is_manager(engine):
        return []
    removed = []
    for service in engine.services.list(filters={"label": f"{PROJECT_LABEL}={slug}"}):
        secrets = service.attrs.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {}).get("Secrets") or []
        try:
            service.remove()
        except NotFound:
            continue
        removed.append(service.name)
        for secret in secrets:
            remove_secret(secret.get("SecretID", ""), engine)
    return sorted(removed)


def remove_secret(secret_id: str, engine: docker.DockerClient) -> None:
    """Remove a secret; one still held by a task that is shutting down is retried briefly."""
    for _ in range(20):
        try:
            engine.secrets.get(secret_id).remove()
            return
        except NotFound:
            return
        except APIError:  # "in use by service": its task is still going away
            time.sleep(0.5)


def remove_overlay(slug: str, engine: docker.DockerClient | None = None) -> bool:
    """Remove the project's overlay (its services first, and the containers attached to it — the hub's
    — disconnected); False if there was none."""
    engine = engine or client()
    if not is_manager(engine):
        return False
    remove_services(slug, engine)
    try:
        network = engine.networks.get(overlay_name(slug))
    except NotFound:
        return False
    if (network.attrs.get("Labels") or {}).get(PROJECT_LABEL) != slug:
        raise EnclaveError(f"Docker network {network.name} is not project {slug}'s", "leave it alone or remove it by hand")
    for container in network.attrs.get("Containers") or {}:
        try:
            network.disconnect(container, force=True)
        except APIError:
            pass  # a task's endpoint going away with it
    for _ in range(20):  # tasks leave the network a moment after their service is removed
        try:
            network.remove()
            return True
        except NotFound:
            return False
        except APIError:
            time.sleep(0.5)
    raise EnclaveError(f"cannot remove Docker network {network.name}: still in use", "stop what uses it, then run again")
