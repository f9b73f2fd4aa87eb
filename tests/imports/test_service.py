"""Imports from the browser: the gate's upload API (resumable), the scan in the background, stewards' votes
on the Imports page, and the same through a real Chromium."""

from __future__ import annotations

import re
import time

import pytest

from airlock.publish import DICTIONARY
from enclave.layout import import_quarantine_dir, imports_dir

from ..egress.service_fixtures import PREFIX
from ..egress.workflow_fixtures import SLUG
from . import hostile_imports as hostile

CSV = b"code,label\nA01,cholera\nA02,other salmonella infections\n" * 1000


def wait_for_state(server, user: str, import_id: int, states: tuple[str, ...], timeout: float = 120) -> dict:
    """Poll the import until it reaches one of ``states`` (the scan runs in a worker, however long it takes)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = server.api(user, "GET", f"imports/{import_id}").json()
        if answer["state"] in states or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def upload(server, user: str, name: str, data: bytes, chunk: int, drop_after: int | None = None) -> dict:
    created = server.api(user, "POST", "imports", json={"project": SLUG, "purpose": "ICD-10 labels for table 2"})
    assert created.status_code == 201, created.text
    import_id = created.json()["id"]
    token = server.api(user, "POST", f"imports/{import_id}/uploads", json={"name": name, "size": len(data)}).json()["token"]
    offset, sent = 0, 0
    while offset < len(data):
        if drop_after is not None and sent == drop_after:
            sent += 1  # this chunk is "lost" with the connection; the client asks where to resume
            offset = server.api(user, "GET", f"imports/{import_id}/uploads/{token}").json()["offset"]
            assert not (import_quarantine_dir(server.gate.config.settings.project_dir(SLUG)) / str(import_id) / name).exists()
            continue
        answer = server.api(user, "PUT", f"imports/{import_id}/uploads/{token}?offset={offset}", data=data[offset: offset + chunk])
        assert answer.status_code == 200, answer.text
        offset, sent = answer.json()["offset"], sent + 1
    done = server.api(user, "POST", f"imports/{import_id}/uploads/{token}/complete")
    assert done.status_code == 200, done.text
    submitted = server.api(user, "POST", f"imports/{import_id}/submit")
    assert submitted.status_code == 200, submitted.text
    return {"id": import_id, **done.json()}


def test_an_upload_resumed_through_the_api_is_scanned_then_approved_by_two_stewards(gate_server):
    server = gate_server
    done = upload(server, "remi", "labels.csv", CSV, chunk=10_000, drop_after=2)
    import hashlib
    assert done["sha256"] == hashlib.sha256(CSV).hexdigest()
    state = wait_for_state(server, "remi", done["id"], ("scanned", "blocked"))
    assert state["state"] == "scanned", state
    assert any(f["check"] == "malware" and f["outcome"] == "review" for f in state["files"][0]["findings"])
    page = server.page("sven", "imports")
    assert f"Import {done['id']} into {SLUG}" in page.text and "no malware signatures" in page.text
    assert f"Import {done['id']}" not in server.page("max", "imports").text  # a member-steward is not shown it
    for steward in ("sven", "stella"):
        answer = server.form_post(steward, f"imports/{done['id']}/decision",
                                  {"vote": "approve", "reason": "a public nomenclature"}, from_page="imports")
        assert answer.status_code == 302, answer.text
    assert wait_for_state(server, "remi", done["id"], ("approved",))["state"] == "approved"
    folder = imports_dir(server.gate.config.settings.project_dir(SLUG))
    assert (folder / f"import-{done['id']}" / "labels.csv").read_bytes() == CSV
    assert "labels.csv" in (folder / DICTIONARY).read_text()


def test_a_member_steward_cannot_vote_and_an_outsider_cannot_upload(gate_server):
    server = gate_server
    done = upload(server, "remi", "labels.csv", CSV[:100], chunk=1000)
    wait_for_state(server, "remi", done["id"], ("scanned", "blocked"))
    refused = server.form_post("max", f"imports/{done['id']}/decision", {"vote": "approve", "reason": "mine"},
                               from_page="imports")
    assert refused.status_code == 403 and "member" in refused.text
    outsider = server.api("nora", "POST", "imports", json={"project": SLUG, "purpose": "my data"})
    assert outsider.status_code == 403 and "not a member" in outsider.json()["error"]
    other = server.api("mona", "POST", f"imports/{done['id']}/uploads", json={"name": "x.csv", "size": 3})
    assert other.status_code == 404, other.text  # another member's import is not hers to see
    unknown = server.api("remi", "GET", "imports/999999")
    assert unknown.status_code == 404 and "no import 999999" in unknown.json()["error"], unknown.text


def test_a_chunk_with_a_gap_is_refused_and_nothing_is_visible_before_completion(gate_server):
    server = gate_server
    import_id = server.api("remi", "POST", "imports", json={"project": SLUG, "purpose": "labels"}).json()["id"]
    token = server.api("remi", "POST", f"imports/{import_id}/uploads", json={"name": "a.csv", "size": 10}).json()["token"]
    gap = server.api("remi", "PUT", f"imports/{import_id}/uploads/{token}?offset=5", data=b"12345")
    assert gap.status_code == 400 and "resume from offset 0" in gap.json()["error"]
    server.api("remi", "PUT", f"imports/{import_id}/uploads/{token}?offset=0", data=b"12345")
    early = server.api("remi", "POST", f"imports/{import_id}/uploads/{token}/complete")
    assert early.status_code == 400 and "5 of its 10 bytes" in early.json()["error"]
    assert not (import_quarantine_dir(server.gate.config.settings.project_dir(SLUG)) / str(import_id)).exists()


def test_a_blocked_import_from_the_browser_api(gate_server, tmp_path):
    server = gate_server
    data = hostile.executable_as_csv(tmp_path).read_bytes()
    done = upload(server, "remi", "lookup.csv", data, chunk=1 << 20)
    state = wait_for_state(server, "remi", done["id"], ("scanned", "blocked"))
    assert state["state"] == "blocked" and state["state_words"] == "blocked by scan"
    assert "executable" in state["files"][0]["findings"][0]["detail"]


@pytest.mark.browser
def test_an_import_from_a_real_browser(gate_server, browser, tmp_path):
    server = gate_server
    source = tmp_path / "nomenclature.csv"
    source.write_bytes(CSV * 20)  # ~1 MiB: several of the page's chunks
    context = browser.new_context()
    try:
        context.add_cookies([{"name": "enclave-test-identity", "value": server.tokens["remi"],
                              "url": server.url}])
        page = context.new_page()
        page.goto(server.url + PREFIX + "imports")
        page.fill("#import-purpose", "CIM-10 labels to name the diagnoses in table 2")
        page.set_input_files("#import-files", str(source))
        page.click("#import-upload")
        page.locator("#import-progress", has_text=re.compile("being scanned|error")).wait_for(timeout=120_000)
        assert "being scanned" in page.text_content("#import-progress"), page.text_content("#import-progress")
        import_id = int(page.get_attribute("#import-progress", "data-import-id"))
    finally:
        context.close()
    state = wait_for_state(server, "remi", import_id, ("scanned", "blocked"))
    assert state["state"] == "scanned", state
    assert state["files"][0]["name"] == "nomenclature.csv" and state["files"][0]["size"] == source.stat().st_size
