"""A project's shared workspace: a filesystem of its own with a hard size limit.

The workspace folder (``<project>/workspace``) is the mount point of an ext4 filesystem in a sparse
file beside it (``<project>/workspace.img``), loop-mounted ``nosuid,nodev``. A member who writes past
the quota gets ``ENOSPC`` inside the enclave; the host's disk holds at most the quota. The file grows
only with what is written. Provisioning creates it; the spawner makes sure it is mounted before each
start (after a host reboot, say); a larger quota in the manifest grows it (never shrinks).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from enclave.errors import EnclaveError

IMAGE_NAME = "workspace.img"
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime"
DEFAULT_QUOTA = 10 * 1024**3
def _run(*args: str) -> str:
    tool = shutil.which(args[0]) or (f"/usr/sbin/{args[0]}" if Path(f"/usr/sbin/{args[0]}").exists() else None)
    if tool is None:
        raise EnclaveError(f"{args[0]} is not installed: workspaces cannot get their quota",
                           "install e2fsprogs and util-linux (apt-get install e2fsprogs mount)")
    result = subprocess.run([tool, *args[1:]], capture_output=True, text=True)
    if result.returncode != 0:
        raise EnclaveError(f"{' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}",
                           "workspaces need root and loop devices (losetup -f)")
    return result.stdout


def image_of(workspace: Path) -> Path:
    return workspace.parent / IMAGE_NAME


def is_mounted(workspace: Path) -> bool:
    return os.path.ismount(workspace)


def ensure(workspace: Path, quota: int, uid: int, gid: int, mode: int) -> None:
    """Make ``workspace`` a mounted filesystem of ``quota`` bytes owned by ``uid:gid`` (idempotent).

    A workspace that predates quotas keeps its files: they are copied into the new filesystem."""
    image = image_of(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    if not image.exists():
        _create(image, quota)
    elif image.stat().st_size < quota:
        _grow(image, workspace, quota)
    if not is_mounted(workspace):
        if any(workspace.iterdir()):
            _adopt(image, workspace)
        _run("mount", "-o", MOUNT_OPTIONS, str(image), str(workspace))
    try:
        os.chown(workspace, uid, gid)
    except PermissionError:
        raise EnclaveError(f"cannot give {workspace} to the notebook user ({uid}:{gid})",
                           "provision as root (the operators' account)") from None
    workspace.chmod(mode)
    lost = workspace / "lost+found"
    if lost.is_dir() and not any(lost.iterdir()):
        lost.rmdir()


def _create(image: Path, quota: int) -> None:
    partial = image.with_name(image.name + ".partial")
    with open(partial, "wb") as fh:
        fh.truncate(quota)  # sparse: takes no space until written
    os.chmod(partial, 0o600)
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(partial))
    os.replace(partial, image)


def _grow(image: Path, workspace: Path, quota: int) -> None:
    with open(image, "r+b") as fh:
        fh.truncate(quota)
    if is_mounted(workspace):
        device = _run("findmnt", "-n", "-o", "SOURCE", "--target", str(workspace)).strip()
        _run("losetup", "-c", device)
        _run("resize2fs", device)
    else:
        _run("e2fsck", "-p", "-f", str(image))
        _run("resize2fs", str(image))


def _adopt(image: Path, workspace: Path) -> None:
    """Move the files of an unmounted workspace folder into its new filesystem."""
    with tempfile.TemporaryDirectory(dir=workspace.parent, prefix=".workspace-adopt-") as scratch:
        _run("mount", "-o", MOUNT_OPTIONS, str(image), scratch)
        try:
            _run("cp", "-a", f"{workspace}/.", scratch)
        finally:
            _run("umount", scratch)
    for child in workspace.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def release(workspace: Path) -> bool:
    """Unmount the workspace (its files stay in the image); True if it was mounted."""
    if not is_mounted(workspace):
        return False
    _run("umount", str(workspace))
    return True


def mounted_under(root: Path) -> list[Path]:
    """Workspace filesystems mounted below ``root`` (tests clean up with this)."""
    root = root.resolve()
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = Path(line.split()[1].replace("\\040", " "))
            if point.is_relative_to(root):
                found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)
