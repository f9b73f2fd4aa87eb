"""The quarantine: a content-addressed store of the exact bytes snapshotted at submission.

Why: a steward approves *bytes*, not a path (invariant 3). The workspace file may change after
submission; the request must not. So the bytes are copied once, read through the descriptor the
submission checks were made on, hashed *while* being copied (the bytes hashed are the bytes
stored), and filed under their SHA-256: ``root/sha256/ab/cdef…``. Files are mode 0400 and
directories 0700, so only the gate's user can read them; every read re-hashes, so a file altered
on disk is caught rather than released.

Writes go to a temporary name in the store then are renamed into place: a crash leaves no
half-written object under a real hash.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from enclave.durable import fsync_dir

from .errors import EgressError
from .submission import SubmittedFile

CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Quarantine:
    """The store under ``root`` (created 0700 when missing)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        _mkdir_private(self.root)
        _mkdir_private(self.root / "sha256")
        _mkdir_private(self.root / "tmp")

    def path(self, sha256: str) -> Path:
        """Where the object ``sha256`` lives (whether or not it exists)."""
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise EgressError(f"{sha256!r} is not a SHA-256 (64 lower-case hex digits)", "pass the hash the gate recorded")
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    def snapshot(self, source: int | SubmittedFile | Path | str, max_bytes: int | None = None) -> tuple[str, int]:
        """Copy the bytes of ``source`` into the store; return (sha256, size).

        ``source`` should be the open :class:`SubmittedFile` (or its descriptor): reading from it is
        what keeps a file swapped after the checks out of the request. A path is opened without
        following a final symlink, for the gate's own files only. ``max_bytes`` refuses a file
        that grew past the limit after it was checked.
        """
        if isinstance(source, SubmittedFile):
            return self._snapshot_fd(source.fd, str(source.path), max_bytes)
        if isinstance(source, int):
            return self._snapshot_fd(source, f"descriptor {source}", max_bytes)
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise EgressError(f"{source}: cannot be opened for the quarantine ({exc.strerror})") from None
        try:
            return self._snapshot_fd(fd, str(source), max_bytes)
        finally:
            os.close(fd)

    def _snapshot_fd(self, fd: int, shown: str, max_bytes: int | None) -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        tmp = self.root / "tmp" / f"{os.getpid()}.{os.urandom(8).hex()}"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                while True:
                    # pread from our own offset: the descriptor's position is not trusted or moved.
                    chunk = os.pread(fd, CHUNK, size)
                    if not chunk:
                        break
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise EgressError(f"{shown}: grew past the limit of {max_bytes} bytes while being "
                                          "snapshotted", "submit it again once it is complete")
                    digest.update(chunk)
                    _write_all(out, chunk)
                os.fchmod(out, 0o400)
                os.fsync(out)
            finally:
                os.close(out)
            sha = digest.hexdigest()
            final = self.path(sha)
            _mkdir_private(final.parent)
            if final.exists() and _hash_file(final) == sha:
                os.unlink(tmp)  # same bytes already held (and intact)
            else:
                os.replace(tmp, final)  # new, or replaces a damaged copy with the true bytes
                fsync_dir(final.parent)
            return sha, size
        except BaseException:
            if tmp.exists():
                os.unlink(tmp)
            raise

    def open(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``, re-hashed: EgressError when missing or tampered with."""
        path = self.path(sha256)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise EgressError(f"quarantined file {path} is missing", "the request cannot be reviewed; ask for a new submission") from None
        except OSError as exc:
            raise EgressError(f"quarantined file {path} cannot be read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise EgressError(f"quarantined file {path} does not match its hash (it hashes to {actual[:12]}…): "
                              "tampered with or corrupt", "do not release it; restore the quarantine from backup")
        return data

    def export(self, sha256: str, dest: Path | str) -> Path:
        """Write the verified bytes of ``sha256`` to ``dest`` atomically (e.g. under the original name,
        so checks and the anonymiser, which go by the extension, can read it)."""
        dest = Path(dest)
        data = self.open(sha256)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest


def _mkdir_private(path: Path) -> None:
    path.mkdir(mode=0o700, parents=False, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


