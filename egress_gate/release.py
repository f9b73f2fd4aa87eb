"""The release store and its hash-chained ledger: what left the enclave, on whose decisions.

Why: invariant 3 says a file leaves only as the bytes the stewards approved; the ledger is the
proof afterwards. Each release copies the bytes to ``root/<request_id>/<name>`` (mode 0400) and
appends one line to ``root/ledger.jsonl``: the request, each file's name, SHA-256 and size, the
findings, the decisions, the policy version and the release record (rules, tool versions, check
results, votes, provenance: :mod:`egress_gate.release_record`), plus ``prev_hash`` (the previous entry's hash)
and ``hash`` (SHA-256 of the canonical JSON of every other field). Editing, deleting,
inserting or reordering an entry breaks the chain; truncating the tail is caught by the head
file ``root/ledger.head`` (written with the audit log's :func:`enclave.audit.write_head`),
which :meth:`ReleaseStore.verify_ledger` checks the ledger ends at.

Order of a release, under a lock: the files are staged in a hidden directory, the ledger line is
appended and synced, then the directory is renamed into place. A crash leaves either nothing
visible, or a ledger entry whose staged files can be published again from the recorded hashes —
never a released file without its ledger entry.

As with the audit log, the hash is unkeyed: whoever can rewrite both the ledger and the head
file can forge a consistent ledger. Keep a copy of the head elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from enclave.audit import read_head, write_head
from enclave.audit_chain import GENESIS
from enclave.durable import fsync_dir
from enclave.errors import EnclaveError

from .errors import EgressError

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    at: str
    request_id: str
    files: list[dict]  # [{"name", "sha256", "size"}]
    findings: list[dict]
    decisions: list[dict]
    policy_version: str
    prev_hash: str
    hash: str
    record: dict | None = None  # egress_gate.release_record.build; absent from entries written before it

    def fields(self) -> dict[str, Any]:
        """Every field but ``hash``: what the hash covers (``record`` only when present, so older entries verify)."""
        return {"seq": self.seq, "at": self.at, "request_id": self.request_id, "files": self.files,
                "findings": self.findings, "decisions": self.decisions, "policy_version": self.policy_version,
                "prev_hash": self.prev_hash, **({"record": self.record} if self.record is not None else {})}

    def to_line(self) -> str:
        return canonical({**self.fields(), "hash": self.hash}) + "\n"


@dataclass(frozen=True)
class LedgerCheck:
    """The outcome of :meth:`ReleaseStore.verify_ledger`; ``problem`` is None when the ledger is intact.

    ``first_bad_seq`` is the sequence number of the first bad entry (its line number, 1-based,
    when the entry cannot be read), None when the problem is the head file itself.
    """

    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"release ledger OK: {self.entries} entries"
        where = f" at entry {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"release ledger BROKEN{where}: {self.problem}"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


class ReleaseStore:
    """Released files under ``root`` (created 0700 when missing), and their ledger."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ledger = self.root / "ledger.jsonl"
        self.head = self.root / "ledger.head"

    def release(self, request_id: str, files: list[tuple[str, str, bytes]], findings: list[dict],
                decisions: list[dict], policy_version: str, record: dict | None = None) -> LedgerEntry:
        """Release ``files`` (name, sha256, bytes) of ``request_id``; refuses bytes that are not the hashed ones."""
        _check_name(request_id, "request id")
        if not files:
            raise EgressError(f"request {request_id}: nothing to release (no files)")
        names = [name for name, _, _ in files]
        for name, sha, data in files:
            _check_name(name, "file name")
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                raise EgressError(f"request {request_id}: {name} hashes to {actual[:12]}…, not the approved "
                                  f"{str(sha)[:12]}…", "release only the approved (or anonymised) bytes")
        if len(set(names)) != len(names):
            raise EgressError(f"request {request_id}: a file name appears twice ({', '.join(names)})")
        findings_j, decisions_j = _json(findings, "findings"), _json(decisions, "decisions")
        record_j = _json(record, "record") if record is not None else None
        final = self.root / request_id
        with open(self.root / "ledger.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if final.exists():
                raise EgressError(f"request {request_id}: already released ({final} exists)")
            seq, prev = self._tail()
            stage = self.root / f".stage-{request_id}-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(mode=0o700)
            recorded = False
            try:
                for name, _, data in files:
                    _write_private(stage / name, data)
                fsync_dir(stage)
                at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
                listed = [{"name": n, "sha256": s, "size": len(d)} for n, s, d in files]
                fields = {"seq": seq + 1, "at": at, "request_id": request_id, "files": listed,
                          "findings": findings_j, "decisions": decisions_j, "policy_version": str(policy_version),
                          "prev_hash": prev, **({"record": record_j} if record_j is not None else {})}
                entry = LedgerEntry(**fields, hash=entry_hash(fields))
                with open(self.ledger, "a", encoding="utf-8") as out:
                    out.write(entry.to_line())
                    out.flush()
                    os.fsync(out.fileno())
                recorded = True
                write_head(self.head, entry.seq, entry.hash)
                os.rename(stage, final)
                fsync_dir(self.root)
            except BaseException:
                if not recorded:  # once in the ledger, the staged bytes are kept to publish again
                    shutil.rmtree(stage, ignore_errors=True)
                raise
        return entry

    def read(self, request_id: str, name: str) -> bytes:
        """A released file's bytes, checked against the hash its ledger entry records."""
        _check_name(request_id, "request id")
        _check_name(name, "file name")
        recorded = next((f["sha256"] for e in self.entries() if e.request_id == request_id
                         for f in e.files if f["name"] == name), None)
        if recorded is None:
            raise EgressError(f"request {request_id}: {name} was never released (not in the ledger)")
        path = self.root / request_id / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EgressError(f"released file {path} cannot be read ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != recorded:
            raise EgressError(f"released file {path} does not match the hash in the ledger (tampered or corrupt)")
        return data

    def entries(self) -> list[LedgerEntry]:
        """Every ledger entry as written (unchecked: see :meth:`verify_ledger`)."""
        if not self.ledger.exists():
            return []
        out = []
        for line in self.ledger.read_text(encoding="utf-8").splitlines():
            try:
                out.append(LedgerEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out

    def verify_ledger(self) -> LedgerCheck:
        """Check every entry's hash and link, then that the ledger ends at the head file; name the first bad one."""
        lines = self.ledger.read_bytes().split(b"\n") if self.ledger.exists() else [b""]
        if lines[-1] != b"":
            return LedgerCheck(len(lines) - 1, len(lines), "the last line is incomplete (a crash while writing, "
                               "or a truncated file)")
        count, prev = 0, GENESIS
        for number, raw in enumerate(lines[:-1], start=1):
            try:
                entry = LedgerEntry(**json.loads(raw.decode("utf-8")))
            except (ValueError, TypeError):
                return LedgerCheck(count, count + 1, f"line {number} is not a ledger entry (edited or corrupt)")
            if entry.seq != count + 1:
                return LedgerCheck(count, count + 1, f"entry {count + 1} is missing or out of place: line {number} "
                                   f"holds entry {entry.seq} (deleted, inserted or reordered)")
            if entry_hash(entry.fields()) != entry.hash:
                return LedgerCheck(count, entry.seq, "its content does not match its hash (edited or forged)")
            if entry.prev_hash != prev:
                return LedgerCheck(count, entry.seq, f"it chains to {entry.prev_hash[:12]}…, but the entry before "
                                   f"it has hash {prev[:12]}… (an entry was edited, inserted or removed)")
            count, prev = entry.seq, entry.hash
        return self._check_head(count, prev)

    def _check_head(self, count: int, last_hash: str) -> LedgerCheck:
        if not self.head.exists():
            if count == 0:
                return LedgerCheck(0)
            return LedgerCheck(count, None, f"the head file {self.head} is missing, so truncation cannot be ruled out")
        try:
            head_seq, head_hash = read_head(self.head)
        except EnclaveError:
            return LedgerCheck(count, None, f"the head file {self.head} is unreadable")
        if head_seq > count:
            return LedgerCheck(count, count + 1, f"entries {count + 1}..{head_seq} are missing: the ledger ends at "
                               f"{count} but the head file records {head_seq} (truncated)")
        if head_seq < count:
            return LedgerCheck(count, head_seq + 1, f"entries {head_seq + 1}..{count} are past the head file "
                               "(appended behind the gate's back)")
        if head_hash != last_hash:
            return LedgerCheck(count, count, "its hash differs from the head file's (the ledger was rewritten)")
        return LedgerCheck(count)

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, after checking it against the head; refuses to append to a broken tail."""
        if not self.ledger.exists() or self.ledger.stat().st_size == 0:
            seq, last = 0, GENESIS
        else:
            with open(self.ledger, "rb") as fh:
                fh.seek(max(0, self.ledger.stat().st_size - (1 << 20)))
                raw = fh.read()
            try:
                entry = LedgerEntry(**json.loads(raw.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("utf-8")))
                ok = raw.endswith(b"\n") and entry_hash(entry.fields()) == entry.hash
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise EgressError(f"the release ledger {self.ledger} ends with a damaged entry",
                                  "run the ledger verification and repair it before releasing")
            seq, last = entry.seq, entry.hash
        if seq or self.head.exists():
            try:
                head = read_head(self.head)
            except EnclaveError:
                head = None
            if head != (seq, last):
                raise EgressError(f"the release ledger {self.ledger} does not end at its head file {self.head}",
                                  "run the ledger verification before releasing")
        return seq, last


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _SAFE.fullmatch(name) or ".." in name:
        raise EgressError(f"{what} {name!r} is not allowed", "use letters, digits, '.', '_' and '-', not starting with '.'")


def _json(value: Any, what: str) -> Any:
    try:
        return json.loads(canonical(value))
    except (TypeError, ValueError) as exc:
        raise EgressError(f"the {what} to record are not plain JSON ({exc})", "pass Finding.to_dict() values") from None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o400)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())

