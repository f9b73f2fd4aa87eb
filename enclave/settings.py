"""Where Enclave keeps its state, read once from the environment.

Every component (CLI, provisioning, hub, egress gate) builds one :class:`Settings` with
:meth:`Settings.from_env` and passes it down, so a setting is never read twice with two answers.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).

The hub's services get only :data:`SERVICE_VARIABLES` (:func:`service_environment`): a new
variable, a secret above all, reaches them only once it is added there.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from enclave.audit_config import AuditConfig, overrides as audit_overrides
from enclave.branding import VARIABLES as BRANDING_VARIABLES
from enclave.errors import EnclaveError
from enclave.models import DEFAULT_NOTEBOOK_IMAGE
from enclave.working_hours import DEFAULT_WORKING_HOURS, WorkingHours

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
DEFAULT_TARIFFS = Path(__file__).resolve().parent.parent / "tariffs"


def require(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``name``; an :class:`EnclaveError` naming it if unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise _missing(name)
    return value


def _missing(name: str) -> EnclaveError:
    return EnclaveError(f"environment variable {name} is not set", f"export {name}=... and run the command again")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise EnclaveError(f"{name}={text!r} is not a TCP port", f"use a number from 1 to 65535 (default {default})")
    return int(text)


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise EnclaveError(f"{name}={text!r} is not a number of seconds", f"use a whole number above 0 (default {default})")
    return int(text)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise EnclaveError(f"{name}={text!r} is not a count", f"use a whole number above 0 (default {default})")
    return int(text)


def _mebibytes(env: Mapping[str, str], name: str, default: int) -> int:
    """A size given in MiB, returned in bytes."""
    text = env.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise EnclaveError(f"{name}={text!r} is not a number of MiB", f"use a whole number above 0 (default {default})")
    return int(text) * 1024 * 1024


def _percent(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise EnclaveError(f"{name}={text!r} is not a percentage", f"use a whole number from 1 to 100 (default {default})")
    return int(text)


# What the hub's services (reconciler, egress gate) get of the hub's environment: the registry's
# settings, never a secret (master key, TOTP key, OIDC client secret) nor the sources' folder.
SERVICE_VARIABLES = ("ENCLAVE_HOME", "ENCLAVE_DB_URL", "ENCLAVE_PROJECTS_DIR", "ENCLAVE_CATALOG", "ENCLAVE_AUDIT_HEAD",
                     "ENCLAVE_SCHEMAS_DIR", "ENCLAVE_ACTOR", "ENCLAVE_HUB_API_PORT", "ENCLAVE_PROXY_PORT", "ENCLAVE_PROXY_API_PORT",
                     "ENCLAVE_EGRESS_PORT", "ENCLAVE_EGRESS_ENCLAVE_PORT", "ENCLAVE_SEAL_PORT", "ENCLAVE_SEAL_MAX_REQUEST_MIB", "ENCLAVE_PUBLIC_URL",
                     "ENCLAVE_NOTEBOOK_IMAGE", "ENCLAVE_NOTEBOOK_STACK_IMAGE", "ENCLAVE_DB_BUSY_TIMEOUT", "ENCLAVE_TOOLS_ENCLAVE_PORT",
                     "ENCLAVE_USAGE_PORT", "ENCLAVE_METER_INTERVAL", "ENCLAVE_METER_STORAGE_INTERVAL", "ENCLAVE_TARIFFS_DIR",
                     "ENCLAVE_BUDGET_WARN_PERCENT", "ENCLAVE_BACKEND", "ENCLAVE_ALARM_HITS", "ENCLAVE_ALARM_WINDOW",
                     # every service appends audit events: it must find the same key ring and anchors
                     "ENCLAVE_AUDIT_KEY_FILE", "ENCLAVE_AUDIT_ANCHORS", "ENCLAVE_AUDIT_ANCHOR_INTERVAL",
                     "ENCLAVE_AUDIT_NOTARY", "ENCLAVE_HUB_API_ENCLAVE_PORT",
                     *BRANDING_VARIABLES)  # every page carries the deployment's branding (enclave.branding)


def service_environment(environ: Mapping[str, str], extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of :data:`SERVICE_VARIABLES` (and ``extra``) that ``environ`` sets, nothing else."""
    return {name: environ[name] for name in (*SERVICE_VARIABLES, *extra) if environ.get(name)}


BACKENDS = ("docker", "swarm")
MIN_RETENTION_DAYS = 365  # a year of access logs at least (the EHDS asks for it)


def _retention(env: Mapping[str, str], default: int) -> int:
    text = env.get("ENCLAVE_AUDIT_RETENTION_DAYS") or str(default)
    if not text.isdigit() or int(text) < MIN_RETENTION_DAYS:
        raise EnclaveError(f"ENCLAVE_AUDIT_RETENTION_DAYS={text!r} is not a number of days of at least {MIN_RETENTION_DAYS}",
                           f"keep at least a year of audit events: use {MIN_RETENTION_DAYS} or more (default {default})")
    return int(text)


def _backend(env: Mapping[str, str]) -> str:
    value = env.get("ENCLAVE_BACKEND") or "docker"
    if value not in BACKENDS:
        raise EnclaveError(f"ENCLAVE_BACKEND={value!r} is not a backend", f"use one of {', '.join(BACKENDS)} (default docker)")
    return value


@dataclass(frozen=True)
class Settings:
    """Enclave's configuration; paths are absolute."""

    home: Path
    db_url: str
    projects_dir: Path
    sources_dir: Path | None
    catalog: Path
    audit_head: Path
    actor: str
    hub_api_port: int = 8081
    hub_api_enclave_port: int = 10107
    proxy_port: int = 8000
    proxy_api_port: int = 8001
    egress_port: int = 10101
    egress_enclave_port: int = 10103
    seal_port: int = 10102
    seal_max_request: int = 64 * 1024 * 1024
    tools_enclave_port: int = 10105
    public_url: str = ""  # "" until from_env: http://0.0.0.0:<proxy_port>
    notebook_image: str = "enclave/notebook:latest"
    notebook_stack_image: str = "enclave/notebook-stack:latest"
    idle_timeout: int = 3600
    reconcile_interval: int = 60
    alarm_hits: int = 3
    alarm_window: int = 600
    spawn_timeout: int = 120
    usage_port: int = 10106
    meter_interval: int = 60
    meter_storage_interval: int = 3600
    tariffs_dir: Path = DEFAULT_TARIFFS
    budget_warn_percent: int = 80
    backend: str = "docker"
    audit_key_file: Path | None = None  # None: beside the head (AuditConfig.resolve)
    audit_anchors: Path | None = None
    audit_anchor_interval: int | None = None
    audit_notary: str | None = None
    audit_retention_days: int = 400
    working_hours: WorkingHours = DEFAULT_WORKING_HOURS
    schemas_dir: Path | None = None  # the catalog's Table Schemas, when not its own schema_dir
    nomenclatures_dir: Path | None = None  # SNDS code lists for the data dictionaries
    fictive_warn_percent: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``ENCLAVE_*`` variable once (from ``environ``, default ``os.environ``)."""
        env = os.environ if environ is None else environ

        def path(name: str, default: Path | str) -> Path:
            return Path(env.get(name) or default).expanduser().absolute()

        home = path("ENCLAVE_HOME", "var")
        db_url = env.get("ENCLAVE_DB_URL") or f"sqlite:///{home / 'registry.db'}"
        try:
            make_url(db_url)
        except ArgumentError as exc:
            raise EnclaveError(f"ENCLAVE_DB_URL is not a database URL ({exc})", "use e.g. "
                               "sqlite:////var/lib/enclave/registry.db or postgresql+psycopg://user@host/db") from None
        sources = env.get("ENCLAVE_SOURCES_DIR")

        def optional_path(name: str) -> Path | None:
            return path(name, env[name]) if env.get(name) else None
        return cls(
            home=home,
            db_url=db_url,
            projects_dir=path("ENCLAVE_PROJECTS_DIR", "projects"),
            sources_dir=path("ENCLAVE_SOURCES_DIR", sources) if sources else None,
            catalog=path("ENCLAVE_CATALOG", DEFAULT_CATALOG),
            audit_head=path("ENCLAVE_AUDIT_HEAD", home / "audit.head"),
            actor=env.get("ENCLAVE_ACTOR") or getpass.getuser(),
            hub_api_port=_port(env, "ENCLAVE_HUB_API_PORT", 8081),
            hub_api_enclave_port=_port(env, "ENCLAVE_HUB_API_ENCLAVE_PORT", 10107),
            proxy_port=_port(env, "ENCLAVE_PROXY_PORT", 8000),
            proxy_api_port=_port(env, "ENCLAVE_PROXY_API_PORT", 8001),
            egress_port=_port(env, "ENCLAVE_EGRESS_PORT", 10101),
            egress_enclave_port=_port(env, "ENCLAVE_EGRESS_ENCLAVE_PORT", 10103),
            seal_port=_port(env, "ENCLAVE_SEAL_PORT", 10102),
            seal_max_request=_mebibytes(env, "ENCLAVE_SEAL_MAX_REQUEST_MIB", 64),
            tools_enclave_port=_port(env, "ENCLAVE_TOOLS_ENCLAVE_PORT", 10105),
            public_url=env.get("ENCLAVE_PUBLIC_URL") or f"http://0.0.0.0:{_port(env, 'ENCLAVE_PROXY_PORT', 8000)}",
            notebook_image=env.get("ENCLAVE_NOTEBOOK_IMAGE") or cls.notebook_image,
            notebook_stack_image=env.get("ENCLAVE_NOTEBOOK_STACK_IMAGE") or cls.notebook_stack_image,
            idle_timeout=_seconds(env, "ENCLAVE_IDLE_TIMEOUT", cls.idle_timeout),
            reconcile_interval=_seconds(env, "ENCLAVE_RECONCILE_INTERVAL", cls.reconcile_interval),
            alarm_hits=_count(env, "ENCLAVE_ALARM_HITS", cls.alarm_hits),
            alarm_window=_seconds(env, "ENCLAVE_ALARM_WINDOW", cls.alarm_window),
            spawn_timeout=_seconds(env, "ENCLAVE_SPAWN_TIMEOUT", cls.spawn_timeout),
            usage_port=_port(env, "ENCLAVE_USAGE_PORT", 10106),
            meter_interval=_seconds(env, "ENCLAVE_METER_INTERVAL", cls.meter_interval),
            meter_storage_interval=_seconds(env, "ENCLAVE_METER_STORAGE_INTERVAL", cls.meter_storage_interval),
            tariffs_dir=path("ENCLAVE_TARIFFS_DIR", DEFAULT_TARIFFS),
            budget_warn_percent=_percent(env, "ENCLAVE_BUDGET_WARN_PERCENT", cls.budget_warn_percent),
            backend=_backend(env),
            **dict(zip(("audit_key_file", "audit_anchors", "audit_anchor_interval", "audit_notary"),
                       audit_overrides(env), strict=True)),
            audit_retention_days=_retention(env, cls.audit_retention_days),
            working_hours=WorkingHours.parse(env.get("ENCLAVE_WORKING_HOURS") or DEFAULT_WORKING_HOURS.text),
            schemas_dir=optional_path("ENCLAVE_SCHEMAS_DIR"),
            nomenclatures_dir=optional_path("ENCLAVE_NOMENCLATURES_DIR"),
            fictive_warn_percent=_percent(env, "ENCLAVE_FICTIVE_WARN_PERCENT", cls.fictive_warn_percent),
        )

    @property
    def audit_config(self) -> AuditConfig:
        """The audit log's head, key ring, anchors and notary (pass it to ``session_scope`` as ``audit_head``)."""
        return AuditConfig.resolve(self.audit_head, self.audit_key_file, self.audit_anchors,
                                   self.audit_anchor_interval, self.audit_notary)

    def load_catalog(self):
        """The catalog provisioning and manifests use: ``ENCLAVE_CATALOG`` with ``ENCLAVE_SCHEMAS_DIR``."""
        from pseudonymizer.catalog import load_catalog

        return load_catalog(self.catalog, self.schemas_dir)

    def require_sources_dir(self) -> Path:
        """The identifying sources' folder; fails fast naming ``ENCLAVE_SOURCES_DIR`` when unset."""
        if self.sources_dir is None:
            raise _missing("ENCLAVE_SOURCES_DIR")
        return self.sources_dir

    @property
    def firewall_ports(self) -> list[int]:
        """The host ports enclave containers may reach, at their network's gateway: the hub API gate
        (what a single-user server needs of the hub API, never the hub API itself), the gate's
        submission port and the project tools (git remote, package index) — never the public proxy,
        whose routes lead to other servers."""
        return [self.hub_api_enclave_port, self.egress_enclave_port, self.tools_enclave_port]

    @property
    def notebook_images(self) -> dict[str, str]:
        """The container image of each choice a manifest may make (``[resources] image``)."""
        return {"slim": self.notebook_image, "stack": self.notebook_stack_image}

    def notebook_image_for(self, choice: str | None) -> str:
        """The image of a project's choice (None: the default, slim); an error naming the choices otherwise."""
        images = self.notebook_images
        name = choice or DEFAULT_NOTEBOOK_IMAGE
        if name not in images:
            raise EnclaveError(f"notebook image {name!r} is not one of this platform's images",
                               f"set [resources] image to one of: {', '.join(images)}")
        return images[name]

    def project_dir(self, slug: str) -> Path:
        """``<projects_dir>/<slug>``: holds the project's ``extracts/`` and ``workspace/``."""
        return self.projects_dir / slug
