"""Resolve a path a researcher names into one regular file inside the project workspace, or refuse.

Why so careful: the workspace is written by the researcher's container, so anything in it may be
a trap laid for the gate, which runs with more rights (it can read every workspace and the
quarantine). A path is therefore walked one component at a time from a directory descriptor with
``O_NOFOLLOW`` (openat semantics): no symlink is ever followed, and a component swapped for a
symlink between our check and our open is refused by the kernel rather than followed (no
time-of-check / time-of-use gap). The file finally opened is judged by ``fstat`` on that very
descriptor, and :class:`SubmittedFile` keeps the descriptor open so the quarantine snapshots the
bytes of the file we judged, whatever happens to the path afterwards.

Refused, each with its reason: an empty name, a NUL byte, an absolute path outside the
workspace, any ``..`` component (even one that would stay inside: it is never needed), a
symlink anywhere on the path, a directory, a FIFO, a socket, a device, a missing file, a file
with more than one hard link (a hard link cannot be told apart from its twin, which may live
outside the workspace, e.g. in another project), and a file over ``max_bytes``.

The workspace root itself is the gate's configuration, not the researcher's, and is trusted.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import EgressError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after our lstat must not hang the gate on open; O_NOCTTY: a tty
# swapped in must not become our controlling terminal. Neither matters for a regular file.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


@dataclass
class SubmittedFile:
    """An open, checked, regular file of a workspace. Close it (or use ``with``) when done.

    ``fd`` is the descriptor the checks were made on: snapshot from it, never from ``path``.
    """

    path: Path  # workspace / relative, for messages and display only
    relative: str  # the cleaned path inside the workspace, '/'-separated
    fd: int
    size: int
    device: int
    inode: int

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "SubmittedFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resolve_submission(workspace: Path, requested: str, max_bytes: int) -> Path:
    """The path of the regular file ``requested`` names inside ``workspace``; EgressError if refused.

    Only a verdict: the returned path may be changed by the researcher right after. To snapshot
    the file, use :func:`open_submission` and read from its descriptor.
    """
    with open_submission(workspace, requested, max_bytes) as submitted:
        return submitted.path


def open_submission(workspace: Path, requested: str, max_bytes: int) -> SubmittedFile:
    """Open the file ``requested`` names inside ``workspace`` without following any symlink, and check it."""
    workspace = Path(workspace)
    parts = _components(workspace, requested)
    shown = "/".join(parts)
    try:
        current = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise EgressError(f"workspace {workspace} cannot be opened ({exc.strerror})",
                          "check the project's workspace exists") from None
    try:
        for i, part in enumerate(parts[:-1]):
            where = "/".join(parts[: i + 1])
            _refuse_special(current, part, where, requested, directory=True)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise _open_error(exc, where, requested, directory=True) from None
            os.close(current)
            current = nxt
        _refuse_special(current, parts[-1], shown, requested, directory=False)
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=current)
        except OSError as exc:
            raise _open_error(exc, shown, requested, directory=False) from None
    finally:
        os.close(current)
    try:
        st = os.fstat(fd)
        _check_opened(st, shown, requested, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return SubmittedFile(workspace / shown, shown, fd, st.st_size, st.st_dev, st.st_ino)


def _components(workspace: Path, requested: str) -> list[str]:
    """The path's components relative to the workspace: refuses empty names, NULs, `..` and outside paths."""
    if not isinstance(requested, str) or not requested.strip():
        raise EgressError("egress request names no file (empty path)", "name a file in the project workspace")
    if "\0" in requested:
        raise EgressError(f"{requested!r}: a path cannot contain a NUL byte", "name a file in the project workspace")
    if os.path.isabs(requested):
        relative = None
        for root in {os.path.abspath(workspace), os.path.realpath(workspace)}:
            if requested.startswith(root.rstrip("/") + "/"):
                relative = requested[len(root.rstrip("/")) + 1:]
                break
        if relative is None:
            raise EgressError(f"{requested}: absolute path outside the project workspace {workspace}",
                              "only files inside the workspace can be submitted")
        requested_rel = relative
    else:
        requested_rel = requested
    raw = requested_rel.split("/")
    if ".." in raw:
        raise EgressError(f"{requested}: a '..' component may escape the project workspace",
                          "name the file by its path inside the workspace, without '..'")
    parts = [p for p in raw if p not in ("", ".")]
    if not parts:
        raise EgressError(f"{requested}: names the workspace itself, not a file", "name a file in the project workspace")
    return parts


def _refuse_special(dir_fd: int, name: str, where: str, requested: str, directory: bool) -> None:
    """Look before opening, so a device or FIFO is never opened at all; the open re-checks (O_NOFOLLOW, fstat)."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        raise EgressError(f"{requested}: {where} does not exist in the project workspace",
                          "check the path: the gate takes it relative to the workspace (~/work); enclave-export takes it "
                          "relative to your current folder, from ~, or absolute under the workspace") from None
    except OSError as exc:
        raise EgressError(f"{requested}: {where} cannot be examined ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise EgressError(f"{requested}: {where} is a symbolic link, and links are never followed",
                          "copy the file itself into the workspace and submit the copy")
    if directory:
        if not stat.S_ISDIR(st.st_mode):
            raise EgressError(f"{requested}: {where} is not a directory")
        return
    _check_type(st.st_mode, where, requested)


def _check_type(mode: int, where: str, requested: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file")
    hint = "submit the files inside it one by one" if stat.S_ISDIR(mode) else "only regular files can be submitted"
    raise EgressError(f"{requested}: {where} is {kind}", hint)


def _check_opened(st: os.stat_result, where: str, requested: str, max_bytes: int) -> None:
    _check_type(st.st_mode, where, requested)
    if st.st_nlink > 1:
        raise EgressError(f"{requested}: {where} has {st.st_nlink} hard links, and a hard link cannot be told "
                          "apart from its twin outside the workspace", "copy the file (cp) and submit the copy")
    if st.st_size > max_bytes:
        raise EgressError(f"{requested}: {where} is {st.st_size} bytes, over the limit of {max_bytes} bytes",
                          "aggregate or split the output")


def _open_error(exc: OSError, where: str, requested: str, directory: bool) -> EgressError:
    """The open failed after lstat passed: the path changed under us (or is unreadable)."""
    if exc.errno == errno.ELOOP or (directory and exc.errno == errno.ENOTDIR):
        return EgressError(f"{requested}: {where} became a symbolic link or other non-{'directory' if directory else 'file'}"
                           " while being opened, and links are never followed", "submit it again once it is stable")
    if exc.errno == errno.ENOENT:
        return EgressError(f"{requested}: {where} disappeared while being opened", "submit it again")
    return EgressError(f"{requested}: {where} cannot be opened ({exc.strerror})")


# --- what the web form offers ----------------------------------------------------------------------------

NOT_OFFERED_FOLDERS = frozenset({"lost+found", "__pycache__", "node_modules"})  # the filesystem's, tools' caches


def offered(name: str) -> bool:
    """Whether a file or folder name may be offered for a request: not hidden (``.git``,
    ``.ipynb_checkpoints``, ``.bash_history``...), not the filesystem's or a tool's own folder."""
    return not name.startswith(".") and name not in NOT_OFFERED_FOLDERS


# JupyterLab names a workspace file from the server's root (the workspace is ~/work): "work/a.csv".
WORKSPACE_IN_SERVER = "work/"


def preselected(requested: list[str], offered: list[str]) -> tuple[list[str], list[str]]:
    """(files ticked, paths ignored) of the new-request form for ``requested``, paths as JupyterLab
    names them (``work/<path in the workspace>``, its "Submit for export"): ticked only when the form
    offers exactly that file (:func:`offered_files`, the researcher's own workspace as the form lists
    it); any other path is ignored, and named back to the researcher."""
    offer, ticked, ignored = set(offered), [], []
    for path in dict.fromkeys(requested):  # once each, in order
        inner = path[len(WORKSPACE_IN_SERVER):] if path.startswith(WORKSPACE_IN_SERVER) else None
        if inner in offer:
            ticked.append(inner)
        elif path:
            ignored.append(path)
    return ticked, ignored


def offered_files(workspace: Path, allowed_types: tuple[str, ...], limit: int = 500) -> tuple[list[str], int]:
    """(files offered, how many others were left out) of a workspace, for the new-request form.

    Offered: regular files (no symlink on the way, none followed) that are not hidden nor in a
    hidden or tool folder, of a type the project's policy releases. The form only proposes; what
    is submitted is judged by :func:`open_submission` like any path."""
    from .tables import file_type  # the gate's one reading of a file's type

    root = Path(workspace)
    found: list[str] = []
    left_out = 0
    for folder, dirs, files in os.walk(root) if root.is_dir() else ():
        left_out += sum(1 for d in dirs if not offered(d))
        dirs[:] = sorted(d for d in dirs if offered(d) and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            path = Path(folder) / name
            if not offered(name) or path.is_symlink() or not path.is_file() or file_type(path) not in allowed_types:
                left_out += 1
            elif len(found) < limit:
                found.append(path.relative_to(root).as_posix())
    return sorted(found), left_out
