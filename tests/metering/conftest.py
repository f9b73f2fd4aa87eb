"""Fixtures of the metering tests: a registry (SQLite and PostgreSQL) with two projects and their
members, and plain functions that put readings and files in place through the real code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enclave.models import ProjectState
from metering.cgroups import Counters
from metering.sampler import Instance, Reading

from ..registry.factories import create_project_at_state

GIB = 1 << 30


@pytest.fixture
def projects(registry):
    """``alpha`` (alice, carol) and ``beta`` (bob), active."""
    with registry.session() as session:
        create_project_at_state(session, "alpha", ProjectState.active, pi="alice", members=("carol",))
        create_project_at_state(session, "beta", ProjectState.active, pi="bob")
    return registry


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def reading(when: str, cpu_s: float, memory: int = GIB, limit: int = 2 * GIB, *, project: str = "alpha", user: str = "alice",
            container: str = "c1", started: str = "2026-11-02T10:00:00") -> Reading:
    instance = Instance(container, at(started), project, user, pid=1)
    return Reading(instance, at(when), Counters(int(cpu_s * 1_000_000), memory, memory, limit))
