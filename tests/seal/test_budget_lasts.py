"""Budgets live in the registry, per member and project, by hour and by UTC day, and both bind:
dan's day is nearly spent (as if by earlier hours: written into the registry before the seal first
sees him), so his requests raise the alarm at nine-tenths of it and stop at its limit while the
hour still has room; neither a restart
of the seal (the hub's managed service, killed and started again by the hub) nor a restart of his
server gives any of it back. The hour's own limit is met in test_streams (alice, paced output)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

import pytest
import requests

from enclave.db import make_engine, session_scope
from enclave.output_budgets import Spent, add_spent, window_start

from ..enclave.platform import slug
from .conftest import Researcher, last_seq, spent, wait_for_audit, wait_for_spent

DAY, HOUR = 192 * 1024, 64 * 1024  # the tight project's budgets
LEFT = DAY // 10 + 2048  # the day's last tenth and a little: the 90 % alarm is crossed on the way


def seal_pid(platform) -> int | None:
    """The hub-managed seal of this platform (its command names its port)."""
    wanted = f"--port={platform.settings().seal_port}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"spawner_config.seal" in command and wanted in command:
            return int(entry)
    return None


def restart_seal(platform, timeout: float = 120) -> None:
    """Stop the seal as an operator would (SIGTERM); the hub sees its service exit and starts it again."""
    old = seal_pid(platform)
    assert old is not None, "the hub's seal is not running"
    os.kill(old, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        new = seal_pid(platform)
        if new is not None and new != old:
            try:
                requests.get(f"http://127.0.0.1:{platform.settings().seal_port}/user/x/y/", timeout=5)
                return
            except requests.ConnectionError:
                pass
        assert time.monotonic() < deadline, f"the hub did not start the seal again; hub log: {platform.log}"
        time.sleep(0.5)


def spend_until_refused(dan: Researcher, limit: int = 1000) -> tuple[int, requests.Response]:
    received = 0
    for _ in range(limit):
        answer = dan.get("tight", "api/contents/work")
        if answer.status_code != 200:
            return received, answer
        received += len(answer.content)  # the bodies; the seal charges the server's headers too
    raise AssertionError(f"{limit} requests passed: the day's budget did not bind")


def test_the_day_binds_and_no_restart_gives_any_of_it_back(sealed):
    project = slug("tight")
    now = datetime.now(UTC)
    engine = make_engine(sealed.settings().db_url)
    try:
        with session_scope(engine) as session:  # earlier hours of the day: all but LEFT spent
            add_spent(session, [Spent(project, "dan", "day", window_start("day", now), DAY - LEFT)])
    finally:
        engine.dispose()
    dan = Researcher(sealed, "dan")
    dan.start("tight")
    if window_start("day", datetime.now(UTC)) != window_start("day", now):
        pytest.skip("the test straddled midnight UTC: the seeded day is over")

    since = last_seq(sealed)
    received, refused = spend_until_refused(dan)  # raw bytes: the same listing again is charged little
    assert refused.status_code == 429 and "daily output budget" in refused.json()["reason"], refused.text
    assert "returns at 00:00 UTC" in refused.json()["reason"]
    assert spent(sealed, "dan", project)["hour"] < HOUR // 2  # the hour had room: the day bound
    alarms = wait_for_audit(sealed, "seal.alarm", since, hits=1)
    assert [(e["actor"], e["project"], e["kind"], e["share"]) for e in alarms] == [("dan", project, "budget_90", 90)], alarms
    written = wait_for_spent(sealed, "dan", project, above=DAY - LEFT)
    assert DAY - LEFT < written["day"] <= DAY  # charged, and never beyond the day's budget

    restart_seal(sealed)
    again = dan.get("tight", "api/contents/work")
    assert again.status_code == 429 and "daily output budget" in again.json()["reason"], again.text

    sealed.stop_server("dan", project)
    deadline = time.monotonic() + 60
    while sealed.api("GET", "/users/dan").json().get("servers", {}).get(project):
        assert time.monotonic() < deadline, "dan's server did not stop"
        time.sleep(1)
    dan.start("tight")
    again = dan.get("tight", "api/contents/work")
    assert again.status_code == 429 and "daily output budget" in again.json()["reason"], again.text
    assert spent(sealed, "dan", project)["day"] >= written["day"]
    sealed.stop_server("dan", project)
