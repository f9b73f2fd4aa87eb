"""The release store and its ledger: approved bytes only, and every kind of tampering named."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from egress_gate import EgressError
from egress_gate.release import ReleaseStore

FINDINGS = [{"check": "small_counts", "outcome": "pass", "message": "no count under 10"}]
DECISIONS = [{"steward": "s1", "vote": "approve", "reason": "aggregated"},
             {"steward": "s2", "vote": "approve", "reason": "ok"}]


def item(name: str, data: bytes) -> tuple[str, str, bytes]:
    return name, hashlib.sha256(data).hexdigest(), data


def store_with(tmp_path, n: int = 3) -> ReleaseStore:
    store = ReleaseStore(tmp_path / "releases")
    for i in range(1, n + 1):
        store.release(f"req-{i}", [item("table.csv", f"g,n\na,{10 * i}\n".encode())], FINDINGS, DECISIONS, "2025.1")
    return store


def lines(store) -> list[str]:
    return store.ledger.read_text().splitlines(keepends=True)


def test_release_copies_the_bytes_and_chains_the_ledger(tmp_path):
    store = ReleaseStore(tmp_path / "releases")
    data = b"g,n\na,15\n"
    first = store.release("req-1", [item("table.csv", data), item("notes.md", b"# ok\n")], FINDINGS, DECISIONS, "2025.1")
    second = store.release("req-2", [item("t.csv", b"x\n")], [], DECISIONS, "2025.1+abcd")
    assert (tmp_path / "releases" / "req-1" / "table.csv").read_bytes() == data
    assert stat.S_IMODE(os.stat(tmp_path / "releases" / "req-1" / "table.csv").st_mode) == 0o400
    assert first.seq == 1 and first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert first.files[0] == {"name": "table.csv", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    recorded = json.loads(lines(store)[0])
    assert recorded["decisions"] == DECISIONS and recorded["policy_version"] == "2025.1"
    assert store.verify_ledger().ok and store.verify_ledger().entries == 2
    assert store.read("req-1", "table.csv") == data
    assert not [p for p in (tmp_path / "releases").iterdir() if p.name.startswith(".stage")]


def test_bytes_other_than_the_approved_ones_are_refused(tmp_path):
    store = ReleaseStore(tmp_path / "releases")
    name, sha, _ = item("table.csv", b"approved\n")
    with pytest.raises(EgressError, match="table.csv hashes to"):
        store.release("req-1", [(name, sha, b"swapped\n")], FINDINGS, DECISIONS, "2025.1")
    assert not (tmp_path / "releases" / "req-1").exists() and not store.ledger.exists()


@pytest.mark.parametrize("request_id,name", [("../x", "a.csv"), ("req", "../a.csv"), ("req", "a/b.csv"),
                                             ("req", ".hidden"), ("", "a.csv"), ("req", "")])
def test_unsafe_names_are_refused(tmp_path, request_id, name):
    with pytest.raises(EgressError, match="is not allowed"):
        ReleaseStore(tmp_path / "r").release(request_id, [item(name, b"x")], [], [], "v")


def test_a_request_is_released_once(tmp_path):
    store = store_with(tmp_path, 1)
    with pytest.raises(EgressError, match="already released"):
        store.release("req-1", [item("table.csv", b"x")], [], [], "v")
    assert store.verify_ledger().entries == 1


def test_non_json_findings_are_refused(tmp_path):
    with pytest.raises(EgressError, match="findings to record are not plain JSON"):
        ReleaseStore(tmp_path / "r").release("req", [item("a.csv", b"x")], [{"x": object()}], [], "v")


def test_an_edited_entry_is_named(tmp_path):
    store = store_with(tmp_path)
    text = lines(store)
    text[1] = text[1].replace('"vote":"approve"', '"vote":"reject"', 1)
    store.ledger.write_text("".join(text))
    check = store.verify_ledger()
    assert not check.ok and check.first_bad_seq == 2 and "does not match its hash" in check.problem
    assert "entry 2" in str(check)


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link(tmp_path):
    from egress_gate.release import LedgerEntry, entry_hash

    store = store_with(tmp_path)
    text = lines(store)
    entry = json.loads(text[1])
    entry["decisions"] = []
    entry["hash"] = entry_hash(LedgerEntry(**entry).fields())
    text[1] = json.dumps(entry) + "\n"
    store.ledger.write_text("".join(text))
    check = store.verify_ledger()
    assert check.first_bad_seq == 3 and "chains to" in check.problem


def test_a_deleted_entry_is_named(tmp_path):
    store = store_with(tmp_path)
    text = lines(store)
    del text[1]
    store.ledger.write_text("".join(text))
    check = store.verify_ledger()
    assert check.first_bad_seq == 2 and "missing or out of place" in check.problem


def test_an_inserted_entry_is_named(tmp_path):
    from egress_gate.release import LedgerEntry, entry_hash

    store = store_with(tmp_path)
    text = lines(store)
    first = json.loads(text[0])
    forged = {**first, "seq": 2, "request_id": "forged", "prev_hash": first["hash"]}
    forged["hash"] = entry_hash(LedgerEntry(**forged).fields())
    text.insert(1, json.dumps(forged) + "\n")
    store.ledger.write_text("".join(text))
    check = store.verify_ledger()
    assert check.first_bad_seq == 3 and not check.ok


def test_reordered_entries_are_named(tmp_path):
    store = store_with(tmp_path)
    text = lines(store)
    text[1], text[2] = text[2], text[1]
    store.ledger.write_text("".join(text))
    check = store.verify_ledger()
    assert check.first_bad_seq == 2 and "out of place" in check.problem


def test_truncation_is_caught_by_the_head_file(tmp_path):
    store = store_with(tmp_path)
    store.ledger.write_text("".join(lines(store)[:2]))
    check = store.verify_ledger()
    assert check.first_bad_seq == 3 and "truncated" in check.problem
    store.ledger.write_text("")
    assert store.verify_ledger().first_bad_seq == 1
    with pytest.raises(EgressError, match="does not end at its head file"):
        store.release("req-9", [item("a.csv", b"x")], [], [], "v")  # no append on a broken ledger


def test_a_torn_last_line_and_a_garbage_line_are_named(tmp_path):
    store = store_with(tmp_path)
    text = "".join(lines(store))
    store.ledger.write_text(text[:-10])
    check = store.verify_ledger()
    assert check.first_bad_seq == 3 and "incomplete" in check.problem
    with pytest.raises(EgressError, match="ends with a damaged entry"):
        store.release("req-9", [item("a.csv", b"x")], [], [], "v")
    store.ledger.write_text("not json\n" + "".join(text.splitlines(True)[1:]))
    assert store.verify_ledger().first_bad_seq == 1


def test_a_missing_head_file_is_reported(tmp_path):
    store = store_with(tmp_path, 1)
    store.head.unlink()
    check = store.verify_ledger()
    assert not check.ok and check.first_bad_seq is None and "head file" in check.problem
    assert ReleaseStore(tmp_path / "empty").verify_ledger().ok


def test_a_tampered_released_file_is_not_served(tmp_path):
    store = store_with(tmp_path, 1)
    path = tmp_path / "releases" / "req-1" / "table.csv"
    os.chmod(path, 0o600)
    path.write_text("g,n\na,3\n")
    with pytest.raises(EgressError, match="does not match the hash in the ledger"):
        store.read("req-1", "table.csv")
    with pytest.raises(EgressError, match="never released"):
        store.read("req-1", "other.csv")
