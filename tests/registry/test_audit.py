"""The audit log: chained appends, the head file, triggers, tampering of every kind, concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from enum import Enum

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from enclave import audit
from enclave.audit import GENESIS, VerifyResult, compute_hash, read_head, record, tail, verify
from enclave.audit_chain import content_mac, keyed_link
from enclave.audit_key import Keyring
from enclave.db import make_engine, session_scope
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, ProjectState, utcnow

from .factories import ACTOR, create_project_at_state


def write_events(registry, n: int, project: str | None = None) -> None:
    for i in range(n):
        with registry.session() as session:
            record(session, ACTOR, "user.add", project, index=i)


def verified(registry) -> VerifyResult:
    with registry.session() as session:
        return verify(session, registry.audit_head)


def test_events_chain_from_genesis_and_the_head_file_follows_the_last_commit(registry):
    write_events(registry, 3)
    with registry.session() as session:
        first, second, third = session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash and third.prev_hash == second.hash
    key = Keyring.load(registry.home / "audit.key").for_seq(1)
    assert (registry.home / "audit.key").stat().st_mode & 0o777 == 0o600
    assert all(e.key_id == key.id and e.mac == content_mac(key, e) and e.hash == keyed_link(key, e.prev_hash, e.mac)
               for e in (first, second, third))
    assert all(compute_hash(e) != e.hash for e in (first, second, third))  # no longer the unkeyed SHA-256
    assert first.at.tzinfo is not None
    assert read_head(registry.audit_head) == (3, third.hash)
    result = verified(registry)
    assert result.ok and (result.events, result.head_hash) == (3, third.hash)
    assert str(result) == f"audit log OK: 3 events, head {third.hash}"


def test_rolled_back_event_leaves_neither_row_nor_head(registry):
    write_events(registry, 1)
    with pytest.raises(RuntimeError), registry.session() as session:
        record(session, ACTOR, "user.add")
        raise RuntimeError("the change failed")
    assert read_head(registry.audit_head)[0] == 1
    assert verified(registry).events == 1


class Colour(Enum):
    red = "red"


def test_details_become_plain_json_that_verifies(registry):
    with registry.session() as session:
        record(session, ACTOR, "user.add", when=date(2025, 1, 2), roles={"b", "a"}, colour=Colour.red,
               reason="accès révoqué", nested={"n": [1, 2.5, None]})
    with registry.session() as session:
        (event,) = tail(session, 1)
    assert event.details == {"when": "2025-01-02", "roles": ["a", "b"], "colour": "red", "reason": "accès révoqué",
                             "nested": {"n": [1, 2.5, None]}}
    assert verified(registry).ok


def test_recording_needs_the_head_file_and_an_actor(registry):
    with session_scope(registry.engine) as session, pytest.raises(EnclaveError, match="without an audit head file"):
        record(session, ACTOR, "user.add")
    with registry.session() as session, pytest.raises(EnclaveError, match="has no actor .* ENCLAVE_ACTOR"):
        record(session, "", "user.add")


def test_only_known_actions_are_recorded(registry):
    with registry.session() as session, pytest.raises(EnclaveError, match="'project.pause' is not an audit action"):
        record(session, ACTOR, "project.pause")
    assert verified(registry).events == 0


def test_every_lifecycle_and_egress_action_has_its_audit_action():
    from egress_gate.workflow import Action as EgressAction
    from enclave.audit_actions import AuditAction
    from enclave.lifecycle import Action as LifecycleAction

    known = {str(a) for a in AuditAction}
    missing = [f"project.{a}" for a in LifecycleAction if f"project.{a}" not in known]
    missing += [f"egress.{a}" for a in EgressAction if f"egress.{a}" not in known]
    assert missing == [], f"add these to enclave.audit_actions.AuditAction: {missing}"


def test_tail_gives_the_last_events_oldest_first_optionally_of_one_project(registry):
    write_events(registry, 3, "cohort-a")
    write_events(registry, 2)
    with registry.session() as session:
        assert [e.seq for e in tail(session, 2)] == [4, 5]
        assert [e.seq for e in tail(session, 10, project="cohort-a")] == [1, 2, 3]


# --- the triggers ---------------------------------------------------------------------------

def test_triggers_refuse_update_and_delete(registry):
    write_events(registry, 2)
    for statement in ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
                      "DELETE FROM audit_events WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="audit_events is append-only"):
            registry.execute(statement)
    if registry.backend == "postgresql":
        with pytest.raises(DBAPIError, match="audit_events is append-only: TRUNCATE refused"):
            registry.execute("TRUNCATE audit_events")
    with pytest.raises(DBAPIError, match="append-only"), registry.session() as session:
        session.get(AuditEvent, 1).actor = "mallory"  # through the ORM too
    assert verified(registry).ok


# --- tampering by someone with database access, who drops the triggers first ----------------

def drop_triggers(registry) -> None:
    suffix = " ON audit_events" if registry.backend == "postgresql" else ""
    for trigger in ("audit_events_no_update", "audit_events_no_delete"):
        registry.execute(f"DROP TRIGGER {trigger}{suffix}")


def rehash(registry, seq: int) -> None:
    """What an attacker who read enclave/audit.py does after editing an event: fix its hash."""
    with registry.session() as session:
        event = session.get(AuditEvent, seq)
        new_hash = compute_hash(event)
    registry.execute("UPDATE audit_events SET hash = :h WHERE seq = :s", h=new_hash, s=seq)


def edit(registry):
    registry.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")


def edit_and_rehash(registry):
    edit(registry)
    rehash(registry, 3)


def delete(registry):
    registry.execute("DELETE FROM audit_events WHERE seq = 3")


def insert(registry):
    """A forged event 3, well chained to event 2 and well hashed; the later ones shifted up."""
    registry.execute("UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 3")
    registry.execute("UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000")
    with registry.session() as session:
        prev_hash = session.get(AuditEvent, 2).hash
    forged = AuditEvent(seq=3, at=utcnow(), actor="mallory", action="user.add", project=None,
                        details={"username": "mallory"}, prev_hash=prev_hash)
    forged.hash = compute_hash(forged)
    with session_scope(registry.engine) as session:
        session.add(forged)


def reorder(registry):
    registry.execute("UPDATE audit_events SET seq = 1003 WHERE seq = 3")
    registry.execute("UPDATE audit_events SET seq = 3 WHERE seq = 4")
    registry.execute("UPDATE audit_events SET seq = 4 WHERE seq = 1003")


def truncate(registry):
    registry.execute("DELETE FROM audit_events WHERE seq >= 5")


def rewrite_all(registry):
    """Every event from 3 on edited and the whole chain re-hashed: only the head file can tell."""
    edit(registry)
    for seq in range(3, 7):
        with registry.session() as session:
            prev_hash = session.get(AuditEvent, seq - 1).hash
        registry.execute("UPDATE audit_events SET prev_hash = :p WHERE seq = :s", p=prev_hash, s=seq)
        rehash(registry, seq)


TAMPERING = [
    (edit, 3, {"changed": (3,)}, "changed: event 3 (content not what the key signed)"),
    (edit_and_rehash, 3, {"changed": (3,), "relinked": (3,), "rebuilt_without_key": True},
     "rebuilt without the key: the link of event 3 was recomputed with plain SHA-256"),
    (delete, 3, {"removed": (3,)}, "removed: event 3"),
    (insert, 3, {"inserted": (3,), "relinked": (3,), "moved": ((4, 3), (5, 4), (6, 5), (7, 6)),
                 "rebuilt_without_key": True},
     "inserted: event 3 (not made with the key)"),
    (reorder, 3, {"moved": ((3, 4), (4, 3))}, "moved: event 3 (was 4), event 4 (was 3)"),
    (truncate, 5, {"removed": (5, 6)}, "removed: events 5..6"),
    (rewrite_all, 3, {"changed": (3,), "relinked": (3, 4, 5, 6), "rebuilt_without_key": True},
     "the links of events 3..6 were recomputed with plain SHA-256 by someone who had the database but not the audit key"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "named", "problem"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
def test_tampering_is_named_event_by_event(registry, tamper, first_bad, named, problem):
    write_events(registry, 6)
    drop_triggers(registry)
    tamper(registry)
    result = verified(registry)
    assert not result.ok
    assert result.first_bad_seq == first_bad and problem in result.problem, result.problem
    for name in ("changed", "removed", "inserted", "moved", "relinked"):
        assert getattr(result, name) == named.get(name, ()), (name, result.problem)
    assert result.rebuilt_without_key == named.get("rebuilt_without_key", False)
    cli = registry.cli("audit", "verify")
    assert cli.returncode == 1
    assert cli.stderr.startswith(f"audit log BROKEN at event {first_bad}: ") and problem in cli.stderr


def test_missing_or_corrupt_head_file_is_reported(registry):
    write_events(registry, 2)
    registry.audit_head.write_text("{not json")
    assert "is unreadable" in verified(registry).problem
    registry.audit_head.unlink()
    result = verified(registry)
    assert result.first_bad_seq is None and "head file" in result.problem and "missing" in result.problem
    anchored = registry.cli("audit", "anchor", "--reason", "head file lost with the old disk")
    assert anchored.returncode == 0 and anchored.stdout.startswith("audit head re-anchored at event 3 ")
    with registry.session() as session:
        (event,) = tail(session, 1)
    assert event.details == {"reason": "head file lost with the old disk", "previous_head": "missing"}
    assert registry.cli("audit", "verify").stdout.startswith("audit log OK: 3 events")


def test_events_past_the_head_are_reported_then_anchor_accepts_them(registry):
    write_events(registry, 2)
    head = registry.audit_head.read_text()
    write_events(registry, 1)
    registry.audit_head.write_text(head)  # as after a crash between the commit and the head write
    result = verified(registry)
    assert result.first_bad_seq == 3 and "past the head file" in result.problem
    with registry.session() as session:
        event = audit.anchor(session, ACTOR, "crash on 2025-06-01, event 3 checked")
    assert event.details["previous_head"]["seq"] == 2
    assert verified(registry).ok and read_head(registry.audit_head) == (4, event.hash)


def test_concurrent_writers_build_one_valid_chain(registry):
    writers, per_writer = 4, 15

    def write(writer: int) -> None:
        engine = make_engine(registry.url)  # one engine each, as separate processes would have
        try:
            for i in range(per_writer):
                with session_scope(engine, registry.audit_head) as session:
                    record(session, f"writer-{writer}", "user.add", i=i)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    total = writers * per_writer
    with registry.session() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert session.scalar(select(func.count(func.distinct(AuditEvent.actor)))) == writers
    assert seqs == list(range(1, total + 1))
    assert verified(registry).ok and read_head(registry.audit_head)[0] == total


def test_every_registry_change_is_in_the_log(registry):
    with registry.session() as session:
        create_project_at_state(session, "cohort-h", ProjectState.active, members=("mia",))
    with registry.session() as session:
        actions = [e.action for e in tail(session, 100)]
    assert actions == ["user.add", "user.add", "project.register", "project.review", "project.authorise",
                       "project.provision", "project.activate"]
    assert json.loads(registry.audit_head.read_text())["seq"] == 7
