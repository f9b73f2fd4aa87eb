"""The weekly review report, on a constructed week (2026-W10: Monday 2 to Sunday 8 March, Paris = UTC+1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from enclave import audit
from enclave.audit import record
from enclave.audit_report import last_week, week_bounds
from enclave.errors import EnclaveError
from enclave.settings import Settings
from enclave.working_hours import WorkingHours

from .factories import ACTOR


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` March 2026, ``hour:minute`` UTC (Paris is an hour ahead in March before the 29th)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


# (when, actor, action, project, details)
WEEK = [
    (at(1, 22, 30), "mallory", "auth.totp.failure", None, {"username": "mallory"}),  # Sun 23:30 Paris: the week before
    (at(2, 8, 0), "alice", "auth.totp.success", None, {"username": "alice"}),  # Mon 09:00: in hours
    (at(2, 21, 30), "alice", "server.start", "cohort-a", {"container": "c1"}),  # Mon 22:30: out of hours
    (at(3, 6, 59), "carol", "auth.totp.success", None, {"username": "carol"}),  # Tue 07:59: out of hours
    (at(3, 7, 0), "carol", "egress.download", "cohort-a", {"request": 1, "file": "t.csv"}),  # Tue 08:00: in hours
    (at(3, 10, 0), "mallory", "auth.totp.failure", None, {"username": "mallory", "reason": "wrong"}),
    (at(3, 10, 1), "mallory", "auth.totp.failure", None, {"username": "mallory", "reason": "wrong"}),
    (at(3, 10, 2), "mallory", "auth.totp.locked", None, {"username": "mallory", "failures": 5}),
    (at(3, 11, 0), "oidc:eve", "auth.refused", None, {"identity": "eve"}),
    (at(4, 9, 0), "bob", "seal.refused", "cohort-a", {"path": "/api/contents", "hits": 4, "source_ip": "198.51.100.4"}),
    (at(4, 9, 5), "bob", "egress.refused", "cohort-a", {"reason": "symlink"}),
    (at(4, 9, 6), "bob", "tools.refused", "cohort-a", {"reason": "wrong project"}),
    (at(4, 9, 7), "bob", "server.refused", "cohort-a", {"problems": ["not hardened"]}),
    (at(4, 15, 0), "bob", "seal.output_capped", "cohort-a", {"bytes": 10_000_000}),
    (at(5, 14, 0), ACTOR, "project.suspend", "cohort-a", {"reason": "expired"}),
    (at(5, 14, 5), ACTOR, "user.add", None, {"username": "dan"}),
    (at(5, 14, 6), ACTOR, "auth.totp.reset", None, {"username": "carol"}),
    (at(6, 12, 0), "alice", "project.member.add", "cohort-a", {"username": "dan"}),  # privileged, whoever does it
    (at(7, 9, 0), "bob", "egress.download", "cohort-a", {"request": 2, "file": "u.csv"}),  # Saturday: out of hours
    (at(8, 22, 30), "mallory", "auth.refused", None, {"identity": "mallory"}),  # Sun 23:30 Paris: still this week
    (at(8, 23, 30), "mallory", "auth.refused", None, {"identity": "mallory"}),  # Mon 9th 00:30 Paris: the next week
]


@pytest.fixture
def constructed_week(registry, monkeypatch):
    for when, actor, action, project, details in WEEK:
        monkeypatch.setattr(audit, "utcnow", lambda when=when: when)
        with registry.session() as session:
            record(session, actor, action, project, **details)
    monkeypatch.undo()
    return registry


def test_report_counts_each_review_of_the_week(constructed_week):
    done = constructed_week.cli("audit", "report", "--week", "2026-W10", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["from"], report["to"]) == ("2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00")
    assert report["events"] == len(WEEK) - 2
    counts = {name: review["count"] for name, review in report["reviews"].items()}
    assert counts == {"failed_logins": 5, "refusals": 4, "out_of_hours": 3, "alarms": 1, "suspensions": 1,
                      "privileged": 3}
    reviews = report["reviews"]
    assert reviews["failed_logins"]["by_actor"] == {"mallory": 4, "oidc:eve": 1}
    assert [(e["actor"], e["at"]) for e in reviews["out_of_hours"]["events"]] == [
        ("alice", "2026-03-02T22:30:00+01:00"), ("carol", "2026-03-03T07:59:00+01:00"),
        ("bob", "2026-03-07T10:00:00+01:00")]
    assert [e["action"] for e in reviews["refusals"]["events"]] == ["seal.refused", "egress.refused", "tools.refused",
                                                                     "server.refused"]
    assert reviews["refusals"]["events"][0]["source"] == "198.51.100.4"
    assert [e["action"] for e in reviews["privileged"]["events"]] == ["user.add", "auth.totp.reset", "project.member.add"]


def test_report_as_a_table(constructed_week):
    done = constructed_week.cli("audit", "report", "--week", "2026-W10")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("Audit review, week 2026-W10 (2026-03-02 to 2026-03-09, Europe/Paris; "
                           "working hours Mon-Fri 08:00-19:00): 19 events")
    assert "== Failed logins and TOTP lockouts: 5  (by actor: mallory 4, oidc:eve 1)" in text
    assert "== Access out of working hours: 3" in text and "== Suspensions and closures: 1" in text
    lines = text.splitlines()
    out_of_hours = lines.index(next(line for line in lines if line.startswith("== Access out of working hours")))
    assert "2026-03-02 22:30:00 alice" in lines[out_of_hours + 1]


def test_working_hours_are_a_setting(constructed_week):
    done = constructed_week.cli("audit", "report", "--week", "2026-W10", "--format", "json",
                                ENCLAVE_WORKING_HOURS="Mon-Sat 07:00-23:00")
    assert json.loads(done.stdout)["reviews"]["out_of_hours"]["count"] == 0
    with pytest.raises(EnclaveError, match="ENCLAVE_WORKING_HOURS='weekdays' is not working hours"):
        Settings.from_env({"ENCLAVE_WORKING_HOURS": "weekdays"})
    assert WorkingHours.parse("Sat-Sun 10:00-12:00").days == {5, 6}


def test_bad_week_is_refused_and_last_week_is_the_default():
    with pytest.raises(EnclaveError, match="--week '2026-10' is not an ISO week"):
        week_bounds("2026-10")
    assert last_week(datetime(2026, 3, 11).date()) == "2026-W10"
