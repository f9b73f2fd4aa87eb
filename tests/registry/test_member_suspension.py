"""A member's access to one project: suspended (by hand or after repeated seal alarms) and lifted,
each audited; the alarms counted in a sliding window, never twice; the spawner's refusal. Both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from enclave import alarms, audit, suspension
from enclave.audit_actions import AuditAction
from enclave.errors import EnclaveError
from enclave.models import AuditEvent, ProjectState, utcnow
from spawner_config.access import SpawnRefused, check_spawn

from .factories import ACTOR, create_project_at_state

HITS, WINDOW = 3, timedelta(minutes=10)


@pytest.fixture
def cohort(registry):
    """Project ``cohort`` (active) with members bob and alice; project ``other`` with bob."""
    with registry.session() as session:
        create_project_at_state(session, "cohort", ProjectState.active, members=("bob", "alice"))
        create_project_at_state(session, "other", ProjectState.active, members=("bob",))
    return registry


def alarm(registry, user: str, slug: str = "cohort", kind: str = "encoded", **details) -> int:
    """A ``seal.alarm`` event as the seal writes it: actor the verified user, project the slug."""
    with registry.session() as session:
        return audit.record(session, user, AuditAction.seal_alarm, slug, kind=kind, channel="kernel", **details).seq


def offenders(registry, now=None) -> list[tuple[str, str]]:
    with registry.session() as session:
        rows = alarms.suspend_offenders(session, "reconciler", HITS, WINDOW, now or utcnow())
        return [(row.username, row.project_slug) for row in rows]


def events(registry, action: AuditAction) -> list[AuditEvent]:
    with registry.session() as session:
        found = session.scalars(select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.seq)).all()
        session.expunge_all()
        return list(found)


def test_suspend_and_lift_are_audited_and_checked(cohort):
    with cohort.session() as session:
        assert not suspension.is_suspended(session, "bob", "cohort")
        row = suspension.suspend(session, ACTOR, "cohort", "bob", "exfiltration attempt seen in the logs")
        assert row.suspended_by == ACTOR and row.suspended_at is not None and row.lifted_at is None
    with cohort.session() as session:
        assert suspension.is_suspended(session, "bob", "cohort")
        assert not suspension.is_suspended(session, "bob", "other")  # one project only
        assert not suspension.is_suspended(session, "alice", "cohort")
        with pytest.raises(EnclaveError, match="already suspended .* by operator-olga: exfiltration attempt"):
            suspension.suspend(session, ACTOR, "cohort", "bob", "again")
        with pytest.raises(EnclaveError, match="'carol' is not a member of project cohort"):
            suspension.suspend(session, ACTOR, "cohort", "carol", "not a member")
        with pytest.raises(EnclaveError, match="project 'nowhere' is not in the registry"):
            suspension.suspend(session, ACTOR, "nowhere", "bob", "no project")
        with pytest.raises(EnclaveError, match="needs a reason"):
            suspension.suspend(session, ACTOR, "other", "bob", "  ")
        with pytest.raises(EnclaveError, match="alice's access to project cohort is not suspended"):
            suspension.lift(session, ACTOR, "cohort", "alice", "nothing to lift")
    with cohort.session() as session:
        suspension.lift(session, "operator-omar", "cohort", "bob", "reviewed: a false alarm")
    with cohort.session() as session:
        assert not suspension.is_suspended(session, "bob", "cohort")
        assert suspension.current_suspensions(session) == []
        assert audit.verify(session, cohort.audit_head).ok
    (suspended,), (lifted,) = events(cohort, AuditAction.project_member_suspend), events(cohort, AuditAction.project_member_lift)
    assert (suspended.actor, suspended.project, suspended.details["username"]) == (ACTOR, "cohort", "bob")
    assert suspended.details["reason"] == "exfiltration attempt seen in the logs"
    assert (lifted.actor, lifted.details["username"], lifted.details["reason"]) == ("operator-omar", "bob", "reviewed: a false alarm")


def test_the_database_holds_one_suspension_in_force_per_member_and_project(cohort):
    """Two writers at once (the reconciler and an operator) cannot both suspend: the second row is refused."""
    with cohort.session() as session:
        suspension.suspend(session, ACTOR, "cohort", "bob", "by hand")
    insert = ("INSERT INTO member_suspensions (project_slug, username, suspended_at, suspended_by, reason, through_seq) "
              "VALUES ('cohort', 'bob', :at, 'reconciler', 'alarms', 0)")
    with pytest.raises(IntegrityError):
        cohort.execute(insert, at=utcnow())
    with cohort.session() as session:
        suspension.lift(session, ACTOR, "cohort", "bob", "reviewed")
    cohort.execute(insert, at=utcnow())  # lifted rows stay, and do not count


def test_a_suspended_member_is_refused_a_server_and_others_are_not(cohort):
    with cohort.session() as session:
        suspension.suspend(session, ACTOR, "cohort", "bob", "three encoded runs")
    with cohort.session() as session:
        with pytest.raises(SpawnRefused) as refused:
            check_spawn(session, "bob", "cohort")
        message = str(refused.value)
        assert "your access to project cohort is suspended since" in message and "(three encoded runs)" in message
        assert "only the operators can lift it" in message and "enclave member lift cohort bob" in message
        assert check_spawn(session, "alice", "cohort").username == "alice"  # the positive controls
        assert check_spawn(session, "bob", "other").slug == "other"


def test_repeated_content_alarms_suspend_once(cohort):
    first = [alarm(cohort, "bob"), alarm(cohort, "bob", kind="known_content")]
    alarm(cohort, "bob", kind="budget_50")   # budget shares inform, never count
    alarm(cohort, "bob", kind="budget_90")
    alarm(cohort, "bob", "other")            # another project of bob's
    alarm(cohort, "alice")                   # another member
    alarm(cohort, "alice", kind="pseudonyms")
    assert offenders(cohort) == []
    third = alarm(cohort, "bob", kind="image")
    assert offenders(cohort) == [("bob", "cohort")]
    assert offenders(cohort) == []  # the same events never suspend twice
    (event,) = events(cohort, AuditAction.project_member_suspend)
    assert (event.actor, event.project, event.details["username"]) == ("reconciler", "cohort", "bob")
    assert event.details["alarms"] == [*first, third] and event.details["hits"] == 3
    assert event.details["kinds"] == ["encoded", "image", "known_content"]
    assert "3 seal alarms (encoded, image, known_content) within 10 min" in event.details["reason"]
    with cohort.session() as session:
        assert suspension.is_suspended(session, "bob", "cohort")
        assert not suspension.is_suspended(session, "bob", "other")
        assert not suspension.is_suspended(session, "alice", "cohort")


def test_the_window_slides(cohort):
    for _ in range(HITS):
        alarm(cohort, "bob")
    later = utcnow() + WINDOW + timedelta(seconds=1)
    assert offenders(cohort, now=later) == []  # out of the window: counted no more
    before = utcnow() - timedelta(minutes=1)
    assert offenders(cohort, now=before) == []  # not yet written at that time
    assert offenders(cohort, now=utcnow() + WINDOW - timedelta(seconds=5)) == [("bob", "cohort")]


def test_lifting_does_not_let_the_same_alarms_suspend_again(cohort):
    for _ in range(HITS):
        alarm(cohort, "bob")
    assert offenders(cohort) == [("bob", "cohort")]
    alarm(cohort, "bob")  # written by the seal before the server stopped: seen by whoever lifts
    with cohort.session() as session:
        suspension.lift(session, ACTOR, "cohort", "bob", "reviewed with the PI")
    assert offenders(cohort) == []
    alarm(cohort, "bob")
    alarm(cohort, "bob")
    assert offenders(cohort) == []
    alarm(cohort, "bob")  # three new hits after the lifting: suspended again
    assert offenders(cohort) == [("bob", "cohort")]
    assert len(events(cohort, AuditAction.project_member_suspend)) == 2


def test_folded_alarms_count_by_their_hits_and_unknown_kinds_count(cohort):
    alarm(cohort, "bob", kind="encoded", folded=True, hits=5)  # the seal folds a flood into one event
    assert offenders(cohort) == [("bob", "cohort")]
    alarm(cohort, "alice", kind="some_new_kind")
    alarm(cohort, "alice", kind="some_new_kind")
    alarm(cohort, "alice", kind="some_new_kind")
    assert offenders(cohort) == [("alice", "cohort")]  # a kind not known here fails closed


def test_a_member_removed_since_is_not_suspended(cohort):
    for _ in range(HITS):
        alarm(cohort, "carol")  # not a member (the seal would not have served her)
    assert offenders(cohort) == []
    assert events(cohort, AuditAction.project_member_suspend) == []


def test_security_events_newest_first_with_the_verified_user(cohort):
    cut = None
    with cohort.session() as session:
        cut = audit.record(session, "bob", AuditAction.seal_content_cut, "cohort", kind="encoded", bytes=4096).seq
        audit.record(session, "alice", AuditAction.seal_refused, "cohort", path="/files/x", reason="a raw file transfer")
        audit.record(session, ACTOR, AuditAction.server_start, "cohort")  # not a security event
    alarm(cohort, "bob", "other", kind="budget_90")
    with cohort.session() as session:
        suspension.suspend(session, ACTOR, "other", "bob", "by hand")
    with cohort.session() as session:
        listed = alarms.security_events(session)
        assert [(e.action, e.user, e.project, e.kind, e.by) for e in listed] == [
            ("project.member.suspend", "bob", "other", "suspended", ACTOR),
            ("seal.alarm", "bob", "other", "budget_90", "seal"),
            ("seal.refused", "alice", "cohort", "refused", "seal"),
            ("seal.content_cut", "bob", "cohort", "encoded", "seal"),
        ]
        assert "reason a raw file transfer" in listed[2].summary and listed[3].seq == cut
        assert [e.project for e in alarms.security_events(session, slug="cohort")] == ["cohort", "cohort"]
        assert alarms.security_events(session, since=utcnow() + timedelta(seconds=1)) == []
        assert len(alarms.security_events(session, limit=1)) == 1


@pytest.mark.slow
def test_ops_commands(cohort):
    alarm(cohort, "bob", kind="known_content", path="/api/kernels/k/channels")
    suspended = cohort.cli("member", "suspend", "cohort", "bob", "--reason", "known content in a kernel's output")
    assert suspended.returncode == 0, suspended.stderr
    assert "bob's access to project cohort is suspended" in suspended.stdout
    again = cohort.cli("member", "suspend", "cohort", "bob", "--reason", "twice")
    assert again.returncode == 2 and again.stderr.startswith("error: bob's access to project cohort is already suspended")
    assert "bob (member) Bob — SUSPENDED since " in cohort.cli("show", "cohort").stdout
    listed = cohort.cli("member", "suspended").stdout
    assert "cohort" in listed and "bob" in listed and "known content in a kernel's output" in listed

    shown = cohort.cli("audit", "alarms", "--project", "cohort", "--since", "1h")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "TIME", "(UTC)", "USER"]
    assert "project.member.suspend" in lines[1] and "operator-olga" in lines[1]  # newest first
    assert "seal.alarm" in lines[2] and "bob" in lines[2] and "known_content" in lines[2] and "cohort" in lines[2]
    assert "no security event since" in cohort.cli("audit", "alarms", "--project", "other").stdout
    wrong = cohort.cli("audit", "alarms", "--since", "yesterday")
    assert wrong.returncode == 2 and "--since 'yesterday' is neither a duration nor a date" in wrong.stderr

    lifted = cohort.cli("member", "lift", "cohort", "bob", "--reason", "reviewed with the PI")
    assert lifted.returncode == 0 and "bob's access to project cohort is restored" in lifted.stdout
    assert "no member is suspended" in cohort.cli("member", "suspended").stdout
    assert "project.member.lift" in cohort.cli("audit", "alarms").stdout.splitlines()[1]
    missing = cohort.cli("member", "lift", "cohort", "bob", "--reason", "again")
    assert missing.returncode == 2 and "is not suspended" in missing.stderr
