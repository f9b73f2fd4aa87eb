"""Every environment variable Enclave reads, with its default and meaning: the one place they are written.

The modules that read a variable (``enclave.settings``, ``enclave.auth.settings``,
``egress_gate.service.config``, ``portal.config``, ``airlock.config``, the image's helpers...) keep
their parsing; what a variable means is said here only. ``docs/configuration.md`` is generated
from this table (``enclave config reference --write``) and a test fails when the two disagree, or
when the code reads a variable this table does not list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"
# What ships: the packages, the hub's configuration, the images and the scripts (not tests, not docs).
SOURCES = ("enclave", "egress_gate", "portal", "airlock", "metering", "spawner_config", "project_tools",
           "pseudonymizer", "images", "scripts", "jupyterhub_config.py", "Makefile", "Dockerfile.hub",
           "Dockerfile.notebook", "Dockerfile.stack")
SOURCE_SUFFIXES = {".py", ".sh", ".R", ".r", ".toml", ".json", ""}
# A whole name: "ENCLAVE_OIDC_*" in prose names a family, not a variable.
NAME = re.compile(r"\bENCLAVE_[A-Z0-9_]*[A-Z0-9]\b(?![_*])")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str


@dataclass(frozen=True)
class Group:
    title: str
    read_by: str
    settings: tuple[Setting, ...]


GROUPS: tuple[Group, ...] = (
    Group("Registry and files", "enclave.settings (every component)", (
        Setting("ENCLAVE_HOME", "`./var` (made absolute)", "where the registry, the audit files and the services' folders live"),
        Setting("ENCLAVE_DB_URL", "`sqlite:///<home>/registry.db`", "the registry database (SQLite or PostgreSQL URL)"),
        Setting("ENCLAVE_DB_BUSY_TIMEOUT", "`30`", "seconds a SQLite writer waits for the lock"),
        Setting("ENCLAVE_PROJECTS_DIR", "`./projects`", "manifests `<slug>.toml`, data `<slug>/extracts`, `<slug>/workspace`"),
        Setting("ENCLAVE_SOURCES_DIR", "unset", "the identifying source tables; only provisioning needs it"),
        Setting("ENCLAVE_ACTOR", "the OS user name", "who audit events say acted, for the command line"),
        Setting("ENCLAVE_ENV_FILE", "unset", "an environment file holding secrets: the hub keeps it private (0600) at start"),
    )),
    Group("Pseudonymizer", "enclave.settings, pseudonymizer", (
        Setting("ENCLAVE_CATALOG", "the synthetic catalog shipped with `pseudonymizer`",
                "the source catalog; the SNDS one is `pseudonymizer/catalogs/snds/catalog.toml`"),
        Setting("ENCLAVE_SCHEMAS_DIR", "unset: the catalog's own `schema_dir`",
                "the folder of the catalog's Table Schemas (the SNDS catalog needs it)"),
        Setting("ENCLAVE_NOMENCLATURES_DIR", "unset", "SNDS nomenclatures whose code labels go into each extract's data dictionary"),
        Setting("ENCLAVE_FICTIVE_WARN_PERCENT", "`5`",
                "`enclave catalog check` warns when a fictive flag makes more than this share of rows \"no one\""),
        Setting("ENCLAVE_MASTER_KEY_FILE", "unset", "a file holding the pseudonymisation master key (hex or base64; kept 0600)"),
        Setting("ENCLAVE_MASTER_KEY", "unset", "the master key itself, when no key file is given"),
        Setting("ENCLAVE_PROGRESS_SECONDS", "`10`", "seconds between two progress lines in logs"),
    )),
    Group("Audit log", "enclave.audit_config", (
        Setting("ENCLAVE_AUDIT_HEAD", "`<home>/audit.head`", "the audit log's anchor, kept outside the database"),
        Setting("ENCLAVE_AUDIT_KEY_FILE", "`audit.key` beside the head",
                "the audit key ring (made 0600 by the first event; refused if others may read it)"),
        Setting("ENCLAVE_AUDIT_ANCHORS", "`audit.anchors` beside the head", "append-only anchors of the head (time, seq, link) for ops to keep"),
        Setting("ENCLAVE_AUDIT_ANCHOR_INTERVAL", "`3600`", "seconds between two anchors (one is written after a commit once this has passed)"),
        Setting("ENCLAVE_AUDIT_NOTARY", "unset", "a command (given each anchor as JSON on stdin) or an http(s) URL (each anchor POSTed)"),
        Setting("ENCLAVE_AUDIT_RETENTION_DAYS", "`400`", "`enclave audit purge` removes events older than this (at least 365)"),
        Setting("ENCLAVE_WORKING_HOURS", "`Mon-Fri 08:00-19:00`", "Europe/Paris; `enclave audit report` lists access outside them"),
    )),
    Group("Login", "enclave.auth.settings", (
        Setting("ENCLAVE_OIDC_ISSUER", "required", "the identity provider's issuer URL (its `/.well-known/openid-configuration` is read)"),
        Setting("ENCLAVE_OIDC_CLIENT_ID", "required", "the hub's client registration at the provider"),
        Setting("ENCLAVE_OIDC_CLIENT_SECRET", "required", "the secret of that registration"),
        Setting("ENCLAVE_OIDC_CALLBACK_URL", "required", "`<public url>/hub/oauth_callback`, as registered at the provider"),
        Setting("ENCLAVE_OIDC_USERNAME_CLAIM", "`sub`", "the claim naming the user, matched to the registry"),
        Setting("ENCLAVE_OIDC_LOGOUT_URL", "unset", "where logout sends the browser (e.g. the provider's end-session page)"),
        Setting("ENCLAVE_TOTP_KEY", "required", "Fernet key encrypting TOTP secrets at rest (32 url-safe base64 bytes)"),
        Setting("ENCLAVE_TOTP_KEY_FILE", "unset",
                "a file holding that key, where a deployment keeps it in one: the hub refuses to start when others may read it"),
        Setting("ENCLAVE_SESSION_HOURS", "`8`", "lifetime of a login, hub and servers"),
        Setting("ENCLAVE_TOTP_MAX_FAILURES", "`5`", "wrong codes in a row that lock the second factor"),
        Setting("ENCLAVE_TOTP_LOCK_MINUTES", "`15`", "how long a locked second factor refuses every code"),
    )),
    Group("Hub, proxy and ports", "enclave.settings, jupyterhub_config.py", (
        Setting("ENCLAVE_PUBLIC_URL", "`http://0.0.0.0:<proxy port>`",
                "where the hub's proxy listens for browsers; links the services return are built on it"),
        Setting("ENCLAVE_PROXY_PORT", "`8000`", "the proxy's public port (never reachable from enclave containers)"),
        Setting("ENCLAVE_PROXY_API_PORT", "`8001`", "the proxy's control API, on loopback only"),
        Setting("ENCLAVE_HUB_API_PORT", "`8081`", "the hub API, on loopback (enclave containers reach it only through the hub API gate)"),
        Setting("ENCLAVE_HUB_API_ENCLAVE_PORT", "`10107`", "the hub API gate, for enclave containers (at their gateway)"),
        Setting("ENCLAVE_SEAL_PORT", "`10102`", "the seal between the proxy and enclave servers, on loopback"),
        Setting("ENCLAVE_SEAL_MAX_REQUEST_MIB", "`64`", "the largest request body or browser websocket message the seal forwards (MiB; streamed)"),
        Setting("ENCLAVE_EGRESS_PORT", "`10101`", "the egress gate's pages and API, on loopback (reached through the proxy)"),
        Setting("ENCLAVE_EGRESS_ENCLAVE_PORT", "`10103`", "the egress gate's submission API for enclave containers (at their gateway)"),
        Setting("ENCLAVE_PORTAL_PORT", "`10104`", "the portal's loopback port (reached through the proxy)"),
        Setting("ENCLAVE_TOOLS_ENCLAVE_PORT", "`10105`", "the project tools (git remote, package index) for enclave containers (at their gateway)"),
        Setting("ENCLAVE_USAGE_PORT", "`10106`", "the usage service (metering and its pages), on loopback (reached through the proxy)"),
    )),
    Group("Branding", "enclave.branding (the hub and every service, through the shell)", (
        Setting("ENCLAVE_BRAND_NAME", "`Enclave`", "the deployment's name, in every page's header and title"),
        Setting("ENCLAVE_BRAND_LOGO", "unset: the name alone", "a PNG or SVG file shown before the name (the hub serves it at `/hub/logo`)"),
        Setting("ENCLAVE_BRAND_COLOUR", "`#1d3f6e`", "the header's colour, `#rrggbb`; refused if white text on it is under 4.5:1 (WCAG AA)"),
        Setting("ENCLAVE_SUPPORT_CONTACT", "`the platform's operators`",
                "whom people are told to ask, in every footer and error page (an address or a sentence)"),
    )),
    Group("Servers", "enclave.settings, spawner_config", (
        Setting("ENCLAVE_BACKEND", "`docker`", "`docker`: servers as containers on this host; `swarm`: as Swarm services"),
        Setting("ENCLAVE_HUB_CONTAINER", "this host name", "the hub's container, attached to each project's overlay (Swarm backend)"),
        Setting("ENCLAVE_NOTEBOOK_IMAGE", "`enclave/notebook:latest`", "the researchers' image (\"slim\", the default)"),
        Setting("ENCLAVE_NOTEBOOK_STACK_IMAGE", "`enclave/notebook-stack:latest`", "the image of projects whose manifest says `image = \"stack\"`"),
        Setting("ENCLAVE_IDLE_TIMEOUT", "`3600`", "seconds without activity before a server is stopped"),
        Setting("ENCLAVE_SPAWN_TIMEOUT", "`120`", "seconds a server may take to start and answer"),
        Setting("ENCLAVE_RECONCILE_INTERVAL", "`60`", "seconds between the reconciler's passes"),
        Setting("ENCLAVE_ALARM_HITS", "`3`", "content alarms of one member in one project that suspend them there"),
        Setting("ENCLAVE_ALARM_WINDOW", "`600`", "seconds within which those alarms count"),
    )),
    Group("Egress gate", "egress_gate.service.config, egress_gate.check_worker", (
        Setting("ENCLAVE_EGRESS_DIR", "`<home>/egress`", "`quarantine/`, `releases/`, `work/`, `cookie_secret`"),
        Setting("ENCLAVE_EGRESS_PREVIEW_ROWS", "`200`", "rows shown in a preview"),
        Setting("ENCLAVE_EGRESS_CHECK_SECONDS", "`60`", "wall-clock budget of one output's disclosure checks"),
        Setting("ENCLAVE_EGRESS_CHECK_MEMORY_MB", "`2048`", "address-space budget of one output's disclosure checks"),
    )),
    Group("Portal", "portal.config", (
        Setting("ENCLAVE_PORTAL_DIR", "`<home>/portal`", "`decisions/` (the authority's documents), `cookie_secret`"),
        Setting("ENCLAVE_PORTAL_DATASETS", "`portal/datasets.toml`", "producers and coverage of the catalog's datasets"),
        Setting("ENCLAVE_COMMITTEE_FAVOURABLE", "`2`", "favourable committee opinions that approve a request"),
    )),
    Group("Import airlock", "airlock.config", (
        Setting("ENCLAVE_CLAMAV_DB", "`/var/lib/clamav`", "ClamAV's signature folder (none is downloaded here: the scan says so)"),
        Setting("ENCLAVE_IMPORT_MAX_RATIO", "`100`", "an archive unpacking to more than this many times its size is a bomb"),
        Setting("ENCLAVE_IMPORT_MAX_UNPACKED_MB", "`4096`", "an archive unpacking to more than this is refused"),
        Setting("ENCLAVE_IMPORT_SCAN_SECONDS", "`900`", "wall-clock budget of one file's scan (the worker is killed past it)"),
        Setting("ENCLAVE_IMPORT_SCAN_MEMORY_MB", "`2048`", "address-space budget of one file's scan"),
    )),
    Group("Metering", "metering", (
        Setting("ENCLAVE_METER_INTERVAL", "`60`", "seconds between two readings of the enclaves' counters"),
        Setting("ENCLAVE_METER_STORAGE_INTERVAL", "`3600`", "seconds between two measurements of a project's storage"),
        Setting("ENCLAVE_TARIFFS_DIR", "`tariffs/` of this checkout", "the versioned tariff files"),
        Setting("ENCLAVE_BUDGET_WARN_PERCENT", "`80`", "share of a project's monthly budget at which its team is warned"),
    )),
    Group("Inside a server (set by Enclave, read by the image's helpers)", "spawner_config, images/python", (
        Setting("ENCLAVE_PROJECT", "the server's project", "the project's slug, for `enclave-export`"),
        Setting("ENCLAVE_EGRESS_URL", "the gate at the container's gateway", "where `enclave-export` submits"),
        Setting("ENCLAVE_TOOLS_URL", "the project tools at the gateway", "the project's package index (`enclave-package`)"),
        Setting("ENCLAVE_GIT_URL", "the project tools at the gateway", "the project's git remote"),
        Setting("ENCLAVE_DATA_DIR", "`/home/jovyan/data`", "the project's extracts, read-only"),
        Setting("ENCLAVE_WORK_DIR", "`/home/jovyan/work`", "the project's shared workspace"),
        Setting("ENCLAVE_UNAVAILABLE_LANGUAGE", "`Julia`", "the language a placeholder kernel explains is not in this build"),
        Setting("ENCLAVE_UNAVAILABLE_NOTE", "unset", "what there is instead, shown by that kernel"),
    )),
)


def settings() -> tuple[Setting, ...]:
    """Every setting, in the reference's order."""
    return tuple(setting for group in GROUPS for setting in group.settings)


def names() -> frozenset[str]:
    return frozenset(setting.name for setting in settings())


def reference() -> str:
    """``docs/configuration.md``, generated."""
    lines = ["# Configuration", "", "[Back to the README](../README.md)", "",
             "Every environment variable Enclave reads. Generated from `enclave/configuration.py` by",
             "`enclave config reference --write`; a test fails when this page and the code disagree.", ""]
    for group in GROUPS:
        lines += [f"## {group.title}", "", f"Read by `{group.read_by}`.", "",
                  "| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{s.name}` | {s.default} | {s.meaning} |" for s in group.settings]
        lines.append("")
    return "\n".join(lines)


def names_in_source(root: Path = ROOT, sources: tuple[str, ...] = SOURCES) -> dict[str, Path]:
    """Every ``ENCLAVE_*`` name the shipped code mentions, with the first file that does."""
    found: dict[str, Path] = {}
    for entry in sources:
        base = root / entry
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if path.suffix not in SOURCE_SUFFIXES and not path.name.startswith(("Dockerfile", "Makefile")):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for match in NAME.finditer(text):
                found.setdefault(match.group(), path)
    return found


def disagreements(root: Path = ROOT, sources: tuple[str, ...] = SOURCES) -> list[str]:
    """What the table and the code disagree on: names read but not listed, names listed but never read."""
    in_code = names_in_source(root, sources)
    listed = names()
    problems = [f"{name} is read in {path.relative_to(root)} but not listed in enclave/configuration.py"
                for name, path in sorted(in_code.items()) if name not in listed]
    problems += [f"{name} is listed in enclave/configuration.py but no shipped file reads it"
                 for name in sorted(listed - in_code.keys())]
    return problems
