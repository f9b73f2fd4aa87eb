"""The import workflow: states in words, N stewards' votes, who may vote, publication and its records."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select

from airlock import workflow
from airlock.models import ImportState
from airlock.permissions import PermissionDenied
from airlock.publish import DICTIONARY
from enclave.audit import verify
from enclave.layout import import_quarantine_dir, imports_dir
from enclave.models import AuditEvent

from ..egress.workflow_fixtures import MEMBER_STEWARD, OUTSIDER, REQUESTER, SLUG, STEWARDS
from . import hostile_imports as hostile
from .factories import clean_findings, create_submitted, setup_project

SVEN, STELLA, SAM = STEWARDS


@pytest.fixture
def project(registry, tmp_path):
    with registry.session() as session:
        setup_project(session)
    folder = registry.projects_dir / SLUG
    folder.mkdir(parents=True)
    return registry, folder


def actions_of(session, request_id: int) -> list[str]:
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    return [e.action for e in events if e.action.startswith("import.") and e.details.get("request") == request_id]


def test_the_states_have_their_words():
    assert [s.words for s in ImportState] == ["draft", "submitted", "scanned", "in review", "approved", "rejected",
                                             "blocked by scan"]


def test_two_stewards_approve_and_the_file_is_published_read_only_and_recorded(project, tmp_path):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.clean_csv(tmp_path)])
        request_id = request.id
        assert request.state is ImportState.submitted
        workflow.record_scan(session, request_id, REQUESTER, clean_findings(request))
        workflow.decide(session, request_id, SVEN, "approve", "a public nomenclature", folder)
        assert request.state is ImportState.in_review
        assert not (imports_dir(folder) / f"import-{request_id}").exists()  # one vote of two: nothing yet
        workflow.decide(session, request_id, STELLA, "approve", "checked the labels", folder)
        assert request.state is ImportState.approved
        assert actions_of(session, request_id) == ["import.create", "import.add_file", "import.submit", "import.scan",
                                                   "import.vote", "import.vote", "import.approve"]
    published = imports_dir(folder) / f"import-{request_id}" / "reference.csv"
    assert published.read_text().startswith("code,label")
    assert stat.S_IMODE(published.stat().st_mode) == 0o444
    assert not os.access(published.parent, os.W_OK) or os.geteuid() == 0
    dictionary = (imports_dir(folder) / DICTIONARY).read_text()
    assert "reference.csv" in dictionary and "sven, stella" in dictionary and "ICD-10" in dictionary
    with registry.session() as session:
        assert verify(session, registry.audit_head).ok


def test_a_failing_scan_blocks_the_import_and_no_steward_can_vote(project, tmp_path):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.csv_of_nirs(tmp_path)])
        workflow.record_scan(session, request.id, REQUESTER,
                             {"linkage.csv": [{"check": "identifiers", "outcome": "fail", "detail": "1 nir"}]})
        assert request.state is ImportState.blocked and request.state.words == "blocked by scan"
        with pytest.raises(workflow.WorkflowError, match="blocked by scan"):
            workflow.decide(session, request.id, SVEN, "approve", "looks fine", folder)


def test_one_rejection_rejects(project, tmp_path):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.clean_csv(tmp_path)])
        workflow.record_scan(session, request.id, REQUESTER, clean_findings(request))
        workflow.decide(session, request.id, SVEN, "reject", "not needed for the stated purpose", folder)
        assert request.state is ImportState.rejected
    assert not imports_dir(folder).exists() or not any(imports_dir(folder).iterdir())


@pytest.mark.parametrize("voter, why", [(REQUESTER, "own import"), (MEMBER_STEWARD, "member of project"),
                                        (OUTSIDER, "steward role")])
def test_who_may_not_vote(project, tmp_path, voter, why):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.clean_csv(tmp_path)])
        workflow.record_scan(session, request.id, REQUESTER, clean_findings(request))
        with pytest.raises(PermissionDenied, match=why):
            workflow.decide(session, request.id, voter, "approve", "fine", folder)


def test_a_steward_votes_once_and_a_reason_is_required(project, tmp_path):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.clean_csv(tmp_path)])
        workflow.record_scan(session, request.id, REQUESTER, clean_findings(request))
        with pytest.raises(workflow.WorkflowError, match="written reason"):
            workflow.decide(session, request.id, SVEN, "approve", "  ", folder)
        workflow.decide(session, request.id, SVEN, "approve", "fine", folder)
        with pytest.raises(workflow.WorkflowError, match="already decided"):
            workflow.decide(session, request.id, SVEN, "approve", "still fine", folder)


def test_only_members_import_and_a_purpose_is_required(project):
    registry, _ = project
    with registry.session() as session:
        with pytest.raises(PermissionDenied, match="not a member"):
            workflow.create(session, SLUG, OUTSIDER, "my data")
        with pytest.raises(workflow.WorkflowError, match="purpose"):
            workflow.create(session, SLUG, REQUESTER, " ")


def test_an_empty_import_cannot_be_submitted(project):
    registry, _ = project
    with registry.session() as session:
        request = workflow.create(session, SLUG, REQUESTER, "labels")
        with pytest.raises(workflow.WorkflowError, match="no file"):
            workflow.submit(session, request.id, REQUESTER)


def test_quarantined_files_are_out_of_the_published_folder(project, tmp_path):
    registry, folder = project
    with registry.session() as session:
        request = create_submitted(session, folder, [hostile.clean_csv(tmp_path)])
        held = import_quarantine_dir(folder) / str(request.id) / "reference.csv"
    assert held.is_file() and not imports_dir(folder).exists()
