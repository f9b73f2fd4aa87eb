"""Turning counter readings into usage: per project, member and day, in the registry.

A pass lists the running enclave containers (one Docker API call), reads each one's cgroup
counters (:mod:`metering.cgroups`) and, in one transaction, adds to :class:`UsageDay` the
difference from the instance's stored reading (:class:`UsageCounter`), moving that reading
forward. So:

- a sampler (or hub) restart loses nothing: the next pass bills from the stored reading, and a
  container's first reading is billed from zero at its start time;
- nothing is counted twice: a reading no newer than the stored one is ignored, and the difference
  and the new reading commit together (the counter row is locked meanwhile);
- an interval that spans midnight is split across the days in proportion to its time;
- a server the hub stops is read once more by the spawner's stop hook (:func:`sample_container`),
  so its last interval is kept. A container that dies on its own loses at most one interval
  (``ENCLAVE_METER_INTERVAL``, default 60 s): its cgroup goes with it.

Memory in use is integrated with the trapezoid rule between readings (an estimate: what happened
between two samples is not seen); CPU time, running time and the limit's integral are exact.
Storage (file sizes under each project's workspace and extracts) is measured at most once per
``ENCLAVE_METER_STORAGE_INTERVAL`` (default 3600 s), keeping each day's largest measurement.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from enclave.layout import extracts_dir, workspace_dir
from enclave.models import Project, ProjectState
from enclave.networks import PROJECT_LABEL, USER_LABEL
from enclave.settings import Settings

from .cgroups import CgroupFiles, CgroupGone, Counters, Mounts
from .models import StorageDay, UsageCounter, UsageDay

log = logging.getLogger("metering.sampler")
KEEP_COUNTERS = timedelta(days=40)  # readings of instances gone this long are dropped (their usage stays)


@dataclass(frozen=True)
class Instance:
    """One run of one enclave container: its id and start time name it."""

    container_id: str
    started_at: datetime
    project: str
    username: str
    pid: int


@dataclass(frozen=True)
class Reading:
    instance: Instance
    at: datetime
    counters: Counters


@dataclass
class PassReport:
    read: int = 0
    recorded: int = 0
    gone: int = 0
    storage: int = 0
    errors: list[str] = field(default_factory=list)


def parse_docker_time(text: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, as an aware datetime (microseconds kept)."""
    main, _, rest = text.rstrip("Z").partition(".")
    fraction = (rest.split("+")[0].split("-")[0] + "000000")[:6]
    return datetime.fromisoformat(f"{main}.{fraction}").replace(tzinfo=UTC)


class ContainerFinder:
    """Lists the enclave containers and where their counters are; inspects each container once."""

    def __init__(self, docker_client, mounts: Mounts | None = None):
        self.api = docker_client.api
        self.mounts = mounts or Mounts.of_this_host()
        self._known: dict[str, tuple[Instance, CgroupFiles]] = {}

    def running(self) -> list[tuple[Instance, CgroupFiles]]:
        found = []
        listed = self.api.containers(filters={"label": [PROJECT_LABEL, USER_LABEL], "status": "running"})
        for summary in listed:
            known = self._known.get(summary["Id"])
            if known is None or not os.path.exists(f"/proc/{known[0].pid}"):
                try:
                    known = self._inspect(summary["Id"])
                except CgroupGone:
                    continue
                if known is None:
                    continue
                self._known[summary["Id"]] = known
            found.append(known)
        listed_ids = {s["Id"] for s in listed}
        for gone in set(self._known) - listed_ids:
            del self._known[gone]
        return found

    def one(self, container_id: str) -> tuple[Instance, CgroupFiles] | None:
        return self._inspect(container_id)

    def _inspect(self, container_id: str) -> tuple[Instance, CgroupFiles] | None:
        import docker.errors

        try:
            info = self.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        state, labels = info["State"], info["Config"].get("Labels") or {}
        if not state.get("Running") or not state.get("Pid") or PROJECT_LABEL not in labels or USER_LABEL not in labels:
            return None
        instance = Instance(info["Id"], parse_docker_time(state["StartedAt"]), labels[PROJECT_LABEL], labels[USER_LABEL],
                            state["Pid"])
        return instance, self.mounts.files_of(instance.pid)


def read_all(finder: ContainerFinder, report: PassReport) -> list[Reading]:
    readings = []
    for instance, files in finder.running():
        try:
            counters = files.read()
        except CgroupGone:
            report.gone += 1  # stopped since the listing: its last interval was read at stop, or is lost
            continue
        readings.append(Reading(instance, datetime.now(UTC), counters))
    report.read = len(readings)
    return readings


def record(session: Session, reading: Reading) -> bool:
    """Add what ``reading`` adds to the stored one of its instance; False if it adds nothing (not newer)."""
    return record_all(session, [reading]) == 1


def record_all(session: Session, readings: list[Reading]) -> int:
    """:func:`record` for a pass's readings, with the rows they touch loaded (and locked) in two
    queries rather than two per reading; how many added something."""
    if not readings:
        return 0
    with session.no_autoflush:
        ids = {r.instance.container_id for r in readings}
        counters = {(c.container_id, c.started_at): c for c in session.scalars(
            select(UsageCounter).where(UsageCounter.container_id.in_(ids)).with_for_update())}
        first_day = min((counters[key].read_at if key in counters else r.instance.started_at).date()
                        for r in readings for key in [(r.instance.container_id, r.instance.started_at)])
        projects = {r.instance.project for r in readings}
        days = {(d.project, d.username, d.day): d for d in session.scalars(
            select(UsageDay).where(UsageDay.project.in_(projects), UsageDay.day >= first_day).with_for_update())}
        added = sum(_apply(session, reading, counters, days) for reading in sorted(readings, key=lambda r: r.at))
    session.flush()  # the next call's queries see these rows
    return added


def _apply(session: Session, reading: Reading, counters: dict, days: dict) -> bool:
    i, c = reading.instance, reading.counters
    counter = counters.get((i.container_id, i.started_at))
    if counter is None:  # its first reading: billed from zero at the container's start
        counter = UsageCounter(container_id=i.container_id, started_at=i.started_at, project=i.project, username=i.username,
                               read_at=i.started_at, cpu_usec=0, memory_bytes=c.memory_bytes,
                               memory_limit_bytes=c.memory_limit_bytes)
        session.add(counter)
        counters[(i.container_id, i.started_at)] = counter
    if reading.at <= counter.read_at or c.cpu_usec < counter.cpu_usec:
        return False  # already billed (or a late reading of an older moment)
    seconds = (reading.at - counter.read_at).total_seconds()
    mean_memory = (counter.memory_bytes + c.memory_bytes) / 2
    totals = {"cpu_usec": c.cpu_usec - counter.cpu_usec, "wall_ms": round(seconds * 1000),
              "memory_used_byte_s": round(mean_memory * seconds), "memory_limit_byte_s": round(c.memory_limit_bytes * seconds)}
    for day, share in _split_by_day(counter.read_at, reading.at, totals):
        row = days.get((i.project, i.username, day))
        if row is None:
            row = UsageDay(project=i.project, username=i.username, day=day, cpu_usec=0, wall_ms=0, memory_used_byte_s=0,
                           memory_limit_byte_s=0, memory_peak_bytes=0)
            session.add(row)
            days[(i.project, i.username, day)] = row
        for name, value in share.items():
            setattr(row, name, getattr(row, name) + value)
        row.memory_peak_bytes = max(row.memory_peak_bytes, c.memory_peak_bytes if day == reading.at.date() else c.memory_bytes)
    counter.read_at, counter.cpu_usec = reading.at, c.cpu_usec
    counter.memory_bytes, counter.memory_limit_bytes = c.memory_bytes, c.memory_limit_bytes
    return True


def _split_by_day(start: datetime, end: datetime, totals: dict[str, int]) -> list[tuple[date, dict[str, int]]]:
    """``totals`` shared among the UTC days of [start, end) by time; integer parts add up exactly."""
    days, cursor = [], start
    while cursor < end:
        next_midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), UTC)
        stop = min(end, next_midnight)
        days.append((cursor.date(), (stop - cursor).total_seconds()))
        cursor = stop
    whole = (end - start).total_seconds()
    shares, given = [], dict.fromkeys(totals, 0)
    for n, (day, seconds) in enumerate(days):
        if n == len(days) - 1:
            share = {name: totals[name] - given[name] for name in totals}
        else:
            share = {name: int(totals[name] * seconds / whole) for name in totals}
        for name in totals:
            given[name] += share[name]
        shares.append((day, share))
    return shares


def tree_bytes(root: Path) -> int:
    """Sum of the sizes of the regular files under ``root`` (symbolic links not followed)."""
    total, stack = 0, [str(root)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
    return total


def sample_storage(session: Session, settings: Settings, now: datetime, every: timedelta) -> int:
    """Measure each project's workspace and extracts unless measured less than ``every`` ago; how many measured."""
    measured = 0
    with session.no_autoflush:
        projects = session.scalars(select(Project.slug).where(Project.state != ProjectState.closed)).all()
        today = {(row.project, row.kind): row for row in session.scalars(
            select(StorageDay).where(StorageDay.day == now.date()).with_for_update())}
        for slug in projects:
            project_dir = settings.project_dir(slug)
            for kind, path in (("workspace", workspace_dir(project_dir)), ("extracts", extracts_dir(project_dir))):
                row = today.get((slug, kind))
                if row is not None and now - row.measured_at < every:
                    continue
                size = tree_bytes(path) if path.is_dir() else 0
                if row is None:
                    session.add(StorageDay(project=slug, kind=kind, day=now.date(), bytes=size, measured_at=now))
                else:
                    row.bytes, row.measured_at = max(row.bytes, size), now
                measured += 1
    session.flush()
    return measured


class Sampler:
    """One registry, one Docker engine: :meth:`run_pass` does what the module docstring says."""

    def __init__(self, settings: Settings, engine, docker_client=None, storage_every: timedelta = timedelta(hours=1)):
        from enclave.networks import client

        self.settings, self.engine, self.storage_every = settings, engine, storage_every
        self.finder = ContainerFinder(docker_client or client())

    def run_pass(self, now: datetime | None = None) -> PassReport:
        from enclave.db import session_scope

        report = PassReport()
        readings = read_all(self.finder, report)
        with session_scope(self.engine) as session:
            # Only this registry's projects: another platform's containers on the same engine are not ours to bill.
            ours = set(session.scalars(select(Project.slug)))
            report.recorded = record_all(session, [reading for reading in readings if reading.instance.project in ours])
            report.storage = sample_storage(session, self.settings, now or datetime.now(UTC), self.storage_every)
            session.execute(delete(UsageCounter).where(UsageCounter.read_at < (now or datetime.now(UTC)) - KEEP_COUNTERS))
        return report

    def sample_container(self, container_id: str) -> bool:
        """Read one container now and record it (the spawner's stop hook); False if it is not running."""
        from enclave.db import session_scope

        found = self.finder.one(container_id)
        if found is None:
            return False
        instance, files = found
        try:
            reading = Reading(instance, datetime.now(UTC), files.read())
        except CgroupGone:
            return False
        with session_scope(self.engine) as session:
            if session.scalar(select(Project.slug).where(Project.slug == instance.project)) is None:
                return False
            return record(session, reading)
