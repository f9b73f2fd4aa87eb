"""The audit log's key ring: the secrets that link keyed events, kept in a file, never in the registry.

One JSON object a line: ``{"id", "secret" (hex), "from_seq", "created"}``. A key links the events
from its ``from_seq`` until the next key's; rotating appends a key, so older events stay
verifiable. Someone who can write the database but not read this file cannot make a link that
verifies. The file is created 0600 (its folder 0700) and refused when the group or the world may
read or write it (as the hub's host-file checks refuse an exposed master key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from enclave.errors import EnclaveError


def key_id_of(secret: bytes) -> str:
    """A key's id: derived from the secret, so an id always names the same key."""
    return hmac.new(secret, b"enclave audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKey:
    id: str
    secret: bytes
    from_seq: int

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


_CACHE: dict[Path, tuple[tuple[int, int, int, int], Keyring]] = {}


@dataclass(frozen=True)
class Keyring:
    path: Path
    keys: tuple[AuditKey, ...]

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """The ring in ``path`` (empty when the file does not exist yet)."""
        if not path.exists():
            return cls(path, ())
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise EnclaveError(f"the audit key file {path} is readable or writable by other users than its owner "
                               f"({oct(mode & 0o777)})", f"check who may have read it, then: chmod 600 {path} "
                               "(and rotate the key: `enclave audit rotate-key`)")
        keys = []
        for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
            try:
                entry = json.loads(line)
                secret = bytes.fromhex(entry["secret"])
                key = AuditKey(str(entry["id"]), secret, int(entry["from_seq"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise EnclaveError(f"line {number} of the audit key file {path} is not a key ({exc})",
                                   "restore the file from its copy") from None
            if key_id_of(secret) != key.id:
                raise EnclaveError(f"line {number} of the audit key file {path}: id {key.id} does not match its secret",
                                   "restore the file from its copy")
            keys.append(key)
        return cls(path, tuple(sorted(keys, key=lambda k: k.from_seq)))

    @classmethod
    def current(cls, path: Path) -> Keyring:
        """:meth:`load`, reusing the last reading while the file is the same (inode, size, mtime)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return cls(path, ())
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
        cached = _CACHE.get(path)
        if cached is None or cached[0] != stamp:
            cached = _CACHE[path] = (stamp, cls.load(path))
        return cached[1]

    def for_seq(self, seq: int) -> AuditKey | None:
        """The key that links event ``seq`` (None before the first key)."""
        found = None
        for key in self.keys:
            if key.from_seq <= seq:
                found = key
        return found

    def get(self, key_id: str) -> AuditKey | None:
        return next((k for k in self.keys if k.id == key_id), None)

    @property
    def keyed_from(self) -> int | None:
        """The first event the ring links: every event from it on must be keyed."""
        return self.keys[0].from_seq if self.keys else None

    def add(self, from_seq: int) -> AuditKey:
        """A new key linking the events from ``from_seq`` on, appended to the file (written whole, then renamed)."""
        if self.keys and from_seq <= self.keys[-1].from_seq:
            raise EnclaveError(f"a new audit key must start after event {self.keys[-1].from_seq}",
                               "rotate the key again once an event has been written")
        secret = secrets.token_bytes(32)
        key = AuditKey(key_id_of(secret), secret, from_seq)
        lines = self.path.read_text(encoding="ascii").splitlines() if self.path.exists() else []
        lines.append(json.dumps({"id": key.id, "secret": secret.hex(), "from_seq": from_seq,
                                 "created": datetime.now(UTC).isoformat(timespec="seconds")}))
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write("\n".join(lines) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        return key
