"""The audit log for a SIEM: one line per event, in seq order, each checked against the key ring.

Two formats:

- ``ecs`` (primary): JSON lines in the Elastic Common Schema. Chosen over OCSF because the tools
  security teams here run take it as is (Elastic, OpenSearch and Wazuh ingest pipelines, Filebeat's
  ``ndjson`` input), its field set maps one to one onto an audit event (``user.name``,
  ``source.ip``, ``event.action``, ``event.outcome``, ``event.sequence``, ``labels``), and it needs
  no per-action class identifiers, which OCSF would ask of each of the ~70 actions.
- ``syslog``: RFC 5424 lines (facility 13, "log audit"; structured data ``enclave@32473`` — the
  documentation enterprise number of RFC 5612, to replace with the operator's own), for collectors
  that only read syslog.

Every line carries the event's seq, its link and whether it verified (its content MAC and its link
with the key, and its link to the event exported before it). A cursor file records the last seq
written, so a follower restarted where it stopped misses and repeats nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from enclave.audit_config import AuditConfig
from enclave.audit_key import Keyring
from enclave.audit_verify import rows, verified
from enclave.errors import EnclaveError
from enclave.models import AuditEvent

FORMATS = ("ecs", "syslog")
ECS_VERSION = "8.11.0"
SYSLOG_FACILITY = 13  # log audit
SD_ID = "enclave@32473"
# Denied requests, failed or locked logins, capped output and alarms; a steward's or ops' refusal of a
# request (egress.reject, package.refuse) is a decision that succeeded.
_FAILURE_SUFFIXES = (".refused", ".failure", ".locked", ".output_capped", ".alarm")
# The addresses events carry under one name or another (the seal, the gate and the tools record the caller's).
SOURCE_KEYS = ("source_ip", "remote_ip", "client_ip", "ip", "address")
_CATEGORIES: dict[str, tuple[list[str], list[str]]] = {
    "auth": (["authentication"], ["info"]),
    "user": (["iam"], ["user", "creation"]),
    "project": (["configuration"], ["change"]),
    "server": (["process"], ["info"]),
    "egress": (["file"], ["access"]),
    "seal": (["network", "web"], ["access"]),
    "tools": (["network"], ["access"]),
    "package": (["package"], ["change"]),
    "code": (["file"], ["change"]),
    "audit": (["configuration"], ["change"]),
    "db": (["database"], ["change"]),
}


def outcome(action: str) -> str:
    """ECS ``event.outcome``: what was refused, failed or locked, and alarms, are failures."""
    return "failure" if action.endswith(_FAILURE_SUFFIXES) else "success"


def source_address(details: dict[str, Any]) -> str | None:
    for key in SOURCE_KEYS:
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def ecs(row: Any, verified: bool) -> dict[str, Any]:
    """An event as an Elastic Common Schema document."""
    category, kind = _CATEGORIES.get(row.action.split(".", 1)[0], (["configuration"], ["info"]))
    document: dict[str, Any] = {
        "@timestamp": row.at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "ecs": {"version": ECS_VERSION},
        "message": f"{row.actor} {row.action}" + (f" in project {row.project}" if row.project else ""),
        "event": {"kind": "event", "module": "enclave", "dataset": "enclave.audit", "action": row.action,
                  "category": category, "type": [*kind, "denied"] if outcome(row.action) == "failure" else kind,
                  "outcome": outcome(row.action), "sequence": row.seq, "id": str(row.seq), "hash": row.hash},
        "user": {"name": row.actor},
        "enclave": {"project": row.project, "details": row.details,
                    "chain": {"seq": row.seq, "link": row.hash, "prev_link": row.prev_hash, "key_id": row.key_id,
                              "verified": verified}},
    }
    if row.project:
        document["labels"] = {"project": row.project}
    address = source_address(row.details)
    if address:
        document["source"] = {"ip": address, "address": address}
    return document


def _sd_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog(row: Any, verified: bool, hostname: str | None = None) -> str:
    """An event as one RFC 5424 line (no trailing newline)."""
    severity = 4 if outcome(row.action) == "failure" else 5  # warning / notice
    params = {"seq": row.seq, "actor": row.actor, "project": row.project or "-", "outcome": outcome(row.action),
              "src": source_address(row.details) or "-", "link": row.hash, "key": row.key_id or "-",
              "verified": str(verified).lower()}
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    timestamp = row.at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    message = json.dumps(row.details, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    host = (hostname or socket.gethostname() or "-")[:255]
    return (f"<{SYSLOG_FACILITY * 8 + severity}>1 {timestamp} {host} enclave - {row.action[:32]} {sd} "
            f"\ufeff{message}")


def formatter(name: str) -> Callable[[Any, bool], str]:
    if name == "ecs":
        return lambda row, ok: json.dumps(ecs(row, ok), ensure_ascii=False, sort_keys=True)
    if name == "syslog":
        host = socket.gethostname()
        return lambda row, ok: syslog(row, ok, host)
    raise EnclaveError(f"audit export format {name!r} is not known", f"use one of {', '.join(FORMATS)}")


def read_cursor(path: Path) -> int | None:
    """The last seq exported, from the cursor file (None when it does not exist yet)."""
    if not path.exists():
        return None
    text = path.read_text(encoding="ascii").strip()
    if not text.isdigit():
        raise EnclaveError(f"the export cursor file {path} holds {text[:40]!r}, not a seq",
                           "fix it (the last seq the SIEM received) or remove it to start from --since-seq")
    return int(text)


def write_cursor(path: Path, seq: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{seq}\n", encoding="ascii")
    os.replace(tmp, path)


def _batch(session: Session, ring: Keyring, since_seq: int, prev_link: str | None,
           limit: int) -> Iterator[tuple[Any, bool]]:
    return itertools.islice(verified(ring, rows(session, since_seq), prev_link), limit)


def export(engine: Engine, config: AuditConfig, out: TextIO, fmt: str, since_seq: int = 0,
           cursor: Path | None = None, follow: bool = False, poll: float = 1.0, warn: TextIO | None = None,
           batch: int = 1000, stop: threading.Event | None = None) -> int:
    """Write the events after ``since_seq`` (or after the cursor's) to ``out``; with ``follow``, keep
    going as events are written until ``stop`` is set (between two batches, so the cursor always
    names the last line handed over). Returns the last seq written (or ``since_seq``)."""
    stop = stop or threading.Event()
    render = formatter(fmt)
    last = read_cursor(cursor) if cursor else None
    last = since_seq if last is None else last
    prev_link: str | None = None
    while True:
        ring = Keyring.load(config.key_file)  # again each pass: a rotated key links the newer events
        with Session(engine) as session:
            first = session.scalar(select(func.min(AuditEvent.seq)))
            if first is not None and first > last + 1 and warn is not None:
                warn.write(f"events {last + 1}..{first - 1} were purged before they were exported\n")
            if prev_link is None and last >= 1:
                prev_link = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == last))
            written = 0
            for row, verified in _batch(session, ring, last, prev_link, batch):
                out.write(render(row, verified) + "\n")
                last, prev_link, written = row.seq, row.hash, written + 1
        if written:
            out.flush()
            if cursor:
                write_cursor(cursor, last)
        if stop.is_set() or (written < batch and not follow):
            return last
        if written < batch:
            stop.wait(poll)
