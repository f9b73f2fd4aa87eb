"""The portal service's configuration, read once from the environment.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from egress_gate.service.config import GateConfig
from enclave.settings import Settings

from .catalogue import DEFAULT_DATASETS
from .errors import PortalError

DEFAULT_PORT = 10104
VARIABLES = ("ENCLAVE_PORTAL_DIR", "ENCLAVE_PORTAL_DATASETS", "ENCLAVE_PORTAL_PORT", "ENCLAVE_COMMITTEE_FAVOURABLE")  # passed to its service


def portal_port(environ: Mapping[str, str] | None = None) -> int:
    """``ENCLAVE_PORTAL_PORT`` (default 10104): the service's loopback port, reached through the proxy."""
    text = (os.environ if environ is None else environ).get("ENCLAVE_PORTAL_PORT") or str(DEFAULT_PORT)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise PortalError(f"ENCLAVE_PORTAL_PORT={text!r} is not a TCP port", f"use 1-65535 (default {DEFAULT_PORT})")
    return int(text)


@dataclass(frozen=True)
class PortalConfig:
    settings: Settings
    data_dir: Path
    datasets: Path = DEFAULT_DATASETS
    favourable_required: int = 2
    public_url: str = "http://127.0.0.1:8000"
    prefix: str = "/services/portal/"
    bind_host: str = "127.0.0.1"
    bind_port: int = DEFAULT_PORT
    releases_dir: Path | None = None  # the egress gate's release store (its ledger proves what was released)

    @property
    def decisions_dir(self) -> Path:
        return self.data_dir / "decisions"

    @property
    def catalogue_base(self) -> str:
        """The catalogue's public URL: the IRIs of the HealthDCAT-AP export."""
        return self.public_url.rstrip("/") + self.prefix + "catalogue/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PortalConfig:
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        data_dir = Path(env.get("ENCLAVE_PORTAL_DIR") or settings.home / "portal").expanduser().absolute()
        datasets = Path(env.get("ENCLAVE_PORTAL_DATASETS") or DEFAULT_DATASETS).expanduser().absolute()
        required = env.get("ENCLAVE_COMMITTEE_FAVOURABLE") or "2"
        if not required.isdigit() or int(required) < 1:
            raise PortalError(f"ENCLAVE_COMMITTEE_FAVOURABLE={required!r} is not a positive number", "e.g. 2")
        prefix = (env.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/portal/").rstrip("/") + "/"
        if not prefix.startswith("/"):
            raise PortalError(f"JUPYTERHUB_SERVICE_PREFIX={prefix!r} is not an absolute URL path", "e.g. /services/portal/")
        url = urlparse(env.get("JUPYTERHUB_SERVICE_URL") or f"http://127.0.0.1:{DEFAULT_PORT}")
        if not url.hostname or not url.port:
            raise PortalError(f"JUPYTERHUB_SERVICE_URL={url.geturl()!r} names no host and port",
                              f"set the service's url in jupyterhub_config.py, e.g. http://127.0.0.1:{DEFAULT_PORT}")
        public = env.get("ENCLAVE_PUBLIC_URL") or f"http://127.0.0.1:{settings.proxy_port}"
        if public.startswith("http://0.0.0.0"):
            public = public.replace("0.0.0.0", "127.0.0.1", 1)
        # The gate's own reading of its folders (without the portal's JUPYTERHUB_* service variables).
        gate = GateConfig.from_env({k: v for k, v in env.items() if not k.startswith("JUPYTERHUB_")})
        return cls(settings=settings, data_dir=data_dir, datasets=datasets, favourable_required=int(required),
                   public_url=public, prefix=prefix, bind_host=url.hostname, bind_port=url.port,
                   releases_dir=gate.releases_dir)
