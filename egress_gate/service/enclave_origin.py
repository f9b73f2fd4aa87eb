"""Submissions from inside an enclave, bound to the server that sent them.

Enclave containers reach the gate on its own port (``ENCLAVE_EGRESS_ENCLAVE_PORT``, opened by the
host firewall at each project network's gateway; the public proxy is closed to them). That listener
serves the submission API only, and accepts a request only when

- it comes from a running enclave container — its source address is the container's address on its
  own project's network (the bridges do not forward between networks, so it cannot be forged from
  another project), and
- it carries that container's own server token (``JUPYTERHUB_API_TOKEN`` of the container): a token
  made in the browser and typed inside an enclave, or another server's token, is refused.

The request is then recorded for *that* container's project and user, whatever its body says, and
the caller sees only that project's requests.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import docker

from enclave import networks

TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"


class OriginRefused(Exception):
    """Not a request from an enclave server with its own token; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Origin:
    slug: str
    user: str
    container: str


def _token_of(container) -> str:
    for item in container.attrs.get("Config", {}).get("Env") or []:
        name, _, value = item.partition("=")
        if name == TOKEN_VARIABLE:
            return value
    return ""


class EnclaveOrigins:
    """Finds the enclave container behind a source address, in Docker."""

    def __init__(self, engine: docker.DockerClient | None = None):
        self.engine = engine or docker.from_env()

    def container_at(self, address: str):
        for container in self.engine.containers.list(filters={"label": networks.PROJECT_LABEL}):
            slug = container.labels.get(networks.PROJECT_LABEL, "")
            on_network = container.attrs.get("NetworkSettings", {}).get("Networks", {}).get(networks.network_name(slug)) or {}
            if address and on_network.get("IPAddress") == address:
                return container
        return None

    def resolve(self, address: str, authorization: str) -> Origin:
        """The server behind this request, or :class:`OriginRefused`."""
        container = self.container_at(address)
        if container is None:
            raise OriginRefused("this port answers enclave servers only")
        scheme, _, token = authorization.partition(" ")
        expected = _token_of(container)
        if scheme.lower() not in ("token", "bearer") or not expected or not hmac.compare_digest(token.strip(), expected):
            raise OriginRefused("submit with your server's own token (enclave-export does): "
                                "other tokens are refused inside an enclave")
        return Origin(slug=container.labels[networks.PROJECT_LABEL], user=container.labels.get(networks.USER_LABEL, ""),
                      container=container.name)
