"""SwarmEnclaveSpawner: the enclave's servers as Docker Swarm services (``ENCLAVE_BACKEND=swarm``).

Same rules as :class:`spawner_config.spawner.EnclaveSpawner` (who may start what comes from the
registry, nothing from the browser), same hardening by Swarm's own means:

| Docker backend | here |
|---|---|
| project bridge + host firewall | encrypted internal attachable overlay ``enclave-swarm-<slug>`` (:mod:`enclave.swarm`), ``dnsrr`` |
| hub API gate at the bridge's gateway | the hub's container joins the overlay; the gate at its address there (hub API on loopback) |
| ``read_only``, ``cap_drop``, ``user`` | the same fields of the service's container spec |
| ``pids_limit`` | the task's resource limit ``Pids`` |
| ``tmpfs`` host config | tmpfs mounts (``nosuid,nodev,noexec``; Swarm takes their mode from the image's directory, no owner) |
| ``no-new-privileges`` (Swarm ignores it) | ``setpriv --no-new-privs`` as the entry point |
| ``seccomp=`` the enclave's profile | the default profile and the enclave's denials as a second filter, installed by the entry point |
| ``JUPYTERHUB_API_TOKEN`` in the environment | a Docker secret, read by the entry point (not in ``docker service inspect``) |

After the task runs, the service spec, the task's container, ``/proc/1/status`` inside and the ptrace
probe are checked (:mod:`spawner_config.hardening`); a server that falls short is removed and never handed out.
A service spec carries no custom seccomp profile before Engine API 1.44 (Debian's docker.io 20.10
speaks 1.41), hence the entry point's own filter (:func:`enclave.seccomp.self_filter_command`).
Extracts and workspaces are bind mounts: their paths must hold the same files on every node that may
run a server (a shared filesystem; see the README, "Scaling out").
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket

from docker.errors import APIError
from docker.types import Mount, Resources, SecretReference
from dockerspawner import SwarmSpawner
from tornado import web
from traitlets import Unicode, default

from airlock.publish import ensure_imports_dir
from enclave import networks, swarm, workspace
from enclave.layout import WORKSPACE_MODE, extracts_dir, imports_dir, workspace_dir
from enclave.models import default_resources
from enclave.seccomp import self_filter_command
from spawner_config.hardening import NO_NEW_PRIVS_COMMAND, Hardening, container_problems, spec_problems
from spawner_config.spawner import EGRESS_SERVICE, HOME, NB_GID, NB_UID, EnclaveSpawner

TOKEN_FILE = "jupyterhub-api-token"
TOKEN_VARIABLES = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
# PID 1 (kept by every exec): no new privileges from here on; the token from its secret; the enclave's
# seccomp denials installed by the process itself (this engine's service spec cannot carry a profile:
# enclave.seccomp); then the image's own entry point.
START = ('JUPYTERHUB_API_TOKEN="$(cat /run/secrets/' + TOKEN_FILE + ')" || exit 1\n'
         'export JUPYTERHUB_API_TOKEN JPY_API_TOKEN="$JUPYTERHUB_API_TOKEN"\n'
         'exec ' + shlex.join(self_filter_command()) + ' tini -g -- enclave-start "$@"\n')
ENTRYPOINT = [*NO_NEW_PRIVS_COMMAND, "sh", "-c", START, "enclave-swarm-start"]


def _bytes(size: str | int) -> int:
    text = str(size).strip().upper().removesuffix("B")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


class SwarmEnclaveSpawner(EnclaveSpawner, SwarmSpawner):
    """SwarmSpawner for project enclaves (see the module docstring)."""

    hub_container = Unicode(help="The hub's own container (name or id), attached to each project's overlay; "
                                 "default: ENCLAVE_HUB_CONTAINER, else this host name (a container's is its id).").tag(config=True)

    seccomp_in_entry_point = True  # the enclave's denials: a filter the entry point installs (START)

    @default("hub_container")
    def _hub_container_default(self) -> str:
        return os.environ.get("ENCLAVE_HUB_CONTAINER") or socket.gethostname()

    @default("extra_endpoint_spec")
    def _endpoint_default(self) -> dict:
        return {"mode": "dnsrr"}  # the virtual-IP mode needs ip_vs in the kernel

    @default("name_template")
    def _name_template_default(self) -> str:
        return "enclave-{raw_servername}-{raw_username}"

    @property
    def mounts(self):
        return self._mounts

    _mounts: list = []
    _hardening: Hardening | None = None
    _secret_id: str = ""

    def get_env(self):
        env = super().get_env()
        for name in TOKEN_VARIABLES:  # given by a secret file instead
            env.pop(name, None)
        return env

    def _configure(self, grant) -> None:
        """Per-project service settings, all in one place (the Docker backend's, by Swarm's means)."""
        settings = self.enclave_settings
        engine = networks.client()
        overlay = swarm.ensure_overlay(grant.slug, engine)
        hub_address = self._attach_hub(overlay)
        project_dir = settings.project_dir(grant.slug)
        resources = {**default_resources(), **grant.resources}
        workspace.ensure(workspace_dir(project_dir), resources.get("workspace_quota", workspace.DEFAULT_QUOTA),
                         NB_UID, NB_GID, WORKSPACE_MODE)
        self.network_name = overlay.name
        self.hub_connect_url = f"http://{hub_address}:{self.hub_api_port}"
        self.volumes = {}
        self.read_only_volumes = {}
        self._mounts = [
            Mount(self.data_path, str(extracts_dir(project_dir)), type="bind", read_only=True),
            Mount(self.work_path, str(workspace_dir(project_dir)), type="bind", read_only=False),
            Mount(self.imports_path, str(ensure_imports_dir(project_dir)), type="bind", read_only=True),
            Mount("/tmp", None, type="tmpfs", tmpfs_size=_bytes(self.tmp_tmpfs_size), tmpfs_mode=0o1777),
            Mount(HOME, None, type="tmpfs", tmpfs_size=_bytes(self.home_tmpfs_size), tmpfs_mode=0o1777),
        ]
        self.mem_limit = resources["mem_limit"]
        self.cpu_limit = float(resources["cpu_limit"])
        self.image = settings.notebook_image_for(resources.get("image"))  # the manifest's choice, slim or stack
        labels = {networks.PROJECT_LABEL: grant.slug, networks.USER_LABEL: grant.username, networks.PORT_LABEL: str(self.port)}
        self.extra_container_spec = {"user": f"{NB_UID}:{NB_GID}", "read_only": True, "cap_drop": ["ALL"], "workdir": HOME,
                                     "command": ENTRYPOINT, "labels": labels}
        self.extra_resources_spec = {}
        self.extra_task_spec = {"restart_policy": {"Condition": "none"}}  # a failed server is reported, not restarted
        self.extra_create_kwargs = {"labels": labels}
        egress_url = f"http://{hub_address}:{settings.egress_enclave_port}/services/{EGRESS_SERVICE}/"
        self.environment = {**self.environment, "ENCLAVE_PROJECT": grant.slug, "ENCLAVE_EGRESS_URL": egress_url}
        self._hardening = Hardening(
            user=f"{NB_UID}:{NB_GID}", network_id=overlay.id, image=self.image, pids_limit=int(resources["pids_limit"]),
            mem_limit=_bytes(resources["mem_limit"]), nano_cpus=int(float(resources["cpu_limit"]) * 1e9),
            binds={self.data_path: (str(extracts_dir(project_dir)), True), self.work_path: (str(workspace_dir(project_dir)), False),
                   self.imports_path: (str(imports_dir(project_dir)), True)},
            tmpfs=frozenset({"/tmp", HOME}))

    def _attach_hub(self, overlay) -> str:
        """Join the hub's container to the overlay (once); its address there."""
        overlay.reload()
        container = overlay.client.containers.get(self.hub_container)
        if container.id not in (overlay.attrs.get("Containers") or {}):
            try:
                overlay.connect(container)
            except APIError as error:
                if "already exists" not in str(error):
                    raise
        container.reload()
        address = (container.attrs["NetworkSettings"]["Networks"].get(overlay.name) or {}).get("IPAddress")
        if not address:
            raise web.HTTPError(500, f"the hub's container {self.hub_container} has no address on {overlay.name}")
        return address

    async def create_object(self):
        """The service, with the server's token as a Docker secret of its own and the task's pids limit."""
        name = f"{self.service_name}-token-{os.urandom(4).hex()}"
        secret = await self.docker("create_secret", name, self.api_token.encode(), labels=dict(self.extra_create_kwargs["labels"]))
        self._secret_id = secret["ID"]
        self._hardening = Hardening(**{**self._hardening.__dict__, "secret_names": frozenset({name})})
        self.extra_container_spec = {**self.extra_container_spec, "secrets": [
            SecretReference(secret["ID"], name, filename=TOKEN_FILE, uid=str(NB_UID), gid=str(NB_GID), mode=0o400)]}
        # docker-py's Resources has no pids field; the engine's API has (Limits.Pids, API 1.41)
        self.extra_task_spec = {**self.extra_task_spec, "resources": self._resources()}
        try:
            return await super().create_object()
        except Exception:
            await self._remove_secret()
            raise

    def _resources(self) -> Resources:
        resources = Resources(mem_limit=_bytes(self.mem_limit), cpu_limit=int(self.cpu_limit * 1e9))
        resources["Limits"]["Pids"] = self._hardening.pids_limit
        return resources

    async def hardening_problems(self) -> list[str]:
        """Everything that falls short in the service spec, its task's container and /proc/1/status inside."""
        service = await self.docker("inspect_service", self.service_name)
        problems = spec_problems(service["Spec"], self._hardening)
        task = await self.get_task()
        container_id = ((task or {}).get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        if not container_id:
            return [*problems, "the task has no container"]
        # The task runs on this node (single node, or the hub's): inspect it and read PID 1's status inside.
        # On another node the check needs that node's engine: not available here, so the server is refused.
        try:
            container = await self.docker("inspect_container", container_id)
        except APIError:
            return [*problems, f"the task's container {container_id[:12]} is on another node: cannot check it from here"]
        problems += container_problems(container, self._hardening)
        return problems + await self.process_problems(container_id)

    async def poll(self):
        status = await super().poll()
        if status is not None and self.object_id:  # the task ended: say why, from its own output
            self.log.error("server %s ended: %s\nits last output:\n%s", self.service_name, status, await self._output_tail())
        return status

    async def _output_tail(self, lines: int = 30) -> str:
        def tail() -> str:
            try:
                chunks = self.client.service_logs(self.object_id, stdout=True, stderr=True, tail=lines)
                return b"".join(chunks).decode(errors="replace")
            except APIError as error:
                return f"(no output: {error})"

        return await asyncio.get_running_loop().run_in_executor(None, tail)

    async def remove_object(self):
        try:
            await super().remove_object()
        except APIError as error:
            if error.status_code != 404:
                raise
        await self._remove_secret()

    async def _remove_secret(self):
        if self._secret_id:
            engine = networks.client()
            await asyncio.get_running_loop().run_in_executor(None, swarm.remove_secret, self._secret_id, engine)
            self._secret_id = ""

    def get_state(self):
        state = super().get_state()
        if self._secret_id:
            state["secret_id"] = self._secret_id
        return state

    def load_state(self, state):
        super().load_state(state)
        self._secret_id = state.get("secret_id", "")


