"""Atomic publication of a finished extract folder: readers see the old one or the new one, whole."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from .errors import PseudonymizerError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the kernel or fs cannot."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


@contextlib.contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A private folder beside `out_dir`; on success it replaces `out_dir` atomically.

    On any failure the folder is removed and `out_dir` is left exactly as it was. A lock keeps two
    runs from publishing the same folder at once.
    """
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    lock = _take_lock(lock_path, out_dir)
    try:
        for stale in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a crashed run; never published
        work = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:12]}"
        work.mkdir()
        try:
            yield work
            _fsync_tree(work)
            publish(work, out_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # while still held: a run waiting on the old file retries on a new one
        lock.close()


def _take_lock(lock_path: Path, out_dir: Path):
    """An exclusive lock on `lock_path`, the file that is there now (not one removed meanwhile)."""
    while True:
        lock = open(lock_path, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise PseudonymizerError(
                f"another run is writing {out_dir} right now", "wait for it to finish, then run again"
            ) from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(lock.fileno()).st_ino:
                return lock
        except FileNotFoundError:
            pass
        lock.close()


def publish(work: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(work, out_dir)
    elif not _exchange(work, out_dir):
        previous = out_dir.parent / f".{out_dir.name}.previous-{uuid.uuid4().hex[:12]}"
        os.rename(out_dir, previous)
        os.rename(work, out_dir)
        work = previous
    shutil.rmtree(work, ignore_errors=True)  # after an exchange, `work` holds the old extract
    _fsync_dir(out_dir.parent)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
