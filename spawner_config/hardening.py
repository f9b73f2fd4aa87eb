"""Is a started server really hardened? Checks of a Swarm service's spec, of a container's settings, of
the server's process as the kernel sees it (``/proc/1/status`` inside) and of what a process of the
researcher's uid can do to jupyter-server (:data:`PROBE`: ptrace and process_vm_readv must fail with
EPERM, the enclave's seccomp profile, :mod:`enclave.seccomp`), each returning what is wrong.

The Swarm backend asks for every hardening of the Docker backend, but by other means (some through
fields a Swarm version may ignore: it silently ignores no-new-privileges, for one). So every spawner
checks what it got after the start, from independent sides, and refuses to hand out a server for
which any list is not empty (:meth:`spawner_config.spawner.EnclaveSpawner.start_object`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

NO_NEW_PRIVS_COMMAND = ["setpriv", "--no-new-privs", "--"]
SECCOMP_FILTER = "2"  # /proc/<pid>/status: 0 none, 1 strict, 2 filter (Docker's default profile)


@dataclass(frozen=True)
class Hardening:
    """What one server's service must be: the user, limits, network and mounts the spawner asked for."""

    user: str
    network_id: str
    binds: dict[str, tuple[str, bool]]  # target: (source, read_only)
    tmpfs: frozenset[str]
    pids_limit: int
    mem_limit: int
    nano_cpus: int
    image: str
    secret_names: frozenset[str] = field(default_factory=frozenset)


def spec_problems(spec: dict, want: Hardening) -> list[str]:
    """What in a service's ``Spec`` falls short of ``want`` (``docker service inspect``)."""
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    found = []
    if container.get("User") != want.user:
        found.append(f"user is {container.get('User')!r}, not {want.user}")
    if not container.get("ReadOnly"):
        found.append("root filesystem is writable")
    if container.get("CapabilityDrop") != ["ALL"]:
        found.append(f"capabilities dropped: {container.get('CapabilityDrop')}, not ALL")
    if container.get("CapabilityAdd"):
        found.append(f"capabilities added: {container.get('CapabilityAdd')}")
    if container.get("Privileges"):
        found.append(f"privileges set: {container.get('Privileges')}")
    if (container.get("Command") or [])[:len(NO_NEW_PRIVS_COMMAND)] != NO_NEW_PRIVS_COMMAND:
        found.append(f"command {container.get('Command')} does not start with {' '.join(NO_NEW_PRIVS_COMMAND)}")
    if container.get("Image", "").split("@")[0] != want.image:
        found.append(f"image is {container.get('Image')!r}, not {want.image}")
    env = [item.partition("=")[0] for item in container.get("Env") or []]
    for name in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
        if name in env:
            found.append(f"{name} is in the service spec (readable by `docker service inspect`)")
    secrets = {s.get("SecretName") for s in container.get("Secrets") or []}
    if secrets != set(want.secret_names):
        found.append(f"secrets {sorted(secrets)}, not {sorted(want.secret_names)}")
    found += _mount_problems([(m.get("Type"), m.get("Source", ""), m.get("Target"), bool(m.get("ReadOnly"))) for m in container.get("Mounts") or []],
                             want)
    limits = (task.get("Resources") or {}).get("Limits") or {}
    for key, wanted in (("Pids", want.pids_limit), ("MemoryBytes", want.mem_limit), ("NanoCPUs", want.nano_cpus)):
        if limits.get(key) != wanted:
            found.append(f"limit {key} is {limits.get(key)}, not {wanted}")
    networks = [n.get("Target") for n in task.get("Networks") or []]
    if networks != [want.network_id]:
        found.append(f"networks {networks}, not only the project's overlay {want.network_id}")
    if ((spec.get("EndpointSpec") or {}).get("Ports")):
        found.append(f"ports published: {spec['EndpointSpec']['Ports']}")
    return found


def container_problems(attrs: dict, want: Hardening) -> list[str]:
    """What in the task's container (``docker inspect`` on its node) falls short of ``want``."""
    host = attrs.get("HostConfig") or {}
    found = []
    if not host.get("ReadonlyRootfs"):
        found.append("container: root filesystem is writable")
    if host.get("CapDrop") != ["ALL"] or host.get("CapAdd"):
        found.append(f"container: capabilities dropped {host.get('CapDrop')}, added {host.get('CapAdd')}")
    if host.get("Privileged"):
        found.append("container: privileged")
    if host.get("PidsLimit") != want.pids_limit:
        found.append(f"container: pids limit {host.get('PidsLimit')}, not {want.pids_limit}")
    if host.get("Memory") != want.mem_limit:
        found.append(f"container: memory limit {host.get('Memory')}, not {want.mem_limit}")
    for mode in ("NetworkMode", "PidMode", "IpcMode", "UsernsMode"):
        if host.get(mode) == "host":
            found.append(f"container: {mode} is host")
    found += [f"container: {p}" for p in _mount_problems(
        [(m.get("Type"), m.get("Source", ""), m.get("Destination"), not m.get("RW", True)) for m in attrs.get("Mounts") or []],
        want, secrets=True)]
    return found


def _mount_problems(mounts: list[tuple[str, str, str, bool]], want: Hardening, secrets: bool = False) -> list[str]:
    """Exactly the wanted binds (same source, same mode) and tmpfs; nothing else from the host."""
    found = []
    seen_binds = {target: (source, read_only) for kind, source, target, read_only in mounts if kind == "bind"}
    if secrets:  # the engine shows a service's secrets as read-only binds under /run/secrets
        seen_binds = {t: v for t, v in seen_binds.items() if not (t.startswith("/run/secrets/") and v[1])}
    if seen_binds != want.binds:
        found.append(f"bind mounts {seen_binds}, not {want.binds}")
    seen_tmpfs = {target for kind, _, target, _ in mounts if kind == "tmpfs"}
    if secrets and not seen_tmpfs:
        seen_tmpfs = set(want.tmpfs)  # an engine that lists tmpfs mounts only in HostConfig; the spec check has them
    if seen_tmpfs != set(want.tmpfs):
        found.append(f"tmpfs mounts {sorted(seen_tmpfs)}, not {sorted(want.tmpfs)}")
    others = sorted({kind for kind, *_ in mounts} - {"bind", "tmpfs"})
    if others:
        found.append(f"other mounts ({', '.join(others)})")
    return found


def status_problems(status: str, uid: int) -> list[str]:
    """What in ``/proc/1/status`` of the server's container shows a process that could gain privileges."""
    fields = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    found = []
    if fields.get("NoNewPrivs") != "1":
        found.append(f"process 1: NoNewPrivs is {fields.get('NoNewPrivs')!r}, not 1")
    for name in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        try:
            if int(fields.get(name, "x"), 16) != 0:
                found.append(f"process 1: {name} is {fields[name]}, not 0")
        except ValueError:
            found.append(f"process 1: no {name} in its status")
    if fields.get("Seccomp") != SECCOMP_FILTER:
        found.append(f"process 1: Seccomp is {fields.get('Seccomp')!r}, not filtering ({SECCOMP_FILTER})")
    uids = fields.get("Uid", "").split()
    if not uids or any(u != str(uid) for u in uids):
        found.append(f"process 1: uids {uids}, not {uid}")
    return found


# Run in a started server's container as its user. Two questions: is the enclave's seccomp profile in
# force — ptrace and process_vm_readv on a process of the same uid that lets itself be traced (the
# probe's own child) must fail with EPERM — and is jupyter-server closed to that uid: non-dumpable
# (enclave.seccomp.SERVER_COMMAND), so that its /proc/<pid>/mem (an open(), which seccomp cannot see)
# and ptrace are refused. The server is waited for (up to WAIT seconds) until it has made itself
# non-dumpable: its /proc/<pid>/mem then belongs to root. PTRACE_SEIZE attaches without stopping.
PROBE = r"""
import ctypes, json, os, signal, sys, time
WAIT = 0 if sys.argv[1:] == ["--no-server"] else 20
libc = ctypes.CDLL(None, use_errno=True)

class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

def errno_of(result, ok):
    return 0 if result == ok else ctypes.get_errno()

def filters(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Seccomp_filters:"):
            return int(line.split()[1])
    return -1

def server():
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, os.getpid()):
            try:
                command = open(f"/proc/{name}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if command[0].endswith(b"python3") and b"jupyterhub-singleuser" in command:
                return int(name)
    return 0

child = os.fork()
if child == 0:
    time.sleep(WAIT + 10)
    os._exit(0)
ctypes.set_errno(0)
ptrace = errno_of(libc.ptrace(0x4206, child, 0, 0), 0)
address = int(open(f"/proc/{child}/maps").readline().split("-")[0], 16)
buf = ctypes.create_string_buffer(1)
local, remote = IOVec(ctypes.addressof(buf), 1), IOVec(address, 1)
ctypes.set_errno(0)
vm = errno_of(libc.process_vm_readv(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0), 1)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
deadline, pid = time.monotonic() + WAIT, 0
while time.monotonic() < deadline:
    pid = server()
    try:
        if pid and os.stat(f"/proc/{pid}/mem").st_uid == 0:
            break
    except OSError:
        pass
    time.sleep(0.05)
try:
    open(f"/proc/{pid}/mem", "rb").close() if pid else None
    memory = 0 if pid else -1
except OSError as error:
    memory = error.errno
ctypes.set_errno(0)
server_ptrace = errno_of(libc.ptrace(0x4206, pid, 0, 0), 0) if pid else -1
print(json.dumps({"ptrace": ptrace, "process_vm_readv": vm, "server": pid, "server_memory": memory,
                  "server_ptrace": server_ptrace, "filters": filters("self"), "server_filters": filters(pid) if pid else -1}))
"""
PROBE_COMMAND = ["python3", "-c", PROBE]
EPERM = 1


def probe_problems(output: str, filter_in_entry_point: bool = False) -> list[str]:
    """What the :data:`PROBE`'s output shows: the seccomp profile not in force, jupyter-server open to its uid.

    ``filter_in_entry_point``: the enclave's denials are a filter the server's entry point installed (Swarm),
    which the probe, exec'd beside the server's tree rather than in it, does not have: the server must then
    carry one filter more than the probe (Docker's default and the entry point's), instead of the probe's
    own calls failing."""
    try:
        seen = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [f"the ptrace probe gave no answer: {output.strip()[-300:]!r}"]
    if filter_in_entry_point:
        found = [] if seen.get("server_filters", -1) > seen.get("filters", 0) > 0 else [
            f"jupyter-server runs without the entry point's seccomp filter (its filters: {seen.get('server_filters')}, "
            f"an exec'd process's: {seen.get('filters')})"]
    else:
        found = [f"{call} on a process of the same uid {'allowed' if seen.get(call) == 0 else f'gave errno {seen.get(call)}'}, "
                 "not refused with EPERM: the enclave's seccomp profile is not in force"
                 for call in ("ptrace", "process_vm_readv") if seen.get(call) != EPERM]
    if not seen.get("server"):
        found.append("no jupyterhub-singleuser process (python3) found in the container")
    else:
        if seen.get("server_memory") == 0:
            found.append(f"jupyter-server's memory (/proc/{seen['server']}/mem) is open to uid 1000: the server is not non-dumpable")
        if seen.get("server_ptrace") == 0:
            found.append(f"ptrace on jupyter-server (process {seen['server']}) is allowed")
    return found


def security_opt_problems(attrs: dict, wanted: list[str]) -> list[str]:
    """The container's ``SecurityOpt`` (``docker inspect``) holds each of ``wanted`` (no-new-privileges,
    the enclave's seccomp profile), and nothing that weakens them (``seccomp=unconfined``, another profile)."""
    seen = (attrs.get("HostConfig") or {}).get("SecurityOpt") or []
    found = []
    for option in wanted:
        if option not in seen:
            found.append(f"container: security option {option.split('=')[0]}{'=<the enclave profile>' if '=' in option else ''} "
                         "is missing")
    extra = [option.split("=")[0] + ("=..." if "=" in option else "") for option in seen if option not in wanted]
    if extra:
        found.append(f"container: other security options {extra}")
    return found
