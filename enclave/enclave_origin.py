"""Requests from inside an enclave, bound to the server that sent them.

Enclave containers reach the host's services on their own ports only (the egress gate's
``ENCLAVE_EGRESS_ENCLAVE_PORT``, the project tools' ``ENCLAVE_TOOLS_ENCLAVE_PORT``), opened by the
host firewall at each project network's gateway; the public proxy is closed to them. Such a
listener accepts a request only when

- it comes from a running enclave container — its source address is the container's address on its
  own project's network (the bridges do not forward between networks, so it cannot be forged from
  another project), and
- it carries that container's own server token (``JUPYTERHUB_API_TOKEN`` of the container): a token
  made in the browser and typed inside an enclave, or another server's token, is refused.

The request is then served for *that* container's project and user, whatever its body or path
says, and the caller sees only that project's things. The token comes as ``Authorization: token
…`` (or ``Bearer``), or as the password of HTTP basic authentication (what pip sends for an index
URL with credentials; the user name is not looked at).

With the Swarm backend these services run in the hub's container, attached to the projects' overlays: the
caller's address is then its task's address on its project's overlay, and its token is the Docker
secret the spawner gave it (read from the container's read-only secret file, which its user cannot
replace; it is not in the environment, nor in ``docker service inspect``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

import docker

from enclave import networks
from enclave.swarm import overlay_name

TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"
SWARM_TOKEN_FILE = "/run/secrets/jupyterhub-api-token"  # spawner_config.swarm_spawner.TOKEN_FILE
SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"


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
    if SWARM_SERVICE_LABEL in container.labels:  # a Swarm server: its token is a secret file
        read = container.exec_run(["cat", SWARM_TOKEN_FILE], user="1000:100")
        if read.exit_code == 0:
            return read.output.decode().strip()
    return ""


def token_in(authorization: str) -> str:
    """The token of an ``Authorization`` header: ``token``/``Bearer`` value or basic auth's password."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("token", "bearer"):
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


class EnclaveOrigins:
    """Finds the enclave container behind a source address, in Docker."""

    def __init__(self, engine: docker.DockerClient | None = None):
        self.engine = engine or docker.from_env()

    def container_at(self, address: str):
        for container in self.engine.containers.list(filters={"label": networks.PROJECT_LABEL}):
            slug = container.labels.get(networks.PROJECT_LABEL, "")
            attached = container.attrs.get("NetworkSettings", {}).get("Networks", {})
            for name in (networks.network_name(slug), overlay_name(slug)):
                if address and (attached.get(name) or {}).get("IPAddress") == address:
                    return container
        return None

    def resolve(self, address: str, authorization: str,
                hint: str = "submit with your server's own token (enclave-export does)") -> Origin:
        """The server behind this request, or :class:`OriginRefused` (its message ends with ``hint``)."""
        container = self.container_at(address)
        if container is None:
            raise OriginRefused("this port answers enclave servers only")
        token = token_in(authorization)
        expected = _token_of(container)
        if not token or not expected or not hmac.compare_digest(token, expected):
            raise OriginRefused(f"{hint}: other tokens are refused inside an enclave")
        return Origin(slug=container.labels[networks.PROJECT_LABEL], user=container.labels.get(networks.USER_LABEL, ""),
                      container=container.name)
