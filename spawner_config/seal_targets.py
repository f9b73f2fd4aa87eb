"""Where the seal forwards a browser's request, and which answers are JupyterLab's own files.

Docker is the one source of truth: the server of ``user`` in project ``slug`` is the container
the spawner named ``enclave-<slug>-<user>`` and labelled with both, at its address on the
project's network. JupyterLab's own files (scripts, styles, fonts, icons) are identified by the
SHA-256 of their bytes, listed from the image itself: an answer with exactly those bytes carries
nothing of the project's, so its body does not count against the budget, whatever route asked for
it. The same goes for the settings schemas JupyterLab's settings API sends (as the image's own
server builds them, overrides included), by the SHA-256 of their canonical JSON
(:func:`spawner_config.seal_rules.schema_hash`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from enclave import networks

log = logging.getLogger("enclave.seal")


# Run inside the image (as its user, no network): the SHA-256 of every file JupyterLab may serve.
_LIST_ASSETS = r"""
import hashlib, json, os, site, sys
roots = [os.path.join(sys.prefix, "share", "jupyter"), "/usr/local/share/jupyter", "/usr/share/jupyter"]
for packages in site.getsitepackages():
    for name in ("jupyter_server", "jupyterlab", "jupyterlab_server", "notebook", "jupyter_server_terminals"):
        roots.append(os.path.join(packages, name, "static"))
hashes = set()
for root in roots:
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    hashes.add(hashlib.sha256(f.read()).hexdigest())
            except OSError:
                pass
schemas = set()
try:  # the settings schemas as jupyterlab_server sends them: one canonical JSON hash each
    import tempfile
    from jupyter_core.paths import jupyter_path
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.settings_utils import _get_overrides, get_settings
    app_dir = get_app_dir()
    settings_dir = os.path.join(app_dir, "settings")
    overrides, _ = _get_overrides(settings_dir)
    result, _ = get_settings(settings_dir, os.path.join(app_dir, "schemas"), tempfile.mkdtemp(),
                             overrides=overrides, labextensions_path=jupyter_path("labextensions"))
    for entry in result["settings"]:
        canonical = json.dumps(entry["schema"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        schemas.add(hashlib.sha256(canonical.encode()).hexdigest())
except Exception as error:
    print("no settings schemas:", error, file=sys.stderr)
print(json.dumps({"files": sorted(hashes), "schemas": sorted(schemas)}))
"""


def container_name(user: str, slug: str) -> str:
    """The spawner's name for a server's container (``EnclaveSpawner.name_template``)."""
    return f"enclave-{slug}-{user}"


@dataclass(frozen=True)
class Target:
    url: str        # http://<ip>:<port>
    image_id: str


class Targets:
    """Container addresses, looked up in Docker and kept ``ttl`` seconds; with ``swarm``, the addresses
    of Swarm services' running tasks on their project's overlay (the seal then runs in the hub's
    container, attached to every overlay)."""

    def __init__(self, engine: docker.DockerClient | None = None, ttl: float = 3.0, swarm: bool = False):
        self.engine = engine or docker.from_env()
        self.ttl = ttl
        self.swarm = swarm
        self._cache: dict[tuple[str, str], tuple[float, Target | None]] = {}

    def forget(self, user: str, slug: str) -> None:
        self._cache.pop((user, slug), None)

    def cached(self, user: str, slug: str) -> Target | None:
        """The address found less than ``ttl`` seconds ago, without asking Docker (None: ask)."""
        cached = self._cache.get((user, slug))
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        return None

    def find(self, user: str, slug: str) -> Target | None:
        key, now = (user, slug), time.monotonic()
        cached = self._cache.get(key)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        target = self._lookup(user, slug)
        if target is not None:  # a server still starting is looked up again at once
            self._cache[key] = (now, target)
        return target

    def _lookup(self, user: str, slug: str) -> Target | None:
        if self.swarm:
            return self._lookup_service(user, slug)
        try:
            container = self.engine.containers.get(container_name(user, slug))
        except NotFound:
            return None
        attrs = container.attrs
        labels = attrs.get("Config", {}).get("Labels") or {}
        if labels.get(networks.PROJECT_LABEL) != slug or labels.get(networks.USER_LABEL) != user:
            log.warning("container %s is not labelled as %s's server of %s: not forwarding", container.name, user, slug)
            return None
        if not attrs.get("State", {}).get("Running"):
            return None
        address = (attrs.get("NetworkSettings", {}).get("Networks", {}).get(networks.network_name(slug)) or {}).get("IPAddress")
        if not address:
            return None
        return Target(f"http://{address}:{int(labels.get(networks.PORT_LABEL, 8888))}", attrs.get("Image", ""))


    def _lookup_service(self, user: str, slug: str) -> Target | None:
        from enclave.swarm import overlay_name

        try:
            service = self.engine.services.get(container_name(user, slug))
        except NotFound:
            return None
        labels = service.attrs.get("Spec", {}).get("Labels") or {}
        if labels.get(networks.PROJECT_LABEL) != slug or labels.get(networks.USER_LABEL) != user:
            log.warning("service %s is not labelled as %s's server of %s: not forwarding", service.name, user, slug)
            return None
        for task in service.tasks(filters={"desired-state": "running"}):
            if task.get("Status", {}).get("State") != "running":
                continue
            for attachment in task.get("NetworksAttachments") or []:
                if attachment.get("Network", {}).get("Spec", {}).get("Name") == overlay_name(slug) and attachment.get("Addresses"):
                    address = attachment["Addresses"][0].split("/")[0]
                    return Target(f"http://{address}:{int(labels.get(networks.PORT_LABEL, 8888))}", self._image_id(service))
        return None

    def _image_id(self, service) -> str:
        """The id of the service's image on this node (JupyterLab's files are listed from it)."""
        name = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        try:
            return self.engine.images.get(name).id
        except DockerException:
            return ""


@dataclass(frozen=True)
class Assets:
    """What an image's JupyterLab serves of its own: file hashes and settings-schema hashes."""

    files: frozenset[str] = frozenset()
    schemas: frozenset[str] = frozenset()


class AssetIndex:
    """JupyterLab's own files and settings schemas (SHA-256), per image; listed once per image and
    kept on disk."""

    def __init__(self, cache_dir: Path, engine: docker.DockerClient | None = None):
        self.cache_dir = cache_dir
        self.engine = engine or docker.from_env()
        self._assets: dict[str, Assets] = {}
        self._lock = threading.Lock()

    def assets(self, image_id: str) -> Assets:
        with self._lock:
            if image_id not in self._assets:
                self._assets[image_id] = self._load(image_id)
            return self._assets[image_id]

    def hashes(self, image_id: str) -> frozenset[str]:
        return self.assets(image_id).files

    def _load(self, image_id: str) -> Assets:
        cached = self.cache_dir / f"lab-assets-{image_id.replace(':', '-')}.json"
        if cached.exists():
            listed = json.loads(cached.read_text())
            return Assets(frozenset(listed["files"]), frozenset(listed["schemas"]))
        try:
            output = self.engine.containers.run(image_id, ["-c", _LIST_ASSETS], entrypoint=["python3"], network_mode="none",
                                                user="1000:100", remove=True, stdout=True, stderr=False)
            listed = json.loads(output.decode().strip().splitlines()[-1])
        except (DockerException, ValueError, IndexError) as error:
            log.error("cannot list JupyterLab's files in image %s (%s): every answer counts against the budget", image_id, error)
            return Assets()
        self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(listed))
        tmp.chmod(0o600)
        tmp.replace(cached)
        log.info("image %s: %d JupyterLab files and %d settings schemas known", image_id[:19], len(listed["files"]),
                 len(listed["schemas"]))
        return Assets(frozenset(listed["files"]), frozenset(listed["schemas"]))
