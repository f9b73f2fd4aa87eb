"""Where the audit log keeps what the registry must not hold: its head, key ring and anchors.

Every process that appends events (the CLI, the hub, each hub service) must find the same key
ring, so the locations follow one rule, here: ``ENCLAVE_AUDIT_KEY_FILE`` and
``ENCLAVE_AUDIT_ANCHORS`` when set, else ``audit.key`` and ``audit.anchors`` beside the head file.
:class:`enclave.settings.Settings` reads these variables once (``Settings.audit_config``); a
session opened with only the head path (``session_scope(engine, settings.audit_head)``) resolves
them from the process environment with the same rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from enclave.errors import EnclaveError

DEFAULT_ANCHOR_INTERVAL = 3600
NOTARY_TIMEOUT = 10  # seconds a notary command or URL may take; an anchor is written either way


@dataclass(frozen=True)
class AuditConfig:
    """The audit log's files outside the database, and how often its head is anchored."""

    head: Path
    key_file: Path
    anchors: Path
    anchor_interval: int = DEFAULT_ANCHOR_INTERVAL
    notary: str | None = None  # a command (given the anchor as JSON on stdin) or an http(s) URL (POSTed to)

    @classmethod
    def resolve(cls, head: Path, key_file: Path | None = None, anchors: Path | None = None,
                anchor_interval: int | None = None, notary: str | None = None) -> AuditConfig:
        return cls(head=head, key_file=key_file or head.parent / "audit.key",
                   anchors=anchors or head.parent / "audit.anchors",
                   anchor_interval=anchor_interval or DEFAULT_ANCHOR_INTERVAL, notary=notary or None)

    @classmethod
    def from_environ(cls, head: Path, environ: Mapping[str, str] | None = None) -> AuditConfig:
        env = os.environ if environ is None else environ
        return cls.resolve(head, *overrides(env))


def overrides(env: Mapping[str, str]) -> tuple[Path | None, Path | None, int | None, str | None]:
    """(key file, anchors file, anchor interval, notary) as the environment sets them (None: unset)."""

    def path(name: str) -> Path | None:
        return Path(env[name]).expanduser().absolute() if env.get(name) else None

    interval = env.get("ENCLAVE_AUDIT_ANCHOR_INTERVAL")
    if interval is not None and interval != "" and (not interval.isdigit() or int(interval) < 1):
        raise EnclaveError(f"ENCLAVE_AUDIT_ANCHOR_INTERVAL={interval!r} is not a number of seconds",
                           f"use a whole number above 0 (default {DEFAULT_ANCHOR_INTERVAL})")
    return (path("ENCLAVE_AUDIT_KEY_FILE"), path("ENCLAVE_AUDIT_ANCHORS"), int(interval) if interval else None,
            env.get("ENCLAVE_AUDIT_NOTARY") or None)
