"""How much each server may still send to the browser, and the audit trail of what the seal stopped.

A budget is a token bucket per server (user, project): full at ``budget_per_hour`` bytes and refilled
at that rate, so no hour ever carries more than about twice the budget — whatever channel the bytes
take (kernel or terminal output, pages, API answers, a server the researcher put in its place).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


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
