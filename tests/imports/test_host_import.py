"""Imports from the host: the real `enclave import` command, a process each, on a registry in tmp_path.

Every scan family is caught through the command (the operator sees why an import is blocked);
a clean import waits for stewards, is rescanned once signatures are installed, and two stewards'
approvals publish it read-only with the findings they accepted in the audit log.
"""

from __future__ import annotations

import re
import stat

import pytest
from sqlalchemy import select

from airlock.publish import DICTIONARY
from enclave.layout import imports_dir
from enclave.models import AuditEvent

from ..egress.workflow_fixtures import REQUESTER, SLUG, STEWARDS
from . import hostile_imports as hostile
from .factories import setup_project

pytestmark = pytest.mark.slow  # the `enclave` command runs several times, a process each


@pytest.fixture
def project(registry):
    with registry.session() as session:
        setup_project(session)
    (registry.projects_dir / SLUG).mkdir(parents=True)
    return registry


def submit(registry, *files, **env) -> tuple[int, str]:
    run = registry.cli("import", "submit", SLUG, *map(str, files), "--purpose", "reference tables for table 2",
                       "--requester", REQUESTER, **env)
    assert run.returncode == 0, run.stderr
    return int(re.search(r"^import (\d+) submitted", run.stdout, re.M).group(1)), run.stdout


HOSTILE = {  # file maker -> what the command prints about it
    hostile.zip_bomb: "archive bomb",
    hostile.executable_as_csv: "is an executable file by its content",
    hostile.office_with_macro: "carries Office macros",
    hostile.csv_of_nirs: "direct identifiers found",
    hostile.zipped_nirs: "direct identifiers found",
}


ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # the scan does not depend on the database


@ON_SQLITE
@pytest.mark.parametrize("make", HOSTILE, ids=[m.__name__ for m in HOSTILE])
def test_each_scan_family_blocks_an_import_from_the_host(project, tmp_path, make):
    import_id, printed = submit(project, make(tmp_path))
    assert f"import {import_id}: blocked by scan" in printed and HOSTILE[make] in printed, printed
    assert f"{import_id:>4}  {SLUG}" in project.cli("import", "list", "--state", "blocked").stdout
    refused = project.cli("import", "approve", str(import_id), "--steward", STEWARDS[0], "--reason", "fine")
    assert refused.returncode != 0 and "blocked by scan" in refused.stderr


@ON_SQLITE
def test_eicar_is_caught_when_the_deployment_has_signatures(project, tmp_path):
    signatures = hostile.eicar_signatures(tmp_path / "signatures")
    _, without = submit(project, hostile.eicar(tmp_path))
    assert "review malware: no malware signatures" in without and "NOT checked" in without
    blocked_id, printed = submit(project, hostile.eicar(tmp_path), ENCLAVE_CLAMAV_DB=str(signatures))
    assert f"import {blocked_id}: blocked by scan" in printed
    assert "fail   malware: malware signature found: Enclave.Test.EICAR" in printed


def test_a_clean_import_rescanned_then_approved_by_two_stewards(project, tmp_path):
    source = hostile.clean_csv(tmp_path)
    import_id, printed = submit(project, source)
    assert f"import {import_id}: scanned" in printed and "no malware signatures" in printed
    # Ops install signatures, then scan it again before any steward has voted.
    signatures = hostile.eicar_signatures(tmp_path / "signatures")
    rescanned = project.cli("import", "scan", str(import_id), ENCLAVE_CLAMAV_DB=str(signatures))
    assert rescanned.returncode == 0, rescanned.stderr
    assert "pass   malware: no known malware (1 signature file(s)" in rescanned.stdout
    first = project.cli("import", "approve", str(import_id), "--steward", STEWARDS[0], "--reason", "public codes")
    assert first.stdout.strip().endswith("it is in review"), first.stderr
    again = project.cli("import", "scan", str(import_id))
    assert again.returncode != 0 and "in review: it cannot scan" in again.stderr  # votes have started
    second = project.cli("import", "approve", str(import_id), "--steward", STEWARDS[1], "--reason", "checked")
    assert second.stdout.strip().endswith("it is approved"), second.stderr
    published = imports_dir(project.projects_dir / SLUG) / f"import-{import_id}" / source.name
    assert published.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(published.stat().st_mode) == 0o444
    assert source.name in (published.parent.parent / DICTIONARY).read_text()
    with project.session() as session:
        approve = session.scalars(select(AuditEvent).where(AuditEvent.action == "import.approve")).one()
        assert approve.details["accepted_findings"] == {source.name: []}  # nothing but passes after the rescan
        assert approve.details["stewards"] == list(STEWARDS[:2])
    assert project.cli("audit", "verify").returncode == 0


@ON_SQLITE
def test_the_findings_accepted_are_in_the_audit_log(project, tmp_path):
    import_id, _ = submit(project, hostile.clean_csv(tmp_path))  # no signatures: a "review" finding
    for steward in STEWARDS[:2]:
        assert project.cli("import", "approve", str(import_id), "--steward", steward, "--reason", "ok").returncode == 0
    with project.session() as session:
        approve = session.scalars(select(AuditEvent).where(AuditEvent.action == "import.approve")).one()
    accepted = approve.details["accepted_findings"]["reference.csv"]
    assert [(f["check"], f["outcome"]) for f in accepted] == [("malware", "review")]
    assert "NOT checked" in accepted[0]["detail"]
