"""How much each server may still send to the browser, and the audit trail of what the seal stopped.

A budget is a token bucket per server (user, project): full at ``budget_per_hour`` bytes and refilled
at that rate, so no hour ever carries more than about twice the budget — whatever channel the bytes
take (kernel or terminal output, pages, API answers, a server the researcher put in its place).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from enclave.audit import record
from enclave.db import session_scope


@dataclass
class Bucket:
    capacity: int
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / 3600)
        self.stamp = now

    def take(self, size: int, now: float) -> bool:
        """Take ``size`` bytes if they are all there."""
        self.refill(now)
        if size > self.tokens:
            return False
        self.tokens -= size
        return True

    def available(self, now: float) -> int:
        self.refill(now)
        return int(self.tokens)

    def spend(self, size: int, now: float) -> None:
        """Take ``size`` bytes even past zero (our own notices: the debt delays what follows)."""
        self.refill(now)
        self.tokens -= size


class Budgets:
    """One bucket per server; a change of the project's budget applies to the next refill."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def bucket(self, key: tuple[str, str], capacity: int) -> Bucket:
        current = self.buckets.get(key)
        if current is None:
            current = self.buckets[key] = Bucket(capacity, capacity, self.clock())
        current.capacity = capacity
        return current

    def take(self, key: tuple[str, str], capacity: int, size: int) -> bool:
        return self.bucket(key, capacity).take(size, self.clock())

    def available(self, key: tuple[str, str], capacity: int) -> int:
        return self.bucket(key, capacity).available(self.clock())

    def spend(self, key: tuple[str, str], capacity: int, size: int) -> None:
        self.bucket(key, capacity).spend(size, self.clock())


@dataclass
class _Pending:
    first: dict
    hits: int = 0
    bytes: int = 0
    last_path: str = ""


@dataclass
class AuditCoalescer:
    """Every refusal and cap hit reaches the audit log, at most one event per server and action
    per ``window`` seconds: the first at once, the rest folded into one event with their count
    (a loop of refused requests must not flood the log)."""

    write: Callable[[str, str, str, dict], None]  # (actor, action, project, details)
    window: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _pending: dict[tuple[str, str, str], _Pending] = field(default_factory=dict)

    def hit(self, user: str, project: str, action: str, path: str, size: int, **details) -> None:
        key, now = (user, project, action), self.clock()
        if now - self._last.get(key, -1e18) >= self.window:
            self._last[key] = now
            self.write(user, action, project, {"path": path, "bytes": size, **details})
            return
        pending = self._pending.setdefault(key, _Pending(first={"path": path, **details}))
        pending.hits += 1
        pending.bytes += size
        pending.last_path = path

    def flush(self, force: bool = False) -> None:
        """Write the folded events whose window has passed (all of them with ``force``)."""
        now = self.clock()
        for key, pending in list(self._pending.items()):
            if force or now - self._last.get(key, 0) >= self.window:
                user, project, action = key
                del self._pending[key]
                self._last[key] = now
                self.write(user, action, project, {**pending.first, "hits": pending.hits, "bytes": pending.bytes,
                                                   "last_path": pending.last_path, "folded": True})


class AuditTrail:
    """The audit events of a service on the hot path (the seal, the hub API gate): folded by an
    :class:`AuditCoalescer`, written by one thread of their own so the event loop never waits on the
    registry. ``hit`` records; ``flush_forever`` runs beside the app; ``close`` writes what is left."""

    def __init__(self, engine: Engine, audit_head: Path, name: str, log: logging.Logger, level: int = logging.INFO):
        self.engine, self.audit_head, self.name, self.log, self.level = engine, audit_head, name, log, level
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-audit")
        self.coalescer = AuditCoalescer(write=self._queue)

    def hit(self, user: str, project: str, action: str, path: str, size: int, **details) -> None:
        self.coalescer.hit(user, project, action, path, size, **details)

    def _write(self, actor: str, action: str, project: str, details: dict) -> None:
        try:
            with session_scope(self.engine, self.audit_head) as session:
                record(session, actor, action, project or None, **details)
        except Exception:  # noqa: BLE001 - an audit failure is logged loudly, never a reason to let bytes through
            self.log.exception("cannot record audit event %s for %s/%s", action, actor, project)

    def _queue(self, actor: str, action: str, project: str, details: dict) -> None:
        self.log.log(self.level, "%s %s: %s/%s %s", self.name, action, actor, project, details)
        self.writer.submit(self._write, actor, action, project, details)

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.coalescer.window / 2)
            self.coalescer.flush()

    def close(self) -> None:
        self.coalescer.flush(force=True)
        self.writer.shutdown(wait=True)
