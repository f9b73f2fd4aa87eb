"""The output budget's store, without Docker: fixed UTC windows (an hour and a day, both binding),
the alarms at half and nine-tenths of the day, the write-behind of what was spent into a real
registry and its reload, so that a new seal (a restart) starts where the last one stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enclave.db import make_engine, session_scope, upgrade
from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR
from enclave.output_budgets import add_spent, budget_limits, spent_now, spent_today, window_start
from spawner_config.seal_budget import BudgetBook
from spawner_config.seal_rules import Limits

KEY = ("bob", "cardio")
LIMITS = {"hour": 1000, "day": 2500}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(datetime(2026, 12, 5, 9, 10, tzinfo=UTC))


@pytest.fixture
def registry(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_windows_are_fixed_utc_hours_and_days():
    now = datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)
    assert window_start("hour", now) == datetime(2026, 12, 5, 23, tzinfo=UTC)
    assert window_start("day", now) == datetime(2026, 12, 5, tzinfo=UTC)
    assert window_start("day", now + timedelta(seconds=1)) == datetime(2026, 12, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="week"):
        window_start("week", now)


def test_the_defaults_live_in_one_place_and_a_project_may_set_its_own():
    assert Limits().budgets == {"hour": DEFAULT_OUTPUT_BUDGET_PER_HOUR, "day": DEFAULT_OUTPUT_BUDGET_PER_DAY}
    assert Limits.from_resources({}).budgets == budget_limits({})
    assert Limits.from_resources({"output_budget_per_hour": 4096, "output_budget_per_day": 8192}).budgets == {"hour": 4096, "day": 8192}


def test_the_hour_binds_then_the_day(clock):
    book = BudgetBook(clock)
    book.load(KEY, {"hour": 0, "day": 0})
    assert book.take(KEY, LIMITS, 900) == (True, [])
    assert book.take(KEY, LIMITS, 200)[0] is False          # 100 left this hour
    assert book.take(KEY, LIMITS, 100)[0] is True
    clock.now += timedelta(hours=1)                          # a new hour: the hour's room is back...
    assert book.left(KEY, LIMITS) == {"hour": 1000, "day": 1500}
    assert book.take(KEY, LIMITS, 1000)[0]
    clock.now += timedelta(hours=1)
    assert book.room(KEY, LIMITS) == 500                     # ...but not beyond the day's
    assert book.take(KEY, LIMITS, 501)[0] is False
    assert book.take(KEY, LIMITS, 500)[0]
    clock.now += timedelta(hours=1)
    assert book.room(KEY, LIMITS) == 0                       # the day is spent, whatever the hour
    clock.now = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)      # midnight UTC: a new day
    assert book.left(KEY, LIMITS) == {"hour": 1000, "day": 2500}


DAY_LIMITS = {"hour": 10_000, "day": 2500}


def test_alarms_at_half_and_nine_tenths_of_the_day_once_each(clock):
    book = BudgetBook(clock)  # the hour does not bind here
    book.load(KEY, {"hour": 0, "day": 0})
    assert book.take(KEY, DAY_LIMITS, 1249)[1] == []
    assert book.take(KEY, DAY_LIMITS, 1)[1] == [50]              # 1250 = half of 2500
    clock.now += timedelta(hours=1)
    assert book.take(KEY, DAY_LIMITS, 900)[1] == []              # 2150 < 2250
    clock.now += timedelta(hours=1)
    assert book.spend(KEY, DAY_LIMITS, 300) == [90]              # past the limit (a notice): still once
    assert book.spend(KEY, DAY_LIMITS, 300) == []
    restarted = BudgetBook(clock)                            # a restart past both shares raises neither again
    restarted.load(KEY, {"hour": 300, "day": 2750})
    assert restarted.spend(KEY, DAY_LIMITS, 10) == []
    both = BudgetBook(clock)
    both.load(KEY, {"hour": 0, "day": 0})
    assert both.spend(KEY, DAY_LIMITS, 2400) == [50, 90]


def test_an_unloaded_budget_is_never_taken_from(clock):
    with pytest.raises(RuntimeError, match="before it was loaded"):
        BudgetBook(clock).take(KEY, LIMITS, 1)


def test_spending_is_written_behind_and_a_new_seal_starts_where_the_last_stopped(clock, registry):
    book = BudgetBook(clock)
    with session_scope(registry) as session:
        book.load(KEY, spent_now(session, "cardio", "bob", clock.now))
    assert book.left(KEY, LIMITS) == {"hour": 1000, "day": 2500}
    book.take(KEY, LIMITS, 600)
    book.take(KEY, LIMITS, 100)
    written = book.drain()
    assert [(s.window, s.amount) for s in written] == [("hour", 700), ("day", 700)]
    assert book.drain() == []                                # each amount written once
    with session_scope(registry) as session:
        add_spent(session, written)
    book.take(KEY, LIMITS, 50)
    failed = book.drain()
    book.restore(failed)                                     # a failed write is retried with the next
    book.take(KEY, LIMITS, 50)
    with session_scope(registry) as session:
        add_spent(session, book.drain())

    restarted = BudgetBook(clock)                            # a seal restart: nothing refilled
    with session_scope(registry) as session:
        restarted.load(KEY, spent_now(session, "cardio", "bob", clock.now))
        assert spent_today(session, "bob", clock.now) == {"cardio": 800}
    assert restarted.left(KEY, LIMITS) == {"hour": 200, "day": 1700}

    clock.now += timedelta(hours=1)                          # the next hour starts empty, the day keeps its count
    later = BudgetBook(clock)
    with session_scope(registry) as session:
        later.load(KEY, spent_now(session, "cardio", "bob", clock.now))
    assert later.left(KEY, LIMITS) == {"hour": 1000, "day": 1700}
    later.take(KEY, LIMITS, 10)
    with session_scope(registry) as session:
        add_spent(session, later.drain())
        assert spent_now(session, "cardio", "bob", clock.now) == {"hour": 10, "day": 810}
        assert spent_now(session, "cardio", "alice", clock.now) == {"hour": 0, "day": 0}  # per user and project


def test_a_load_that_lost_a_race_keeps_what_was_spent(clock):
    book = BudgetBook(clock)
    book.load(KEY, {"hour": 0, "day": 0})
    book.take(KEY, LIMITS, 400)
    book.load(KEY, {"hour": 0, "day": 0})                    # a second, slower read of the registry
    assert book.left(KEY, LIMITS)["hour"] == 600
