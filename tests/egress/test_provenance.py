"""Provenance, the review loop and the release record, through the gate service (real registry,
quarantine, checks, release store, templates) and a real git repository on the gate's side.

- provenance: a file made by a notebook committed to the project's repository is shown with that
  commit and the notebook's code (read from the bare repository, outputs left out); what the
  workspace claims (HEAD, a named notebook) is never trusted beyond what the bare repository holds;
- votes cancelled when a file changes (audited), not when the same bytes come again;
- each decision reaches the requester at once; an answered resubmission links to the old request;
- the release record in the ledger.
"""

from __future__ import annotations

import json
import os

from sqlalchemy import select

from egress_gate.release import ReleaseStore
from enclave.layout import repository_dir
from enclave.models import AuditEvent

from .provenance_fixtures import ACTS_V2, NOTEBOOK_CODE, clone_with_notebook, git
from .workflow_fixtures import SLUG

CONTEXT = {"what": "acts by age band", "population": "adults with a 2023 act", "controls": "counts >= 10"}


def _project_dir(server):
    return server.gate.config.settings.project_dir(SLUG)


def _submit(server, paths, **body):
    response = server.api("remi", "POST", "requests", json={"project": SLUG, "paths": paths,
                                                            "justification": "Table 2: acts by age band", **body})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _files(server, user, rid):
    response = server.api(user, "GET", f"requests/{rid}")
    assert response.status_code == 200, response.text
    return response.json()


def _audit(server, action):
    with server.gate.session() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_provenance_of_a_file_made_by_a_committed_notebook(gate_server):
    clone, commit = clone_with_notebook(_project_dir(gate_server), gate_server.workspace())
    rid = _submit(gate_server, ["analysis/acts.csv"], contexts={"analysis/acts.csv": CONTEXT})

    with gate_server.gate.session() as session:
        from egress_gate.workflow import get_request
        held = get_request(session, rid).files[0]
        assert held.provenance == {"status": "found", "commit": commit, "source": "acts.ipynb",
                                   "how": "found by the output's name in the committed code",
                                   "source_blob": git("rev-parse", "HEAD:acts.ipynb", cwd=clone)}
        assert held.context == CONTEXT

    page = gate_server.page("sven", f"requests/{rid}").text  # a steward, on the review page
    assert commit in page and "acts.ipynb" in page
    assert 'acts.to_csv(&#34;acts.csv&#34;)' in page or 'acts.to_csv(&quot;acts.csv&quot;)' in page
    assert "SECRET-OUTPUT-NOT-CODE" not in page  # a notebook's outputs are not code (and may hold data)
    assert page.index('id="summary"') < page.index("Files: context, code and findings")
    assert "adults with a 2023 act" in page
    # The requester, whose code was pushed from inside the enclave, is not sent it back by the gate.
    assert NOTEBOOK_CODE.splitlines()[0] not in gate_server.page("remi", f"requests/{rid}").text


def test_the_code_shown_is_the_commit_s_not_the_workspace_s(gate_server):
    clone, commit = clone_with_notebook(_project_dir(gate_server), gate_server.workspace())
    (clone / "acts.ipynb").write_text("edited after the commit: NOT-COMMITTED")
    rid = _submit(gate_server, ["analysis/acts.csv"], sources={"analysis/acts.csv": "acts.ipynb"})
    provenance = _files(gate_server, "sven", rid)["files"][0]["provenance"]
    assert provenance["commit"] == commit and provenance["how"] == "named by the researcher"
    assert provenance["source_changed"] is True and "differs from commit" in provenance["note"]
    page = gate_server.page("sven", f"requests/{rid}").text
    assert "NOT-COMMITTED" not in page and "groupby" in page


def test_what_the_workspace_claims_is_checked_against_the_bare_repository(gate_server):
    workspace = gate_server.workspace()
    clone, commit = clone_with_notebook(_project_dir(gate_server), workspace, push=False)
    not_pushed = _files(gate_server, "sven", _submit(gate_server, ["analysis/acts.csv"]))["files"][0]["provenance"]
    assert not_pushed["status"] == "not_pushed" and commit[:12] in not_pushed["note"]

    # A forged HEAD naming a commit that is not in the repository; a HEAD that is a link elsewhere.
    (clone / ".git" / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    forged = _files(gate_server, "sven", _submit(gate_server, ["analysis/acts.csv"]))["files"][0]["provenance"]
    assert forged["status"] == "not_pushed"
    os.unlink(clone / ".git" / "HEAD")
    os.symlink(repository_dir(_project_dir(gate_server)) / "HEAD", clone / ".git" / "HEAD")
    linked = _files(gate_server, "sven", _submit(gate_server, ["analysis/acts.csv"]))["files"][0]["provenance"]
    assert linked["status"] == "no_clone"

    # A named notebook outside the clone is refused, naming it; outside any clone there is no provenance.
    refused = gate_server.api("remi", "POST", "requests", json={
        "project": SLUG, "paths": ["analysis/acts.csv"], "justification": "Table 2",
        "sources": {"analysis/acts.csv": "../../secret.csv"}})
    assert refused.status_code == 400 and "../../secret.csv" in refused.json()["error"]
    outside = _submit(gate_server, ["outputs/table1.csv"])
    elsewhere = _files(gate_server, "sven", outside)["files"][0]["provenance"]
    assert elsewhere["status"] == "no_clone" and "clone" in elsewhere["note"]
    assert 'id="missing-provenance"' in gate_server.page("sven", f"requests/{outside}").text


def test_a_file_changed_after_a_vote_cancels_the_votes(gate_server):
    clone, _ = clone_with_notebook(_project_dir(gate_server), gate_server.workspace())
    rid = _submit(gate_server, ["analysis/acts.csv"])
    assert gate_server.decide("sven", rid, "request_changes", "round 40-49 to 5").status_code == 302

    # The requester reads the decision at once, before the second vote.
    seen = _files(gate_server, "remi", rid)
    assert seen["state"] == "under_review" and [d["reason"] for d in seen["decisions"]] == ["round 40-49 to 5"]
    assert _files(gate_server, "stella", rid)["decisions"] == []  # stewards' votes stay independent

    same = gate_server.api("remi", "POST", f"requests/{rid}", json={"path": "analysis/acts.csv"})
    assert same.status_code == 200 and same.json()["cancelled_votes"] == 0  # positive control: same bytes
    assert len(_files(gate_server, "remi", rid)["decisions"]) == 1

    (clone / "acts.csv").write_bytes(ACTS_V2)
    changed = gate_server.api("remi", "POST", f"requests/{rid}", json={"path": "analysis/acts.csv"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cancelled_votes"] == 1 and changed.json()["decisions"] == []
    event = _audit(gate_server, "egress.update_file")[-1]
    assert event["cancelled_votes"] == [{"steward": "sven", "vote": "request_changes", "reason": "round 40-49 to 5"}]
    assert event["old"]["sha256"] != event["new"]["sha256"]

    # Someone else cannot change the file; sven votes again, on the new bytes.
    assert gate_server.api("mona", "POST", f"requests/{rid}", json={"path": "analysis/acts.csv"}).status_code == 403
    assert gate_server.decide("sven", rid, "approve", "rounded now").status_code == 302
    assert gate_server.decide("stella", rid, "approve", "fine").status_code == 302
    assert _files(gate_server, "remi", rid)["state"] == "released"
    refused = gate_server.api("remi", "POST", f"requests/{rid}", json={"path": "analysis/acts.csv"})
    assert refused.status_code == 409  # released: nothing changes any more


def test_an_answered_resubmission_is_linked_to_the_old_request(gate_server):
    clone, _ = clone_with_notebook(_project_dir(gate_server), gate_server.workspace())
    old = _submit(gate_server, ["analysis/acts.csv"])
    gate_server.decide("sven", old, "request_changes", "round to 5")
    gate_server.decide("stella", old, "approve", "fine")
    assert _files(gate_server, "remi", old)["state_words"] == "changes requested"

    (clone / "acts.csv").write_bytes(ACTS_V2)
    unanswered = gate_server.api("remi", "POST", "requests", json={"project": SLUG, "paths": ["analysis/acts.csv"],
                                                                   "justification": "Table 2", "resubmits": old})
    assert unanswered.status_code == 409 and "answer" in unanswered.json()["error"]
    new = _submit(gate_server, ["analysis/acts.csv"], resubmits=old, answer="rounded every count to 5")
    shown = _files(gate_server, "sven", new)
    assert shown["resubmits"] == old and shown["answer"] == "rounded every count to 5"
    page = gate_server.page("sven", f"requests/{old}").text
    assert f'requests/{new}"' in page and 'id="resubmitted-by"' in page


def test_the_release_record_in_the_ledger(gate_server):
    _, commit = clone_with_notebook(_project_dir(gate_server), gate_server.workspace())
    rid = _submit(gate_server, ["analysis/acts.csv"], contexts={"analysis/acts.csv": CONTEXT})
    gate_server.decide("sven", rid, "approve", "every count >= 10")
    gate_server.decide("stella", rid, "approve", "aggregated, fine")
    store = ReleaseStore(gate_server.gate.config.releases_dir)
    entry = next(e for e in store.entries() if e.request_id == str(rid))
    record = entry.record
    assert record["record_version"] == 1
    assert record["request"] == {"id": rid, "project": SLUG, "kind": "files", "requester": "remi",
                                 "submitted_at": record["request"]["submitted_at"], "resubmits": None}
    rules = record["rules"]
    assert rules["policy"]["values"]["threshold"] == 10 and rules["stewards_required"] == 2
    assert rules["released_anonymised"] is False
    assert {"python", "enclave", "pyarrow"} <= set(record["tools"])
    (file,) = record["files"]
    assert file["name"] == "acts.csv" and file["checks"]["small_counts"] == "pass"
    assert file["provenance"]["commit"] == commit and file["provenance"]["source"] == "acts.ipynb"
    assert file["context"] == CONTEXT
    assert [(v["steward"], v["vote"], v["reason"]) for v in record["votes"]] == [
        ("sven", "approve", "every count >= 10"), ("stella", "approve", "aggregated, fine")]
    assert store.verify_ledger().ok
    # The record is covered by the entry's hash: editing it breaks the ledger.
    lines = store.ledger.read_text().splitlines()
    edited = json.loads(lines[-1])
    edited["record"]["rules"]["stewards_required"] = 1
    store.ledger.write_text("\n".join(lines[:-1] + [json.dumps(edited)]) + "\n")
    assert not store.verify_ledger().ok
