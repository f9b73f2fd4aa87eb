"""The project tools' pieces without Docker: package requests and decisions in the registry (both
backends), the PEP 503 index, the repository's life on disk, git's smart HTTP through the CGI
runner, the credentials pip sends, and the check of code leaving the enclave."""

from __future__ import annotations

import base64
import subprocess
import zipfile

import pytest
from sqlalchemy import select

from egress_gate.checks import check_file
from egress_gate.checks.code import check_numeric_literals
from egress_gate.context import CheckContext
from egress_gate.findings import Outcome
from egress_gate.policy import DEFAULT_POLICY
from egress_gate.tables import CODE_TYPES
from enclave import code_repository, packages
from enclave.audit import verify
from enclave.enclave_origin import token_in
from enclave.errors import EnclaveError
from enclave.layout import CODE, RETIRED_CODE, repository_dir, wheelhouse_dir
from enclave.models import AuditEvent, PackageState
from project_tools import git_http, index
from spawner_config.seal_rules import Limits, Refusal, judge_git_panel

from ..egress.workflow_fixtures import MEMBER, OUTSIDER, SLUG, setup_project


@pytest.fixture
def project(registry):
    with registry.session() as session:
        setup_project(session)
    return registry


def test_a_request_is_recorded_once_and_decided_once_with_its_audit_events(project, tmp_path):
    with project.session() as session:
        asked = packages.request_package(session, SLUG, MEMBER, "pypi", "Tabulate_Plus", "tables in the report")
        again = packages.request_package(session, SLUG, MEMBER, "pypi", "tabulate-plus", "the same, asked twice")
        cran = packages.request_package(session, SLUG, MEMBER, "cran", "data.table", "fast joins")
        assert again.id == asked.id and asked.name == "tabulate-plus"
    fake = tmp_path / "incoming"
    fake.mkdir()
    (fake / "tabulate_plus-1.0-py3-none-any.whl").write_bytes(b"wheel")
    downloaded = packages.Downloaded(fake, [{"file": "tabulate_plus-1.0-py3-none-any.whl", "project": "tabulate-plus",
                                             "sha256": "0" * 64, "size": 5}])
    with project.session() as session:
        done = packages.approve(session, asked.id, "operator-olga", tmp_path / "cohort", downloaded=downloaded)
        assert done.state is PackageState.approved and (wheelhouse_dir(tmp_path / "cohort") / "tabulate_plus-1.0-py3-none-any.whl").exists()
        refused = packages.refuse(session, cran.id, "operator-olga", "use base R merge()")
        assert refused.state is PackageState.refused
        assert packages.approved_names(session, SLUG) == {"tabulate-plus"}
    with project.session() as session, pytest.raises(EnclaveError, match="approved already"):
        packages.refuse(session, asked.id, "operator-olga", "changed my mind")
    with project.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert actions[-4:] == ["package.request", "package.request", "package.approve", "package.refuse"]
        verify(session, project.audit_head)


@pytest.mark.parametrize("ecosystem, name, reason, user, message", [
    ("pypi", "../../etc", "x", MEMBER, "is not a PyPI package name"),
    ("cran", "data table", "x", MEMBER, "is not a CRAN package name"),
    ("npm", "left-pad", "x", MEMBER, "unknown package ecosystem"),
    ("pypi", "tabulate", "  ", MEMBER, "needs a reason"),
    ("pypi", "tabulate", "x", OUTSIDER, "is not a member"),
])
def test_bad_requests_are_refused_with_their_reason(project, ecosystem, name, reason, user, message):
    with project.session() as session, pytest.raises(EnclaveError, match=message):
        packages.request_package(session, SLUG, user, ecosystem, name, reason)


def test_the_cli_lists_and_refuses_requests(project):
    with project.session() as session:
        asked = packages.request_package(session, SLUG, MEMBER, "pypi", "tabulate", "tables")
    listed = project.cli("packages", "list")
    assert listed.returncode == 0 and "tabulate" in listed.stdout and "requested" in listed.stdout, listed.stderr
    refused = project.cli("packages", "refuse", str(asked.id), "--reason", "pandas.DataFrame.to_markdown does it")
    assert refused.returncode == 0, refused.stderr
    again = project.cli("packages", "approve", str(asked.id))
    assert again.returncode == 2 and "refused already" in again.stderr


def _wheel(folder, filename: str) -> None:
    with zipfile.ZipFile(folder / filename, "w") as archive:
        archive.writestr("x.py", "")


def test_the_index_lists_each_wheel_under_its_normalised_name_and_nothing_else(tmp_path):
    _wheel(tmp_path, "Tabulate_Plus-1.0-py3-none-any.whl")
    (tmp_path / "notes.txt").write_text("not a wheel")
    assert 'href="tabulate-plus/"' in index.root_page(tmp_path)
    page = index.project_page(tmp_path, "TABULATE.plus", "../../wheels/")
    assert 'href="../../wheels/Tabulate_Plus-1.0-py3-none-any.whl#sha256=' in page
    assert index.project_page(tmp_path, "notes", "../../wheels/") is None
    assert "enclave-package request humanize" in index.not_approved("humanize")


def test_pip_and_git_credentials_are_read_from_the_authorization_header():
    assert token_in("token abc") == "abc" and token_in("Bearer abc") == "abc"
    assert token_in("Basic " + base64.b64encode(b"alice:abc").decode()) == "abc"
    assert token_in("Basic !!!") == "" and token_in("Digest abc") == ""


def test_the_repository_is_made_once_served_by_the_cgi_runner_and_retired(tmp_path):
    project_dir = tmp_path / "cohort"
    repository = code_repository.ensure(project_dir)
    assert code_repository.ensure(project_dir) == repository and repository == repository_dir(project_dir)
    answer = git_http.run_backend(project_dir / CODE, "info/refs", "GET", "service=git-receive-pack", {}, b"", "alice", "10.0.0.2")
    assert answer.status == 200 and ("Content-Type", "application/x-git-receive-pack-advertisement") in answer.headers
    assert git_http.run_backend(project_dir / CODE, "HEAD", "GET", "", {}, b"", "alice", "10.0.0.2").status == 404
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repository), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=a", "-c", "user.email=a@b.invalid", "commit", "-q",
                    "--allow-empty", "-m", "one"], check=True)
    subprocess.run(["git", "-C", str(clone), "push", "-q", "origin", "HEAD:main"], check=True)
    retired = code_repository.retire(project_dir)
    assert not (project_dir / CODE).exists() and list(retired["refs"]) == ["refs/heads/main"]
    assert code_repository.retire(project_dir) == retired  # a re-run reports the same


def test_a_code_patch_is_read_for_pseudonyms_nirs_and_long_numbers(tmp_path):
    import pyarrow as pa

    pseudonym = "0123456789abcdef0123456789abcdef"
    patch = tmp_path / "code.patch"
    patch.write_text("commit " + "f" * 40 + "\nindex 1234567..89abcde 100644\n"
                     f"+PATIENT = '{pseudonym}'\n+BUDGET = 123456789012\n+x = 0.123456789\n")
    policy = DEFAULT_POLICY.with_overrides(allowed_types=CODE_TYPES)
    findings = {f.check: f for f in check_file(patch, policy, CheckContext(pseudonyms=pa.array([pseudonym])))}
    assert findings["pseudonyms"].outcome is Outcome.FAIL
    assert findings["numeric_literals"].outcome is Outcome.REVIEW and [c.value for c in findings["numeric_literals"].cells] == ["123456789012"]
    assert check_numeric_literals("commit " + "1" * 40 + "\n", policy)[0].outcome is Outcome.PASS
    # Outside a code request, a patch is not an allowed type.
    assert {f.check: f for f in check_file(patch)}["file_type"].outcome is Outcome.FAIL
    assert not (tmp_path / RETIRED_CODE).exists()


def test_the_git_panel_answers_are_held_to_the_text_editors_cap():
    limits = Limits()
    judge_git_panel(b'{"code": 0, "commits": []}', limits)
    with pytest.raises(Refusal, match="Git panel answer over 256 KiB"):
        judge_git_panel(b"x" * (limits.text_file_cap + 1), limits)
