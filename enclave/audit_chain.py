"""How an audit event is linked to the one before it: the two schemes, and nothing else.

- **Unkeyed** (events written before the keyed chain, ``key_id`` NULL): ``hash`` is the SHA-256
  of the canonical JSON of the event's fields, ``prev_hash`` included (:func:`compute_hash`).
- **Keyed**: ``mac`` is an HMAC-SHA-256, with the key ``key_id`` names, of the canonical JSON of
  the event's own fields (``seq`` included, ``prev_hash`` not), so an edited event is named
  whatever happened to the links around it; ``hash`` (the link) is the HMAC of ``prev_hash``
  followed by ``mac``. Without the key ring neither can be recomputed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Protocol

from enclave.audit_key import AuditKey

GENESIS = "0" * 64  # prev_hash of the first event


class EventFields(Protocol):
    seq: int
    at: datetime
    actor: str
    action: str
    project: str | None
    details: dict[str, Any]
    prev_hash: str


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _fields(event: EventFields, seq: int) -> dict[str, Any]:
    return {"seq": seq, "at": event.at.isoformat(timespec="microseconds"), "actor": event.actor,
            "action": event.action, "project": event.project, "details": event.details}


def compute_hash(event: EventFields) -> str:
    """The unkeyed link: SHA-256 (hex) of the canonical JSON of every field but the hash."""
    return hashlib.sha256(_canonical({**_fields(event, event.seq), "prev_hash": event.prev_hash})).hexdigest()


def content_mac(key: AuditKey, event: EventFields, seq: int | None = None) -> str:
    """The keyed MAC of the event's content, as if it were event ``seq`` (default: its own)."""
    return key.mac(_canonical({**_fields(event, event.seq if seq is None else seq), "key_id": key.id}))


def keyed_link(key: AuditKey, prev_hash: str, mac: str) -> str:
    return key.mac(f"{prev_hash}:{mac}".encode("ascii"))
