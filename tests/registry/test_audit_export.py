"""The SIEM export: every event type, in order, verified, in ECS JSON lines or RFC 5424; resumable; followed."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time

from sqlalchemy import select

from enclave.audit import record
from enclave.audit_actions import AuditAction
from enclave.models import AuditEvent

from ..conftest import REPO
from .factories import ACTOR
from .test_audit import drop_triggers

SOURCE = "192.0.2.7"


def record_every_action(registry) -> list[str]:
    """One event of each audit action, in the enum's order; the refusals carry a source address."""
    actions = [a.value for a in AuditAction]
    with registry.session() as session:
        for i, action in enumerate(actions):
            extra = {"source_ip": SOURCE} if action.endswith(".refused") else {}
            record(session, f"user-{i % 3}", action, "cohort-x" if i % 2 else None, index=i, **extra)
    return actions


def export_lines(registry, *args: str) -> list[str]:
    done = registry.cli("audit", "export", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_ecs_export_streams_every_event_type_in_order_verified(registry):
    actions = record_every_action(registry)
    documents = [json.loads(line) for line in export_lines(registry, "--format", "ecs")]
    with registry.session() as session:
        links = dict(session.execute(select(AuditEvent.seq, AuditEvent.hash)).all())
    assert [d["event"]["sequence"] for d in documents] == list(range(1, len(actions) + 1))
    assert [d["event"]["action"] for d in documents] == actions
    for i, d in enumerate(documents):
        assert d["ecs"]["version"].startswith("8.") and d["@timestamp"].endswith("Z")
        assert d["user"]["name"] == f"user-{i % 3}"
        assert d["enclave"]["chain"] == {"seq": i + 1, "link": links[i + 1], "prev_link": d["enclave"]["chain"]["prev_link"],
                                         "key_id": d["enclave"]["chain"]["key_id"], "verified": True}
        assert d["event"]["hash"] == links[i + 1]
        assert d.get("labels") == ({"project": "cohort-x"} if i % 2 else None)
        refused = d["event"]["action"].endswith(".refused")
        failed = refused or d["event"]["action"] in ("auth.totp.failure", "auth.totp.locked", "seal.output_capped", "seal.alarm")
        assert d["event"]["outcome"] == ("failure" if failed else "success"), d["event"]["action"]
        assert d.get("source") == ({"ip": SOURCE, "address": SOURCE} if refused else None)
    assert {d["event"]["outcome"] for d in documents} == {"success", "failure"}


def test_syslog_export_is_rfc5424(registry):
    actions = record_every_action(registry)
    lines = export_lines(registry, "--format", "syslog")
    assert len(lines) == len(actions)
    pattern = re.compile(r'^<(\d+)>1 (\S+Z) (\S+) enclave - (\S+) \[enclave@32473 seq="(\d+)" actor="([^"]+)" '
                         r'project="([^"]+)" outcome="(\w+)" src="([^"]+)" link="([0-9a-f]{64})" key="([0-9a-f]{16})" '
                         r'verified="true"\] \ufeff(\{.*\})$')
    for seq, (line, action) in enumerate(zip(lines, actions, strict=True), 1):
        match = pattern.match(line)
        assert match, line
        pri, _, _, msgid, line_seq, _, _, outcome, src, *_ , message = match.groups()
        assert (msgid, int(line_seq)) == (action, seq)
        assert int(pri) == 13 * 8 + (4 if outcome == "failure" else 5)
        assert src == (SOURCE if action.endswith(".refused") else "-")
        assert json.loads(message)["index"] == seq - 1


def test_export_resumes_from_a_seq_or_a_cursor_file(registry, tmp_path):
    actions = record_every_action(registry)
    after = [json.loads(line)["event"]["sequence"] for line in export_lines(registry, "--since-seq", "10")]
    assert after == list(range(11, len(actions) + 1))
    cursor = tmp_path / "siem.cursor"
    first = export_lines(registry, "--cursor", str(cursor), "--since-seq", "5")
    assert len(first) == len(actions) - 5 and cursor.read_text() == f"{len(actions)}\n"
    assert export_lines(registry, "--cursor", str(cursor)) == []  # nothing new: nothing repeated
    with registry.session() as session:
        record(session, ACTOR, "user.add", username="newcomer")
    (line,) = export_lines(registry, "--cursor", str(cursor))
    assert json.loads(line)["event"]["sequence"] == len(actions) + 1
    cursor.write_text("yesterday\n")
    bad = registry.cli("audit", "export", "--cursor", str(cursor))
    assert bad.returncode != 0 and "holds 'yesterday', not a seq" in bad.stderr


def test_a_tampered_event_is_exported_as_not_verified(registry):
    record_every_action(registry)
    drop_triggers(registry)
    registry.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    verified = [json.loads(line)["enclave"]["chain"]["verified"] for line in export_lines(registry)]
    assert verified[3] is False and verified.count(False) == 1


class Lines:
    """Lines of a follower's standard output, read straight from the pipe (no hidden buffer to wait on)."""

    def __init__(self, process: subprocess.Popen):
        self.process, self.pending = process, b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)

    def read(self, n: int, deadline: float = 120.0) -> list[str]:
        """``n`` more lines, waiting as long as it takes (up to a generous deadline)."""
        end = time.monotonic() + deadline
        while (have := self.pending.count(b"\n")) < n:
            assert time.monotonic() < end, f"the follower wrote {have} of {n} lines"
            if self.selector.select(timeout=1.0):
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                assert chunk, f"the follower stopped: {self.process.stderr.read()}"
                self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n", n)
        return [line.decode() for line in lines]


def test_follow_writes_new_events_as_they_are_recorded_and_resumes(registry, tmp_path):
    actions = record_every_action(registry)
    cursor = tmp_path / "follow.cursor"
    follower = subprocess.Popen([sys.executable, "-m", "enclave.cli", "audit", "export", "--follow", "--poll", "0.1",
                                 "--cursor", str(cursor)], cwd=REPO, env={**os.environ, **registry.env()},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(follower)
    try:
        seen = lines.read(len(actions))
        with registry.session() as session:
            record(session, ACTOR, "server.start", "cohort-x", container="c1")
        with registry.session() as session:
            record(session, ACTOR, "server.stop", "cohort-x", reason="idle")
        seen += lines.read(2)
    finally:
        follower.terminate()
        follower.wait(timeout=60)
        follower.stdout.close()
        follower.stderr.close()
    seqs = [json.loads(line)["event"]["sequence"] for line in seen]
    assert seqs == list(range(1, len(actions) + 3))
    assert [json.loads(line)["event"]["action"] for line in seen[-2:]] == ["server.start", "server.stop"]
    assert cursor.read_text() == f"{len(actions) + 2}\n"
    assert export_lines(registry, "--cursor", str(cursor)) == []
