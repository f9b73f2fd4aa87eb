"""Readings become usage exactly once: restarts of the sampler, concurrent readers, days and months."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from metering.models import UsageCounter, UsageDay
from metering.report import month_usage
from metering.sampler import record

from .conftest import GIB, reading


def days(registry) -> dict[date, UsageDay]:
    with registry.session() as session:
        return {row.day: row for row in session.scalars(select(UsageDay).order_by(UsageDay.day))}


def test_a_first_reading_bills_from_the_container_start(projects):
    with projects.session() as session:
        assert record(session, reading("2026-11-02T10:30:00", cpu_s=120))
    row = days(projects)[date(2026, 11, 2)]
    assert row.cpu_usec == 120_000_000
    assert row.wall_ms == 30 * 60 * 1000
    assert row.memory_limit_byte_s == 2 * GIB * 1800
    assert row.memory_used_byte_s == GIB * 1800


def test_a_restarted_sampler_neither_loses_nor_doubles(projects):
    """Each `with` is what one sampler process knows: nothing but the registry carries over."""
    with projects.session() as session:  # sampler 1
        record(session, reading("2026-11-02T10:01:00", cpu_s=10))
        record(session, reading("2026-11-02T10:02:00", cpu_s=20))
    # the hub is down from 10:02 to 12:00; the container keeps running and using CPU
    with projects.session() as session:  # sampler 2, after the restart
        assert record(session, reading("2026-11-02T12:00:00", cpu_s=500))
        assert not record(session, reading("2026-11-02T12:00:00", cpu_s=500))  # the same reading twice
        assert not record(session, reading("2026-11-02T11:00:00", cpu_s=300))  # a late, older reading
        record(session, reading("2026-11-02T12:01:00", cpu_s=530))
    row = days(projects)[date(2026, 11, 2)]
    assert row.cpu_usec == 530_000_000  # the cgroup's counter at the last reading: no gap, no double
    assert row.wall_ms == (2 * 3600 + 60) * 1000


def test_an_interval_across_midnight_and_a_month_end_is_split_by_time(projects):
    with projects.session() as session:
        record(session, reading("2026-10-31T23:00:00", cpu_s=0, started="2026-10-31T23:00:00"))
        record(session, reading("2026-11-01T01:00:00", cpu_s=7200, started="2026-10-31T23:00:00"))
    rows = days(projects)
    assert rows[date(2026, 10, 31)].cpu_usec == 3600_000_000
    assert rows[date(2026, 11, 1)].cpu_usec == 3600_000_000
    with projects.session() as session:
        october = month_usage(session, "alpha", date(2026, 10, 1), today=date(2026, 12, 1))
        november = month_usage(session, "alpha", date(2026, 11, 1), today=date(2026, 12, 1))
    assert october.people["alice"]["cpu_hours"] == Decimal(1)
    assert november.people["alice"]["cpu_hours"] == Decimal(1)
    assert october.people["alice"]["server_hours"] == Decimal(1)


def test_a_container_restarted_under_the_same_id_is_a_new_instance(projects):
    with projects.session() as session:
        record(session, reading("2026-11-02T10:10:00", cpu_s=100))
        # same id, started again at 11:00: its counter starts from zero again
        record(session, reading("2026-11-02T11:10:00", cpu_s=30, started="2026-11-02T11:00:00"))
        assert len(session.scalars(select(UsageCounter)).all()) == 2
    assert days(projects)[date(2026, 11, 2)].cpu_usec == 130_000_000


def test_usage_is_per_member_and_per_project(projects):
    with projects.session() as session:
        record(session, reading("2026-11-02T11:00:00", cpu_s=3600, user="alice", container="a"))
        record(session, reading("2026-11-02T11:00:00", cpu_s=1800, user="carol", container="c"))
        record(session, reading("2026-11-02T11:00:00", cpu_s=900, project="beta", user="bob", container="b"))
        alpha = month_usage(session, "alpha", date(2026, 11, 1), today=date(2026, 11, 30))
        beta = month_usage(session, "beta", date(2026, 11, 1), today=date(2026, 11, 30))
    assert alpha.people["alice"]["cpu_hours"] == Decimal(1)
    assert alpha.people["carol"]["cpu_hours"] == Decimal("0.5")
    assert "bob" not in alpha.people
    assert beta.totals()["cpu_hours"] == Decimal("0.25")
