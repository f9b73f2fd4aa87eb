"""EnclaveSpawner: one named server per project (server name = project slug), in an isolated container.

Everything about the container comes from the registry and the settings — nothing from
``user_options`` sent by a browser:

- only the project's internal network (``enclave-<slug>``); the hub API gate reached at its gateway
  (:mod:`spawner_config.hub_api_gate`: what a single-user server needs of the hub API, nothing else), and
  the egress gate's submission port there (``ENCLAVE_EGRESS_URL``; the server's token may reach that
  one service: ``server_token_scopes``) — never the public proxy;
- its project's tools (git remote, package index) at the gateway too (:mod:`spawner_config.tools_env`);
- the browser reaches the server only through the seal (:mod:`spawner_config.seal`): the address
  the hub gives the proxy for this server is the seal's, which forwards to the container;
- the project's extracts read-only at ``~/data``, its shared workspace read-write at ``~/work``,
  its approved imports read-only at ``~/imports`` (:mod:`airlock.publish`), nothing else from the host (no Docker socket, no sources, no keys);
- the project's notebook image (manifest ``[resources] image``: slim or stack, tags from the settings);
- non-root (uid 1000), all capabilities dropped, no-new-privileges, the enclave's seccomp profile
  (:mod:`enclave.seccomp`: no ptrace, no process_vm_readv/writev...), jupyter-server non-dumpable
  (its memory closed to the researcher's processes, who share its uid), read-only root
  filesystem with tmpfs for ``/tmp`` and the home; memory, CPU and process limits from the project.

After the start, the container is checked (:mod:`spawner_config.hardening`: its security options,
``/proc/1/status`` inside, and a probe that tries ptrace and process_vm_readv on jupyter-server as the
researcher's uid); a server that falls short is removed, audited ``server.refused`` and never handed out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date

from dockerspawner import DockerSpawner
from jupyterhub.roles import get_default_roles
from tornado import web
from traitlets import Any, Int, Unicode, default

from airlock.publish import ensure_imports_dir
from enclave import lifecycle, networks, seccomp, workspace
from enclave.audit import AuditAction, record
from enclave.db import make_engine, session_scope
from enclave.errors import EnclaveError
from enclave.layout import NOTEBOOK_GID, NOTEBOOK_UID, WORKSPACE_MODE, extracts_dir, workspace_dir
from enclave.models import ProjectState, default_resources
from enclave.registry import get_project
from enclave.settings import Settings
from spawner_config.access import SpawnRefused, check_spawn
from spawner_config.hardening import PROBE_COMMAND, probe_problems, security_opt_problems, status_problems
from spawner_config.tools_env import tools_environment

HOME = "/home/jovyan"
EGRESS_SERVICE = "egress"
EGRESS_SCOPE = f"access:services!service={EGRESS_SERVICE}"
CHECK_TIMEOUT = 30


class NotHardened(Exception):
    """A started server fell short of its hardening (the message lists how); it was removed."""


def refused(status: int, message: str) -> web.HTTPError:
    """An error the hub shows as it is: its page and the spawn progress both say which rule refused
    (JupyterHub shows a spawner's ``jupyterhub_message``; without it, "Failed to start your server ...
    contact admin")."""
    error = web.HTTPError(status, message, reason=message)
    error.jupyterhub_message = message
    return error


def default_server_token_scopes() -> list[str]:
    """JupyterHub's default for the server's token (the scopes of its built-in ``server`` role)
    plus access to the egress gate, which ``enclave-export`` reaches with that token."""
    server_role = next(role for role in get_default_roles() if role["name"] == "server")
    return [*server_role["scopes"], EGRESS_SCOPE]
NB_UID, NB_GID = NOTEBOOK_UID, NOTEBOOK_GID


class EnclaveSpawner(DockerSpawner):
    """DockerSpawner for project enclaves (see the module docstring)."""

    enclave_settings = Any(help="enclave.settings.Settings; read from the environment when not given.").tag(config=True)
    data_path = Unicode(f"{HOME}/data", help="Where the project's extracts appear (read-only).").tag(config=True)
    imports_path = Unicode(f"{HOME}/imports", help="Where the project's approved imports appear (read-only).").tag(config=True)
    work_path = Unicode(f"{HOME}/work", help="Where the project's shared workspace appears (read-write).").tag(config=True)
    home_tmpfs_size = Unicode("1g", help="Size of the in-memory home (everything written outside ~/work is lost at stop).").tag(config=True)
    tmp_tmpfs_size = Unicode("1g", help="Size of /tmp.").tag(config=True)
    hub_api_port = Int(help="The hub API gate's port, reached by containers at their network's gateway "
                            "(ENCLAVE_HUB_API_ENCLAVE_PORT: the hub API itself is on loopback).").tag(config=True)

    seccomp_in_entry_point = False  # the profile is the engine's (security_opt): an exec'd probe is under it too

    @default("enclave_settings")
    def _settings_default(self) -> Settings:
        return Settings.from_env()

    @default("hub_api_port")
    def _hub_api_port_default(self) -> int:
        return self.enclave_settings.hub_api_enclave_port

    @default("server_token_scopes")
    def _server_token_scopes_default(self) -> list[str]:
        return default_server_token_scopes()

    @default("name_template")
    def _name_template_default(self) -> str:
        return "enclave-{raw_servername}-{raw_username}"  # slugs and user names are DNS-safe (registry rules)

    @default("cmd")
    def _cmd_default(self) -> list[str]:
        return list(seccomp.SERVER_COMMAND)  # jupyterhub-singleuser, non-dumpable: closed to the researcher's processes

    @default("remove")
    def _remove_default(self) -> bool:
        return True

    @default("pull_policy")
    def _pull_policy_default(self) -> str:
        return "never"  # images are built on the host (make images); no registry is asked

    @default("use_internal_ip")
    def _use_internal_ip_default(self) -> bool:
        return True

    def options_from_form(self, form_data):
        return {}  # nothing a browser sends shapes a container

    def _engine(self):
        if not hasattr(self.__class__, "_registry_engine"):
            self.__class__._registry_engine = make_engine(self.enclave_settings.db_url)
        return self.__class__._registry_engine

    def _grant(self):
        with session_scope(self._engine(), self.enclave_settings.audit_head) as session:
            grant = check_spawn(session, self.user.name, self.name, date.today())
            if grant.state is ProjectState.provisioned:  # its first server: the project becomes active
                project = get_project(session, grant.slug)
                lifecycle.transition(session, project, lifecycle.Action.activate, self.user.name, "first server started")
            record(session, self.user.name, AuditAction.server_start, grant.slug, container=self.object_name)
        return grant

    def _sampler(self):
        if not hasattr(self.__class__, "_usage_sampler"):
            from metering.sampler import Sampler

            self.__class__._usage_sampler = Sampler(self.enclave_settings, self._engine())
        return self.__class__._usage_sampler

    async def stop(self, now=False):
        # The container's counters go with it: read them one last time, so its last interval is billed.
        if self.container_id:
            try:
                await asyncio.to_thread(self._sampler().sample_container, self.container_id)
            except Exception:  # noqa: BLE001 - metering must never keep a server from stopping
                self.log.exception("final usage reading of %s failed", self.object_name)
        await super().stop(now=now)

    async def start(self):
        self.user_options = {}
        try:
            grant = self._grant()
        except SpawnRefused as refusal:
            raise refused(403, str(refusal)) from None
        try:
            self._configure(grant)
        except EnclaveError as error:  # e.g. a registry row naming an image this platform does not have
            raise refused(500, str(error)) from None
        await self._check_image()
        try:
            await super().start()
        except NotHardened as refusal:
            raise refused(500, f"server not hardened: {refusal}") from None
        # The proxy sends this server's requests to the seal, which finds the container (seal_targets).
        return ("127.0.0.1", self.enclave_settings.seal_port)

    async def _check_image(self) -> None:
        """Images are built on the host, never pulled: say which one is missing and how to build it."""
        try:
            await self.docker("inspect_image", self.image)
        except Exception as error:  # noqa: BLE001 - docker's NotFound and API errors alike
            message = (f"the notebook image {self.image} of project {self.name} is not on this host ({type(error).__name__}): "
                       "ops build it with `make images` (scripts/build_images.sh)")
            self.log.error(message)
            raise refused(503, message) from None

    async def start_object(self):
        """Start the server, then check it (:meth:`hardening_problems`); refuse it if it falls short."""
        await super().start_object()
        began = time.monotonic()
        try:
            problems = await asyncio.wait_for(self.hardening_problems(), CHECK_TIMEOUT)
        except asyncio.TimeoutError:
            problems = [f"no answer from the hardening check within {CHECK_TIMEOUT}s"]
        self.log.info("hardening check of %s: %.2fs, %d problems", self.object_name, time.monotonic() - began, len(problems))
        if problems:
            await self._refuse(problems)

    async def _refuse(self, problems: list[str]) -> None:
        self.log.error("server %s refused, not hardened: %s", self.object_name, "; ".join(problems))
        with session_scope(self._engine(), self.enclave_settings.audit_head) as session:
            record(session, self.user.name, AuditAction.server_refused, self.name, container=self.object_name, problems=problems)
        await self.stop_object()
        await self.remove_object()
        raise NotHardened(f"server {self.object_name} is not hardened, refused: {'; '.join(problems)}")

    def security_options(self) -> list[str]:
        """The container's security options: no-new-privileges and the enclave's seccomp profile."""
        return ["no-new-privileges", seccomp.security_opt()]

    async def hardening_problems(self) -> list[str]:
        """What falls short in the container's security options and, inside it, in /proc/1/status and the probe."""
        container = await self.docker("inspect_container", self.container_id)
        return security_opt_problems(container, self.security_options()) + await self.process_problems(self.container_id)

    async def process_problems(self, container_id: str) -> list[str]:
        """Inside the running container, as the researcher's uid: PID 1's status, and whether ptrace and
        process_vm_readv on jupyter-server are refused (:data:`spawner_config.hardening.PROBE`)."""
        status = await self._run_inside(container_id, ["cat", "/proc/1/status"])
        probe = await self._run_inside(container_id, PROBE_COMMAND)
        return status_problems(status, NB_UID) + probe_problems(probe, self.seccomp_in_entry_point)

    async def _run_inside(self, container_id: str, command: list[str]) -> str:
        run = await self.docker("exec_create", container_id, command, user=f"{NB_UID}:{NB_GID}")
        return (await self.docker("exec_start", run["Id"])).decode(errors="replace")

    def _configure(self, grant) -> None:
        """Per-project container settings, all in one place."""
        settings = self.enclave_settings
        network = networks.ensure_network(grant.slug)
        project_dir = settings.project_dir(grant.slug)
        self.network_name = network.name
        self.hub_connect_url = f"http://{network.gateway}:{self.hub_api_port}"
        self.volumes = {}
        self.read_only_volumes = {}
        resources = {**default_resources(), **grant.resources}
        self.image = settings.notebook_image_for(resources.get("image"))
        # The workspace is a filesystem of its own (quota; nosuid,nodev), mounted again after a reboot.
        workspace.ensure(workspace_dir(project_dir), resources.get("workspace_quota", workspace.DEFAULT_QUOTA),
                         NB_UID, NB_GID, WORKSPACE_MODE)
        self.mounts = [
            {"type": "bind", "source": str(extracts_dir(project_dir)), "target": self.data_path, "read_only": True},
            {"type": "bind", "source": str(workspace_dir(project_dir)), "target": self.work_path, "read_only": False},
            {"type": "bind", "source": str(ensure_imports_dir(project_dir)), "target": self.imports_path, "read_only": True},
        ]
        self.mem_limit = resources["mem_limit"]
        self.cpu_limit = float(resources["cpu_limit"])
        self.extra_host_config = {
            "read_only": True,
            "tmpfs": {
                "/tmp": f"rw,nosuid,nodev,size={self.tmp_tmpfs_size}",
                HOME: f"rw,nosuid,nodev,size={self.home_tmpfs_size},uid={NB_UID},gid={NB_GID},mode=0700",
            },
            "cap_drop": ["ALL"],
            "security_opt": self.security_options(),
            "pids_limit": int(resources["pids_limit"]),
            "network_mode": network.name,
        }
        self.extra_create_kwargs = {
            "user": f"{NB_UID}:{NB_GID}",
            "labels": {networks.PROJECT_LABEL: grant.slug, networks.USER_LABEL: grant.username,
                       networks.PORT_LABEL: str(self.port)},
            "working_dir": HOME,
        }
        # The gate's submission port at the network's gateway (the public proxy is closed to enclaves).
        egress_url = f"http://{network.gateway}:{settings.egress_enclave_port}/services/{EGRESS_SERVICE}/"
        self.environment = {**self.environment, "ENCLAVE_PROJECT": grant.slug, "ENCLAVE_EGRESS_URL": egress_url}
        self._tools = (network.gateway, settings.tools_enclave_port, grant.slug)

    def get_env(self):
        """The server's environment, with its project's git remote and package index (:mod:`spawner_config.tools_env`):
        they take the server's own token, which exists only now."""
        env = super().get_env()
        tools = getattr(self, "_tools", None)
        if tools is not None and self.api_token:
            env.update(tools_environment(*tools, self.user.name, self.api_token))
        return env
