"""What each member's browser received from a project's server, per hour and per UTC day, in the
registry (:class:`enclave.models.OutputBudget`): the windows, reading what they already hold and
adding to them. The seal keeps the live counters (:mod:`spawner_config.seal_budget`); the hub's home
page reads the day's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR, OutputBudget

WINDOWS = ("hour", "day")


def window_start(window: str, now: datetime) -> datetime:
    """The start of the fixed UTC window (``hour`` or ``day``) that holds ``now``."""
    now = now.astimezone(UTC)
    if window == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    if window == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown budget window {window!r}: use one of {', '.join(WINDOWS)}")


def window_end(window: str, now: datetime) -> datetime:
    return window_start(window, now) + (timedelta(hours=1) if window == "hour" else timedelta(days=1))


def budget_limits(resources: dict) -> dict[str, int]:
    """A project's budgets in bytes per window: ``output_budget_per_hour`` / ``_per_day`` of its
    resources (the manifest's ``[resources]``), the defaults otherwise."""
    return {"hour": int(resources.get("output_budget_per_hour") or DEFAULT_OUTPUT_BUDGET_PER_HOUR),
            "day": int(resources.get("output_budget_per_day") or DEFAULT_OUTPUT_BUDGET_PER_DAY)}


class Spent(NamedTuple):
    """An amount let through in one window, to be added to the registry."""

    project: str
    username: str
    window: str
    start: datetime
    amount: int


def spent_now(session: Session, project: str, username: str, now: datetime) -> dict[str, int]:
    """What the current hour and day already hold for ``username`` in ``project``."""
    spent = {}
    for window in WINDOWS:
        row = session.get(OutputBudget, (project, username, window, window_start(window, now)))
        spent[window] = row.spent if row is not None else 0
    return spent


def spent_today(session: Session, username: str, now: datetime) -> dict[str, int]:
    """What each project's server sent to ``username``'s browser today: {slug: bytes}."""
    rows = session.execute(select(OutputBudget.project, OutputBudget.spent).where(
        OutputBudget.username == username, OutputBudget.window == "day",
        OutputBudget.start == window_start("day", now)))
    return {project: spent for project, spent in rows}


def add_spent(session: Session, amounts: Iterable[Spent]) -> None:
    """Add each amount to its window's row (created at zero if new)."""
    for project, username, window, start, amount in amounts:
        row = session.get(OutputBudget, (project, username, window, start))
        if row is None:
            session.add(OutputBudget(project=project, username=username, window=window, start=start, spent=amount))
            session.flush()
        else:
            row.spent += amount
