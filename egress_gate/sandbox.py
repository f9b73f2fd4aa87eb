"""Shut the current process in: no network, a read-only filesystem, its own process tree, no privileges.

Why: a model file (a pickle) runs code when it is loaded, and a worker's rlimits only bound its
time and memory. :func:`enter` is called by the model worker once it has read its inputs into
memory and before any untrusted byte is parsed. After it returns the process:

- has its own network namespace, with only a loopback interface that is down: no connection
  leaves, not even to the host's loopback (the hub, the gate, PostgreSQL, a listener);
- has its own mount namespace in which every mount is read-only, with an empty private tmpfs on
  /tmp (the working folder: libraries want one) and /dev/shm, gone when the process ends;
- is PID 1 of its own PID namespace (with its own /proc): it sees and can signal no other
  process; its parent (outside) waits for it and exits with its status, and it is killed if that
  parent dies;
- has its own IPC and host-name namespaces;
- has no capabilities, an empty bounding set and ``no_new_privs``: it cannot remount, unshare,
  mount, trace, or regain privileges through exec or a set-uid program.

It keeps its uid (the gate's; often root: root-owned files are readable, but nothing is writable,
and without capabilities other users' private files are not). Not done: a seccomp filter on system
calls. Run as root, the namespaces are created directly; otherwise in a new user namespace (which the
kernel must allow: ``kernel.unprivileged_userns_clone``). When they cannot be created,
:class:`SandboxError` says why and the caller refuses to load the file.

Call it while the process has one thread: ``unshare`` of a mount namespace fails otherwise.
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = 126  # x86_64
_KEPT_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
                 "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
SCRATCH = "/tmp"


class SandboxError(RuntimeError):
    """The sandbox could not be set up: nothing untrusted may be loaded."""


_libc = ctypes.CDLL(None, use_errno=True)


def _call(what: str, result: int) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what} failed: {os.strerror(err)} (errno {err})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _call(f"mount {target}", _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)))


def enter(scratch_bytes: int = 256 * 1024 ** 2) -> None:
    """Move this process into the sandbox described above; returns in the sandboxed child only."""
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    _call("unshare (namespaces: run the gate as root or allow unprivileged user namespaces)",
          _libc.unshare(flags if uid == 0 else flags | CLONE_NEWUSER))
    if uid != 0:
        _map_ids(uid, gid)
    _enter_pid_namespace()
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _read_only_everywhere()
    for folder in (SCRATCH, "/dev/shm"):
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_bytes},mode=1777")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this namespace's processes only
    os.chdir(SCRATCH)
    _drop_privileges()


def _map_ids(uid: int, gid: int) -> None:
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"0 {gid} 1")


def _enter_pid_namespace() -> None:
    """Fork: the child is PID 1 of the new namespace and goes on; this process waits and exits with its status."""
    child = os.fork()
    if child == 0:
        _call("prctl(PR_SET_PDEATHSIG)", _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os.kill(child, signal.SIGKILL))
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _read_only_everywhere() -> None:
    """Remount every mount point read-only (keeping its nosuid/nodev/noexec: a user namespace may not drop them)."""
    with open("/proc/self/mountinfo") as fh:
        mounts = [(fields[4].replace("\\040", " "), fields[5]) for fields in (line.split() for line in fh)]
    for point, options in mounts:
        kept = sum(flag for name, flag in _KEPT_OPTIONS.items() if name in options.split(","))
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)
        except SandboxError:
            if point in ("/",) or not os.path.exists(point):
                raise
            # A mount hidden under another (listed, but not reachable by its path) fails here; the
            # one on top, remounted in its turn, is what the path reaches.
            if _writable(point):
                raise


def _writable(point: str) -> bool:
    return os.statvfs(point).f_flag & os.ST_RDONLY == 0


def _drop_privileges() -> None:
    """No capabilities now or after an exec, and no way to gain any."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _call(f"prctl(PR_CAPBSET_DROP, {cap})", _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
    _call("prctl(PR_SET_NO_NEW_PRIVS)", _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice (64 capability bits): all zero
    _call("capset", _libc.syscall(_SYS_CAPSET, header, data))
