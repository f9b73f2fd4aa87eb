"""The audit log's anchors outside the registry: the head file and the anchors file (and a notary).

- The **head file** holds the newest (seq, link), rewritten after each commit: verification checks
  that the log ends exactly there (removing the last events leaves an intact chain otherwise).
- The **anchors file** is append-only, one JSON line per anchor ``{"at", "seq", "head", "key_id"}``,
  written after a commit once ``anchor_interval`` seconds have passed since the last one. Ops keep
  it (copy it away, or put it on write-once storage); each line pins the chain as it was then, so a
  log restored, truncated or rebuilt later disagrees with it.
- A **notary** (``ENCLAVE_AUDIT_NOTARY``, unset by default) receives each anchor: a command given
  the anchor as JSON on its standard input, or an http(s) URL it is POSTed to. Its answer (or
  failure) is kept on the anchor's line; a failing notary never stops the platform.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enclave.audit_config import NOTARY_TIMEOUT, AuditConfig
from enclave.durable import fsync_dir
from enclave.errors import EnclaveError


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield



def read_head(path: Path) -> tuple[int, str]:
    """The (seq, hash) stored in the head file ``path``."""
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnclaveError(f"audit head file {path} is unreadable ({exc})", "restore it from a copy, or "
                           "re-anchor with `enclave audit anchor` after checking the log") from None


def write_head(path: Path, seq: int, hash_: str, force: bool = False) -> None:
    """Atomically replace the head file, unless it already holds a later event (concurrent writers).

    ``force`` also writes an earlier one (re-anchoring).
    """
    with _locked(path):
        if not force and path.exists() and read_head(path)[0] >= seq:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps({"seq": seq, "hash": hash_}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)


def read_anchors(path: Path) -> list[dict[str, Any]]:
    """Every anchor of the anchors file, oldest first (none when it does not exist)."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            anchors.append({**entry, "seq": int(entry["seq"]), "head": str(entry["head"])})
        except (ValueError, KeyError, TypeError) as exc:
            raise EnclaveError(f"line {number} of the audit anchors file {path} is not an anchor ({exc})",
                               "restore the file from the copy ops keep") from None
    return anchors


def _last_line(path: Path) -> dict[str, Any] | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        return json.loads(fh.read().splitlines()[-1])


def append_anchor(config: AuditConfig, seq: int, head: str, key_id: str | None, force: bool = False,
                  now: datetime | None = None) -> dict[str, Any] | None:
    """Anchor (seq, head) if ``anchor_interval`` has passed since the last anchor (or ``force``).

    Returns the anchor written, or None when none was due.
    """
    now = now or datetime.now(UTC)
    with _locked(config.anchors):
        last = _last_line(config.anchors)
        if last is not None and int(last["seq"]) >= seq:
            return None
        if not force and last is not None and \
                (now - datetime.fromisoformat(last["at"])).total_seconds() < config.anchor_interval:
            return None
        entry: dict[str, Any] = {"at": now.isoformat(timespec="seconds"), "seq": seq, "head": head, "key_id": key_id}
        if config.notary:
            entry["notary"] = notarise(config.notary, entry)
        fd = os.open(config.anchors, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return entry


def notarise(notary: str, entry: dict[str, Any]) -> str:
    """Hand ``entry`` to the notary; its answer's first line, or why it failed (never raises)."""
    body = json.dumps(entry, sort_keys=True).encode("utf-8")
    try:
        if notary.startswith(("http://", "https://")):
            request = urllib.request.Request(notary, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=NOTARY_TIMEOUT) as response:  # noqa: S310 (ops' setting)
                answer = response.read(2000).decode("utf-8", "replace")
        else:
            done = subprocess.run(shlex.split(notary), input=body, capture_output=True, timeout=NOTARY_TIMEOUT,
                                  check=True)
            answer = done.stdout[:2000].decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"failed: {exc}"
    return "ok: " + (answer.strip().splitlines() or [""])[0]
