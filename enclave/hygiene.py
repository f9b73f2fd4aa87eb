"""Host files that must stay private: the identifying sources, the keys (the audit key ring too), the registry and hub
databases, logs, the egress quarantine and the environment files holding secrets.

Each is owned by root and readable by its owner only (files 0600, folders 0700). The hub checks
them at start: it tightens what it may (databases, logs, its own state) and refuses to start,
naming the file, when a key or a source is readable by the group or the world — such a file may
already have been read, and an operator must look.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from enclave.errors import EnclaveError
from enclave.settings import Settings

log = logging.getLogger("enclave.hygiene")
KEY_VARIABLES = ("ENCLAVE_MASTER_KEY_FILE", "ENCLAVE_TOTP_KEY_FILE")


def secrets_of(settings: Settings, environ: dict[str, str] | None = None) -> list[Path]:
    """Files and folders that must never be readable by anyone but root, and that the hub must not
    silently fix: the sources and the keys."""
    env = os.environ if environ is None else environ
    found = [Path(env[name]) for name in KEY_VARIABLES if env.get(name)]
    found.append(settings.audit_config.key_file)
    if settings.sources_dir is not None:
        found.append(settings.sources_dir)
    return [p for p in found if p.exists()]


def private_state(settings: Settings, environ: dict[str, str] | None = None) -> list[Path]:
    """Files and folders the hub keeps private itself (tightened at start)."""
    env = os.environ if environ is None else environ
    home = settings.home
    candidates = [home / "jupyterhub.sqlite", home / "jupyterhub_cookie_secret", settings.audit_head,
                  settings.audit_config.anchors,
                  home / "egress", home / "seal", *home.glob("*.log"), *home.glob("*.pid")]
    if settings.db_url.startswith("sqlite:///"):
        database = Path(settings.db_url.removeprefix("sqlite:///"))
        candidates += [database, *database.parent.glob(database.name + "-*")]  # its journal, WAL and shared memory
    if env.get("ENCLAVE_ENV_FILE"):
        candidates.append(Path(env["ENCLAVE_ENV_FILE"]))
    return [p for p in dict.fromkeys(candidates) if p.exists()]


def _walk(path: Path):
    yield path
    if path.is_dir() and not path.is_symlink():
        for child in path.rglob("*"):
            if not child.is_symlink():
                yield child


def exposed(path: Path) -> list[Path]:
    """The files under ``path`` (itself included) that the group or the world may read or write."""
    return [p for p in _walk(path) if p.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]


def tighten(path: Path) -> int:
    """Make ``path`` (recursively) private: files 0600, folders 0700. How many modes changed."""
    changed = 0
    for p in _walk(path):
        mode = stat.S_IMODE(p.lstat().st_mode)
        wanted = 0o700 if p.is_dir() else 0o600 | (mode & 0o100)
        if mode != wanted:
            p.chmod(wanted)
            changed += 1
    return changed


def check_host_files(settings: Settings, environ: dict[str, str] | None = None) -> None:
    """At hub start: refuse if a key or source is exposed; tighten the hub's own private state."""
    for secret in secrets_of(settings, environ):
        bad = exposed(secret)
        if bad:
            raise EnclaveError(f"{bad[0]} is readable or writable by other users than its owner ({oct(bad[0].lstat().st_mode & 0o777)})",
                               f"check who may have read it, then: chmod -R go-rwx {secret}")
    for path in private_state(settings, environ):
        changed = tighten(path)
        if changed:
            log.warning("made %s private (%d file modes tightened)", path, changed)
