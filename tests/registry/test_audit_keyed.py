"""The keyed audit chain: a rebuild made with the database alone is named, the unkeyed events written
before the key stay verifiable, keys rotate, the key ring is guarded, the head is anchored outside."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from enclave.audit import GENESIS, compute_hash, record, tail, verify
from enclave.audit_anchors import append_anchor, read_anchors, write_head
from enclave.audit_config import AuditConfig
from enclave.audit_key import Keyring
from enclave.errors import EnclaveError
from enclave.hygiene import check_host_files
from enclave.models import AuditEvent, utcnow
from enclave.settings import Settings

from .factories import ACTOR
from .test_audit import drop_triggers, verified, write_events


def rows(registry) -> list[AuditEvent]:
    with registry.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def rewrite(registry, seq: int, **columns) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in columns)
    registry.execute(f"UPDATE audit_events SET {sets} WHERE seq = :seq", seq=seq, **columns)


# --- someone with the database alone ------------------------------------------------------------

def rebuild_with_plain_sha256(registry, from_seq: int) -> None:
    """Edit event ``from_seq`` then recompute every MAC and link from there with plain SHA-256, the
    head file too: a consistent chain, to anyone without the key."""
    rewrite(registry, from_seq, actor="mallory")
    prev = None
    for event in rows(registry):
        if event.seq < from_seq:
            prev = event.hash
            continue
        mac = hashlib.sha256(json.dumps([event.seq, event.actor, event.action, event.details]).encode()).hexdigest()
        link = hashlib.sha256(f"{prev}:{mac}".encode()).hexdigest()
        rewrite(registry, event.seq, prev_hash=prev, mac=mac, hash=link)
        prev = link
    write_head(registry.audit_head, event.seq, prev, force=True)


def rebuild_with_a_key_of_their_own(registry, from_seq: int) -> None:
    """The same with an HMAC of a key the attacker made up, under the real key's id."""
    own = secrets.token_bytes(32)
    rewrite(registry, from_seq, details=json.dumps({"index": 99}))
    prev = None
    for event in rows(registry):
        if event.seq < from_seq:
            prev = event.hash
            continue
        mac = hmac.new(own, f"{event.seq}{event.actor}{event.details}".encode(), "sha256").hexdigest()
        link = hmac.new(own, f"{prev}:{mac}".encode(), "sha256").hexdigest()
        rewrite(registry, event.seq, prev_hash=prev, mac=mac, hash=link)
        prev = link
    write_head(registry.audit_head, event.seq, prev, force=True)


def downgrade_to_unkeyed(registry, from_seq: int) -> None:
    """Pass the events off as written before the keyed chain: no key id, the old SHA-256 links."""
    rewrite(registry, from_seq, actor="mallory")
    prev = None
    for event in rows(registry):
        if event.seq >= from_seq:
            event.prev_hash = prev
            rewrite(registry, event.seq, key_id=None, mac=None, prev_hash=prev, hash=compute_hash(event))
            event.hash = compute_hash(event)
        prev = event.hash
    write_head(registry.audit_head, event.seq, prev, force=True)


REBUILDS = [rebuild_with_plain_sha256, rebuild_with_a_key_of_their_own, downgrade_to_unkeyed]


@pytest.mark.parametrize("rebuild", REBUILDS, ids=[r.__name__ for r in REBUILDS])
def test_a_chain_rebuilt_with_the_database_alone_is_named(registry, rebuild):
    write_events(registry, 6)
    assert verified(registry).ok  # the positive control: the same log, untouched, verifies
    drop_triggers(registry)
    rebuild(registry, 3)
    result = verified(registry)
    assert not result.ok and result.rebuilt_without_key
    assert result.first_bad_seq == 3
    assert result.relinked == (3, 4, 5, 6)
    assert 3 in result.changed and result.removed == () and result.inserted == ()
    assert "by someone who had the database but not the audit key" in result.problem
    cli = registry.cli("audit", "verify")
    assert cli.returncode == 1 and "rebuilt without the key: the links of events 3..6" in cli.stderr


def test_plain_sha256_rebuild_keeping_the_macs_names_only_the_edited_event_as_changed(registry):
    write_events(registry, 6)
    drop_triggers(registry)
    rewrite(registry, 4, actor="mallory")
    prev = rows(registry)[2].hash
    for event in rows(registry)[3:]:
        link = hashlib.sha256(f"{prev}:{event.mac}".encode()).hexdigest()
        rewrite(registry, event.seq, prev_hash=prev, hash=link)
        prev = link
    result = verified(registry)
    assert (result.changed, result.relinked, result.rebuilt_without_key) == ((4,), (4, 5, 6), True)
    assert "with plain SHA-256" in result.problem


# --- the transition from the unkeyed chain ------------------------------------------------------

def write_unkeyed(registry, n: int) -> None:
    """Events as the code before the keyed chain wrote them (no key id, SHA-256 links), and its head."""
    prev = GENESIS
    with registry.session() as session:
        for seq in range(1, n + 1):
            event = AuditEvent(seq=seq, at=utcnow(), actor=ACTOR, action="user.add", project=None,
                               details={"index": seq}, prev_hash=prev)
            event.hash = prev = compute_hash(event)
            session.add(event)
    write_head(registry.audit_head, n, prev)


def test_unkeyed_events_stay_verifiable_and_a_marked_event_starts_the_keyed_chain(registry):
    write_unkeyed(registry, 3)
    assert not (registry.home / "audit.key").exists()
    assert verified(registry).ok
    write_events(registry, 2)
    events = rows(registry)
    assert [e.key_id is None for e in events] == [True, True, True, False, False, False]
    transition = events[3]
    assert transition.action == "audit.keyed"
    assert transition.details == {"key_id": transition.key_id, "unkeyed_events": 3, "unkeyed_head": events[2].hash}
    assert Keyring.load(registry.home / "audit.key").keyed_from == 4
    assert verified(registry).ok
    drop_triggers(registry)
    rewrite(registry, 2, actor="mallory")  # an unkeyed event edited: still caught, by its SHA-256
    assert verified(registry).changed == (2,)


# --- the key ring -----------------------------------------------------------------------------

def test_rotated_keys_each_link_their_events_and_all_verify(registry):
    write_events(registry, 2)
    rotated = registry.cli("audit", "rotate-key", "--reason", "yearly rotation")
    assert rotated.returncode == 0, rotated.stderr
    write_events(registry, 2)
    ring = Keyring.load(registry.home / "audit.key")
    assert [k.from_seq for k in ring.keys] == [1, 3]
    events = rows(registry)
    assert events[2].action == "audit.key_rotate" and events[2].details["old_key_id"] == ring.keys[0].id
    assert [e.key_id for e in events] == [ring.keys[0].id] * 2 + [ring.keys[1].id] * 3
    assert rotated.stdout.startswith(f"audit key rotated: key {ring.keys[1].id} links events from 3 on")
    assert registry.cli("audit", "verify").stdout.startswith("audit log OK: 5 events")


def test_key_ring_exposed_or_lost_stops_writing_and_is_reported(registry):
    write_events(registry, 2)
    key_file = registry.home / "audit.key"
    key_file.chmod(0o644)
    with registry.session() as session, pytest.raises(EnclaveError, match="audit key file .* readable or writable by"):
        record(session, ACTOR, "user.add")
    settings = Settings.from_env(registry.env())
    with pytest.raises(EnclaveError, match="audit.key is readable or writable by other users"):
        check_host_files(settings, {})
    key_file.chmod(0o600)
    check_host_files(settings, {})  # the positive control
    key_file.rename(registry.home / "elsewhere.key")
    with registry.session() as session, pytest.raises(EnclaveError, match="which the key file .* does not hold"):
        record(session, ACTOR, "user.add")
    assert "the audit key ring" in verified(registry).problem and "is missing" in verified(registry).problem
    (registry.home / "elsewhere.key").rename(key_file)
    assert verified(registry).ok  # the positive control: the same log with its key ring back
    assert len(rows(registry)) == 2


# --- anchors outside the registry, and a notary ------------------------------------------------

def test_head_anchored_at_intervals_with_a_notary(registry, tmp_path, monkeypatch):
    received = tmp_path / "notary.json"
    notary = f"{sys.executable} -c \"import sys; open('{received}', 'w').write(sys.stdin.read()); print('receipt-42')\""
    monkeypatch.setenv("ENCLAVE_AUDIT_NOTARY", notary)
    write_events(registry, 3)
    anchors = read_anchors(registry.home / "audit.anchors")
    # the first commit anchors; the next ones fall within the hour (ENCLAVE_AUDIT_ANCHOR_INTERVAL)
    assert [(a["seq"], a["notary"]) for a in anchors] == [(1, "ok: receipt-42")]
    assert anchors[0]["head"] == rows(registry)[0].hash and anchors[0]["key_id"] == rows(registry)[0].key_id
    assert json.loads(received.read_text())["seq"] == 1
    config = AuditConfig.from_environ(registry.audit_head)
    later = datetime.now(UTC) + timedelta(seconds=config.anchor_interval)
    assert append_anchor(config, 3, rows(registry)[2].hash, None, now=later - timedelta(seconds=2)) is None
    assert append_anchor(config, 3, rows(registry)[2].hash, None, now=later + timedelta(seconds=1))["seq"] == 3
    monkeypatch.setenv("ENCLAVE_AUDIT_NOTARY", "/nonexistent/notary")
    config = AuditConfig.from_environ(registry.audit_head)
    assert append_anchor(config, 4, "f" * 64, None, force=True)["notary"].startswith("failed: ")
    assert (registry.home / "audit.anchors").stat().st_mode & 0o077 == 0


def test_anchors_catch_truncation_hidden_by_an_older_head_file(registry):
    write_events(registry, 6)
    config = AuditConfig.from_environ(registry.audit_head)
    sixth = rows(registry)[5]
    append_anchor(config, 6, sixth.hash, sixth.key_id, force=True)
    old_head = rows(registry)[3]
    drop_triggers(registry)
    registry.execute("DELETE FROM audit_events WHERE seq >= 5")
    write_head(registry.audit_head, 4, old_head.hash, force=True)  # the head file rolled back too
    result = verified(registry)
    assert result.removed == (5, 6) and result.first_bad_seq == 5


def test_tail_still_reads_the_keyed_events(registry):
    write_events(registry, 2, "cohort-k")
    with registry.session() as session:
        assert [e.details for e in tail(session, 5)] == [{"index": 0}, {"index": 1}]


def test_a_log_written_before_revision_0008_verifies_after_the_upgrade(new_database, tmp_path):
    """Events written at revision 0007 (no key columns), the database upgraded, then new events."""
    from alembic import command

    from enclave.db import alembic_config, make_engine, session_scope, upgrade

    url = new_database(False)
    engine = make_engine(url)
    head = tmp_path / "home" / "audit.head"
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0007")
        prev = GENESIS
        with engine.begin() as connection:
            for seq in (1, 2):
                event = AuditEvent(seq=seq, at=utcnow(), actor=ACTOR, action="user.add", project=None,
                                   details={"index": seq}, prev_hash=prev)
                prev = compute_hash(event)
                connection.exec_driver_sql(
                    "INSERT INTO audit_events (seq, at, actor, action, project, details, prev_hash, hash) "
                    "VALUES (%s)" % ", ".join(["?" if engine.dialect.name == "sqlite" else "%s"] * 8),
                    (seq, event.at if engine.dialect.name != "sqlite" else event.at.isoformat(sep=" "), ACTOR,
                     "user.add", None, json.dumps({"index": seq}), event.prev_hash, prev))
        write_head(head, 2, prev)
        upgrade(engine)
        with session_scope(engine, head) as session:
            assert verify(session, head).ok
            record(session, ACTOR, "user.add", index=3)
        with session_scope(engine, head) as session:
            assert [e.action for e in tail(session, 5)] == ["user.add", "user.add", "audit.keyed", "user.add"]
            result = verify(session, head)
        assert result.ok and result.events == 4, result.problem
    finally:
        engine.dispose()
