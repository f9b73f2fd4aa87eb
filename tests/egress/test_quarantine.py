"""The quarantine holds the exact submitted bytes, readable only by the gate, and notices tampering."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from egress_gate import EgressError
from egress_gate.quarantine import Quarantine
from egress_gate.submission import open_submission


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_snapshot_is_content_addressed_and_private(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    data = (workspace / "outputs" / "table.csv").read_bytes()
    with open_submission(workspace, "outputs/table.csv", 1 << 20) as submitted:
        sha, size = q.snapshot(submitted)
    assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
    stored = tmp_path / "q" / "sha256" / sha[:2] / sha[2:]
    assert q.path(sha) == stored and stored.read_bytes() == data
    assert mode(stored) == 0o400
    for d in (tmp_path / "q", tmp_path / "q" / "sha256", stored.parent):
        assert mode(d) == 0o700
    assert list((tmp_path / "q" / "tmp").iterdir()) == []  # no temporary left behind


def test_a_later_change_to_the_workspace_file_does_not_change_the_request(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    path = workspace / "outputs" / "table.csv"
    before = path.read_bytes()
    with open_submission(workspace, "outputs/table.csv", 1 << 20) as submitted:
        sha, _ = q.snapshot(submitted)
    path.write_text("region,n\nA,1\n")  # in place, same inode
    assert q.open(sha) == before
    path.unlink()
    assert q.open(sha) == before


def test_snapshot_reads_from_the_start_whatever_the_descriptor_offset(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    with open_submission(workspace, "outputs/table.csv", 1 << 20) as submitted:
        os.lseek(submitted.fd, 5, os.SEEK_SET)
        sha, size = q.snapshot(submitted.fd)
    assert q.open(sha) == (workspace / "outputs" / "table.csv").read_bytes()


def test_the_same_bytes_twice_are_stored_once(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    first = q.snapshot(workspace / "outputs" / "table.csv")
    second = q.snapshot(workspace / "outputs" / "table.csv")
    assert first == second
    assert sum(1 for p in (tmp_path / "q" / "sha256").rglob("*") if p.is_file()) == 1


def test_a_file_that_grew_past_the_limit_is_refused_and_leaves_nothing(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    (workspace / "grow.csv").write_bytes(b"x" * 10)
    with open_submission(workspace, "grow.csv", 10) as submitted:
        (workspace / "grow.csv").write_bytes(b"x" * 100)
        with pytest.raises(EgressError, match="grew past the limit of 10 bytes"):
            q.snapshot(submitted, 10)
    assert list((tmp_path / "q" / "tmp").iterdir()) == []
    assert not any(p.is_file() for p in (tmp_path / "q" / "sha256").rglob("*"))


def test_tampering_is_detected(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    sha, _ = q.snapshot(workspace / "outputs" / "table.csv")
    stored = q.path(sha)
    os.chmod(stored, 0o600)
    stored.write_text("region,n\nA,3\n")
    with pytest.raises(EgressError, match="does not match its hash") as err:
        q.open(sha)
    assert str(stored) in str(err.value)


def test_a_missing_object_and_a_bad_hash_are_refused(tmp_path):
    q = Quarantine(tmp_path / "q")
    with pytest.raises(EgressError, match="is missing"):
        q.open("a" * 64)
    for bad in ("../../etc/passwd", "A" * 64, "a" * 63, ""):
        with pytest.raises(EgressError, match="not a SHA-256"):
            q.open(bad)


def test_a_damaged_copy_is_replaced_by_a_new_snapshot_of_the_true_bytes(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    sha, _ = q.snapshot(workspace / "outputs" / "table.csv")
    os.chmod(q.path(sha), 0o600)
    q.path(sha).write_text("damaged")
    assert q.snapshot(workspace / "outputs" / "table.csv")[0] == sha
    assert q.open(sha) == (workspace / "outputs" / "table.csv").read_bytes()


def test_export_writes_the_verified_bytes_under_a_name(workspace, tmp_path):
    q = Quarantine(tmp_path / "q")
    sha, _ = q.snapshot(workspace / "outputs" / "table.csv")
    out = q.export(sha, tmp_path / "table.csv")
    assert out.read_bytes() == (workspace / "outputs" / "table.csv").read_bytes()
