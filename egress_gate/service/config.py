"""The gate service's configuration, read once from the environment.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).

The hub sets ``JUPYTERHUB_SERVICE_PREFIX`` and ``JUPYTERHUB_SERVICE_URL`` (the prefix and loopback address),
``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_CLIENT_ID`` and
``JUPYTERHUB_OAUTH_*``, which :class:`jupyterhub.services.auth.HubOAuth` reads itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from airlock.config import VARIABLES as AIRLOCK_VARIABLES
from enclave.errors import EnclaveError
from enclave.layout import extracts_dir, workspace_dir
from enclave.settings import Settings

# The gate's own and the import airlock's (it scans imports: ClamAV's folder, the scan's budgets),
# passed to its service by the hub.
VARIABLES = ("ENCLAVE_EGRESS_DIR", "ENCLAVE_EGRESS_PREVIEW_ROWS", "ENCLAVE_EGRESS_CHECK_SECONDS",
             "ENCLAVE_EGRESS_CHECK_MEMORY_MB", *AIRLOCK_VARIABLES)


@dataclass(frozen=True)
class GateConfig:
    settings: Settings
    data_dir: Path
    prefix: str = "/services/egress/"
    bind_host: str = "127.0.0.1"
    bind_port: int = 10101
    preview_rows: int = 200
    public_url: str | None = None  # e.g. https://enclave.example.org (no trailing slash)

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def releases_dir(self) -> Path:
        return self.data_dir / "releases"

    @property
    def work_dir(self) -> Path:
        """Scratch space for previews, checks and anonymisation (files go by their extension)."""
        return self.data_dir / "work"

    def workspace(self, slug: str) -> Path:
        return workspace_dir(self.settings.project_dir(slug))

    def extracts(self, slug: str) -> Path:
        return extracts_dir(self.settings.project_dir(slug))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GateConfig:
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        data_dir = Path(env.get("ENCLAVE_EGRESS_DIR") or settings.home / "egress").expanduser().absolute()
        prefix = env.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/egress/"
        if not prefix.startswith("/"):
            raise EnclaveError(f"JUPYTERHUB_SERVICE_PREFIX={prefix!r} is not an absolute URL path", "e.g. /services/egress/")
        prefix = prefix.rstrip("/") + "/"
        url = urlparse(env.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101")
        if not url.hostname or not url.port:
            raise EnclaveError(f"JUPYTERHUB_SERVICE_URL={url.geturl()!r} names no host and port",
                               "set the service's url in jupyterhub_config.py, e.g. http://127.0.0.1:10101")
        rows = env.get("ENCLAVE_EGRESS_PREVIEW_ROWS") or "200"
        if not rows.isdigit() or int(rows) < 1:
            raise EnclaveError(f"ENCLAVE_EGRESS_PREVIEW_ROWS={rows!r} is not a positive number", "e.g. 200")
        public = (env.get("ENCLAVE_PUBLIC_URL") or "").strip().rstrip("/") or None
        if public and (not public.startswith(("http://", "https://")) or urlparse(public).hostname in ("0.0.0.0", "::")):
            public = None  # a bind address, not one a browser can open: links stay relative
        return cls(settings=settings, data_dir=data_dir, prefix=prefix, bind_host=url.hostname,
                   bind_port=url.port, preview_rows=int(rows), public_url=public)
