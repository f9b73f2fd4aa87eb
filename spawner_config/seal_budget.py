"""How much each member's browser may still receive from a project's server, and the audit trail
of what the seal stopped.

A budget is kept per (user, project) in two fixed UTC windows, an hour and a day
(:mod:`enclave.output_budgets`): a request passes only if both have room, whatever channel its bytes
take (kernel or terminal output, pages, API answers, headers, a server the researcher put in its
place). The live counters are here, in memory; on first use of a (user, project) they start from
what the registry says the current windows already hold, and what is spent is written behind
(:meth:`BudgetBook.drain`), so neither a seal nor a server restart refills anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from enclave.audit import AuditAction, record
from enclave.db import session_scope
from enclave.output_budgets import WINDOWS, Spent, window_start

ALARM_SHARES = (50, 90)  # percent of the day's budget: crossing each raises an alarm, once a day

Key = tuple[str, str]  # (user, project)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ledger:
    """One (user, project)'s spending in its current windows: {window: (start, spent)}."""

    windows: dict[str, tuple[datetime, int]]

    def roll(self, now: datetime) -> None:
        """A window that has ended starts again at zero (this seal is the registry's only writer)."""
        for window, (start, _) in list(self.windows.items()):
            current = window_start(window, now)
            if current != start:
                self.windows[window] = (current, 0)

    def spent(self, window: str) -> int:
        return self.windows[window][1]


class BudgetBook:
    """The seal's live counters; ``limits`` are {window: bytes} (:func:`enclave.output_budgets.budget_limits`)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now):
        self.clock = clock
        self.ledgers: dict[Key, Ledger] = {}
        self.pending: dict[tuple[str, str, str, datetime], int] = {}  # (project, user, window, start): bytes

    def loaded(self, key: Key) -> bool:
        return key in self.ledgers

    def load(self, key: Key, spent: dict[str, int]) -> None:
        """Start ``key``'s counters from what the registry holds for the current windows (a load that
        lost a race with another keeps the first: it may have spent since)."""
        now = self.clock()
        self.ledgers.setdefault(key, Ledger({w: (window_start(w, now), int(spent.get(w, 0))) for w in WINDOWS}))

    def _ledger(self, key: Key) -> Ledger:
        try:
            ledger = self.ledgers[key]
        except KeyError:
            raise RuntimeError(f"the budget of {key} was used before it was loaded from the registry") from None
        ledger.roll(self.clock())
        return ledger

    def left(self, key: Key, limits: dict[str, int]) -> dict[str, int]:
        """What each window still allows (0 when spent or overdrawn)."""
        ledger = self._ledger(key)
        return {w: max(0, limits[w] - ledger.spent(w)) for w in WINDOWS}

    def room(self, key: Key, limits: dict[str, int]) -> int:
        return min(self.left(key, limits).values())

    def take(self, key: Key, limits: dict[str, int], size: int) -> tuple[bool, list[int]]:
        """Take ``size`` bytes if both windows have them: (taken, the day's alarm shares crossed)."""
        if size > self.room(key, limits):
            return False, []
        return True, self.spend(key, limits, size)

    def spend(self, key: Key, limits: dict[str, int], size: int) -> list[int]:
        """Take ``size`` bytes even past the limits (the seal's own notices); the alarm shares of the
        day's budget this spending crossed."""
        ledger, user, project = self._ledger(key), key[0], key[1]
        before = ledger.spent("day")
        for window in WINDOWS:
            start, spent = ledger.windows[window]
            ledger.windows[window] = (start, spent + size)
            pending = (project, user, window, start)
            self.pending[pending] = self.pending.get(pending, 0) + size
        after = ledger.spent("day")
        return [share for share in ALARM_SHARES if before * 100 < share * limits["day"] <= after * 100]

    def drain(self) -> list[Spent]:
        """What was spent since the last drain, to add to the registry."""
        pending, self.pending = self.pending, {}
        return [Spent(*k, amount) for k, amount in pending.items() if amount]

    def restore(self, spent: list[Spent]) -> None:
        """Put back amounts whose write failed: the next drain retries them."""
        for project, user, window, start, amount in spent:
            self.pending[(project, user, window, start)] = self.pending.get((project, user, window, start), 0) + amount


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

    write: Callable[[str, str, str | None, dict], None]  # (actor, action, project, details)
    window: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str, str | None, str, str], float] = field(default_factory=dict)
    _pending: dict[tuple[str, str | None, str, str], _Pending] = field(default_factory=dict)

    def hit(self, user: str, project: str | None, action: AuditAction, path: str, size: int, fold: str = "", **details) -> None:
        """One refusal, cap hit or alarm; ``fold`` separates events of one action that must not be
        folded together (an alarm's kind)."""
        key, now = (user, project, action, fold), self.clock()
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
                user, project, action, _ = key
                del self._pending[key]
                self._last[key] = now
                self.write(user, action, project, {**pending.first, "hits": pending.hits, "bytes": pending.bytes,
                                                   "last_path": pending.last_path, "folded": True})


class AuditTrail:
    """The audit events of a service on the hot path (the seal, the hub API gate): folded by an
    :class:`AuditCoalescer`, written by one thread of their own so the event loop never waits on the
    registry. ``hit`` records; ``flush_forever`` runs beside the app; ``close`` writes what is left.
    ``writer`` is that thread: other registry writes of the service (the seal's spent budgets) queue
    there too, so one thread writes in order."""

    def __init__(self, engine: Engine, audit_head: Path, name: str, log: logging.Logger, level: int = logging.INFO):
        self.engine, self.audit_head, self.name, self.log, self.level = engine, audit_head, name, log, level
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-audit")
        self.coalescer = AuditCoalescer(write=self._queue)

    def hit(self, user: str, project: str | None, action: AuditAction, path: str, size: int, fold: str = "", **details) -> None:
        self.coalescer.hit(user, project, action, path, size, fold=fold, **details)

    def _write(self, actor: str, action: str, project: str | None, details: dict) -> None:
        try:
            with session_scope(self.engine, self.audit_head) as session:
                record(session, actor, action, project or None, **details)
        except Exception:  # noqa: BLE001 - an audit failure is logged loudly, never a reason to let bytes through
            self.log.exception("cannot record audit event %s for %s/%s", action, actor, project)

    def _queue(self, actor: str, action: str, project: str | None, details: dict) -> None:
        self.log.log(self.level, "%s %s: %s/%s %s", self.name, action, actor, project, details)
        self.writer.submit(self._write, actor, action, project, details)

    def flush(self, force: bool = False) -> None:
        self.coalescer.flush(force)

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.coalescer.window / 2)
            self.coalescer.flush()

    def close(self) -> None:
        self.coalescer.flush(force=True)
        self.writer.shutdown(wait=True)
