"""A container's cumulative counters, read straight from the kernel's cgroup files.

Much cheaper than ``docker stats`` (which makes the engine read the same files, then stream
JSON): a few small reads per container. Both cgroup layouts are read:

- v2 (unified): ``cpu.stat`` (``usage_usec``), ``memory.current``, ``memory.peak`` (Linux ≥ 5.19),
  ``memory.max``;
- v1 (and hybrid hosts, where the controllers are v1): ``cpuacct.usage`` (ns),
  ``memory.usage_in_bytes``, ``memory.max_usage_in_bytes``, ``memory.limit_in_bytes``.

Where a container's cgroup is comes from its first process (``/proc/<pid>/cgroup``) and the
host's cgroup mounts (``/proc/self/mountinfo``), so any cgroup driver or parent works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNLIMITED = 1 << 62  # v1 writes "no limit" as a huge page-aligned number


class CgroupGone(Exception):
    """The container's cgroup is no longer there (it stopped)."""


@dataclass(frozen=True)
class Counters:
    cpu_usec: int          # CPU time since the container started
    memory_bytes: int      # in use now (v1: includes page cache, as v2's memory.current does)
    memory_peak_bytes: int  # largest use since the container started (0 when the kernel does not say)
    memory_limit_bytes: int  # 0: no limit


@dataclass(frozen=True)
class CgroupFiles:
    """Where one container's counters are; found once per container, read at every sample."""

    cpu: Path
    cpu_v2: bool
    memory: Path | None
    memory_v2: bool

    def read(self) -> Counters:
        try:
            if self.cpu_v2:
                cpu_usec = _stat_field(self.cpu / "cpu.stat", "usage_usec")
            else:
                cpu_usec = _read_int(self.cpu / "cpuacct.usage") // 1000
            if self.memory is None:
                return Counters(cpu_usec, 0, 0, 0)
            if self.memory_v2:
                current = _read_int(self.memory / "memory.current")
                peak = _read_optional(self.memory / "memory.peak")
                limit = _read_limit(self.memory / "memory.max")
            else:
                current = _read_int(self.memory / "memory.usage_in_bytes")
                peak = _read_optional(self.memory / "memory.max_usage_in_bytes")
                limit = _read_limit(self.memory / "memory.limit_in_bytes")
        except (FileNotFoundError, ProcessLookupError, OSError) as exc:
            raise CgroupGone(str(exc)) from None
        return Counters(cpu_usec, current, max(peak, current), limit)


def _read_int(path: Path) -> int:
    return int(path.read_bytes())


def _read_optional(path: Path) -> int:
    try:
        return int(path.read_bytes())
    except FileNotFoundError:
        return 0


def _read_limit(path: Path) -> int:
    text = path.read_bytes().strip()
    if text == b"max":
        return 0
    value = int(text)
    return 0 if value >= UNLIMITED else value


def _stat_field(path: Path, name: str) -> int:
    key = name.encode() + b" "
    for line in path.read_bytes().splitlines():
        if line.startswith(key):
            return int(line[len(key):])
    raise FileNotFoundError(f"{path} has no {name}")


@dataclass(frozen=True)
class Mounts:
    """The host's cgroup mounts: the unified (v2) one, and v1 hierarchies by controller."""

    unified: Path | None
    v1: dict[str, Path]

    @classmethod
    def of_this_host(cls, mountinfo: Path = Path("/proc/self/mountinfo")) -> Mounts:
        unified, v1 = None, {}
        for line in mountinfo.read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 3:
                continue
            mount_point, fstype, options = Path(fields[4]), rest[0], rest[2]
            if fstype == "cgroup2":
                unified = mount_point
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in ("cpuacct", "memory"):
                        v1[option] = mount_point
        return cls(unified, v1)

    def files_of(self, pid: int) -> CgroupFiles:
        """The counter files of the cgroup process ``pid`` is in; :class:`CgroupGone` if it has exited."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError) as exc:
            raise CgroupGone(f"process {pid} has exited ({exc})") from None
        v1_paths, unified_path = {}, None
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                unified_path = path
            for controller in controllers.split(","):
                v1_paths[controller] = path
        v2 = self.unified / unified_path.lstrip("/") if self.unified and unified_path is not None else None
        if "cpuacct" in self.v1 and "cpuacct" in v1_paths:
            cpu, cpu_v2 = self.v1["cpuacct"] / v1_paths["cpuacct"].lstrip("/"), False
        elif v2 is not None and (v2 / "cpu.stat").exists():
            cpu, cpu_v2 = v2, True
        else:
            raise CgroupGone(f"no CPU accounting found for process {pid}")
        if "memory" in self.v1 and "memory" in v1_paths:
            memory, memory_v2 = self.v1["memory"] / v1_paths["memory"].lstrip("/"), False
        elif v2 is not None and (v2 / "memory.current").exists():
            memory, memory_v2 = v2, True
        else:
            memory, memory_v2 = None, False
        return CgroupFiles(cpu, cpu_v2, memory, memory_v2)
