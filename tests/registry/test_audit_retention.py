"""Retention: events older than the retention period are purged, the purge is audited, the log still
verifies, and the append-only triggers still refuse every other change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from enclave import audit
from enclave.audit_retention import purge
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, AuditPurge
from enclave.settings import Settings

from .factories import ACTOR
from .test_audit import drop_triggers, verified, write_events

LONG_AGO = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def write_old_then_recent(registry, monkeypatch, old: int = 3, recent: int = 3) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(audit, "utcnow", lambda: LONG_AGO)
        write_events(registry, old)
    write_events(registry, recent)


def seqs(registry) -> list[int]:
    with registry.session() as session:
        return list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))


def test_purge_removes_old_events_audits_itself_and_the_log_still_verifies(registry, monkeypatch):
    write_old_then_recent(registry, monkeypatch)
    with registry.session() as session:
        first_links = {e.seq: e.hash for e in session.scalars(select(AuditEvent))}
    done = registry.cli("audit", "purge")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged 3 audit events (1..3, older than ") and "recorded as event 7" in done.stdout
    assert seqs(registry) == [4, 5, 6, 7]
    with registry.session() as session:
        event = session.get(AuditEvent, 7)
        assert session.scalars(select(AuditPurge.upto_seq)).all() == [3]
    assert event.action == "audit.purge" and event.actor == "operator-olga"
    assert {k: event.details[k] for k in ("from_seq", "to_seq", "count", "retention_days", "starts_from")} == \
        {"from_seq": 1, "to_seq": 3, "count": 3, "retention_days": 400, "starts_from": first_links[3]}
    assert event.details["first_at"].startswith("2024-03-01") and event.details["last_at"].startswith("2024-03-01")
    result = verified(registry)
    assert result.ok and result.events == 4, result.problem
    again = registry.cli("audit", "purge")
    assert again.returncode == 0 and again.stdout.startswith("no audit event is older than")
    assert seqs(registry) == [4, 5, 6, 7]


def test_the_triggers_still_refuse_everything_a_purge_does_not_cover(registry, monkeypatch):
    write_old_then_recent(registry, monkeypatch)
    with registry.session() as session:
        purge(session, ACTOR, 400)
    for statement, table in (("DELETE FROM audit_events WHERE seq = 5", "audit_events"),
                             ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5", "audit_events"),
                             ("DELETE FROM audit_purges", "audit_purges"),
                             ("UPDATE audit_purges SET upto_seq = 6", "audit_purges")):
        with pytest.raises(DBAPIError, match=f"{table} is append-only"):
            registry.execute(statement)
    assert seqs(registry) == [4, 5, 6, 7] and verified(registry).ok


def test_a_purge_marker_without_the_keyed_event_explains_nothing(registry, monkeypatch):
    """Someone with the database writes a marker to get past the trigger: the removal is still named."""
    write_events(registry, 6)
    registry.execute("INSERT INTO audit_purges (upto_seq, at) VALUES (4, CURRENT_TIMESTAMP)")
    registry.execute("DELETE FROM audit_events WHERE seq <= 4")
    result = verified(registry)
    assert result.removed == (1, 2, 3, 4) and result.first_bad_seq == 1


def test_retention_under_a_year_is_refused(registry):
    with pytest.raises(EnclaveError, match="ENCLAVE_AUDIT_RETENTION_DAYS='200' is not a number of days of at least 365"):
        Settings.from_env({"ENCLAVE_AUDIT_RETENTION_DAYS": "200"})
    assert Settings.from_env({"ENCLAVE_AUDIT_RETENTION_DAYS": "365"}).audit_retention_days == 365
    assert Settings.from_env({}).audit_retention_days == 400
    done = registry.cli("audit", "purge", "--retention-days", "30")
    assert done.returncode != 0 and "a retention of 30 days is less than a year" in done.stderr


def test_a_log_that_does_not_verify_is_not_purged(registry, monkeypatch):
    write_old_then_recent(registry, monkeypatch)
    drop_triggers(registry)
    registry.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with registry.session() as session, pytest.raises(EnclaveError, match="does not verify, so it is not purged"):
        purge(session, ACTOR, 400)
    assert seqs(registry) == [1, 2, 3, 4, 5, 6]


def test_export_after_a_purge_says_what_it_never_saw(registry, monkeypatch):
    write_old_then_recent(registry, monkeypatch)
    with registry.session() as session:
        purge(session, ACTOR, 400)
    done = registry.cli("audit", "export", "--since-seq", "1")
    assert "events 2..3 were purged before they were exported" in done.stderr
    assert len(done.stdout.splitlines()) == 4
