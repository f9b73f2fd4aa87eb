"""The operators' commands, run as subprocesses on a registry in tmp_path (both backends)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest

from enclave.db import head_revision, make_engine
from enclave.lifecycle import mermaid_diagram
from enclave.models import Project, ProjectState
from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import extract
from pseudonymizer.synth import generate

from ..conftest import REPO, run_enclave
from ..registry_database import Registry
from .factories import create_project_at_state

pytestmark = pytest.mark.slow  # every test runs the `enclave` command several times, a process each

S = ProjectState
SYNTH_CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"


def test_db_upgrade_then_users_on_an_empty_database(backend, new_database, tmp_path):
    url = new_database(False)
    empty = Registry(backend, url, make_engine(url), tmp_path / "home")
    refused = empty.cli("user", "list")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: the registry database ") and "run `enclave db upgrade`" in refused.stderr

    first = empty.cli("db", "upgrade")
    assert first.returncode == 0
    assert f"at schema revision {head_revision()} (upgraded from an empty database)" in first.stdout
    assert "already up to date" in empty.cli("db", "upgrade").stdout

    added = empty.cli("user", "add", "alice", "--role", "researcher", "--role", "steward",
                      "--display-name", "Alice Martin", "--oidc-sub", "sub-1")
    assert added.stdout == "user alice added (researcher, steward)\n"
    again = empty.cli("user", "add", "alice", "--role", "ops")
    assert (again.returncode, again.stderr) == (2, "error: user 'alice' already exists — see `enclave user list`\n")
    assert empty.cli("user", "add", "Bob", "--role", "ops").stderr.startswith("error: user name 'Bob' is not valid")
    listed = empty.cli("user", "list").stdout
    assert listed.split() == ["alice", "researcher,steward", "Alice", "Martin", "sub-1"]

    log = [line.split() for line in empty.cli("audit", "tail").stdout.splitlines()]
    assert [(fields[0], fields[3], fields[4]) for fields in log] == [("1", "operator-olga", "db.upgrade"),
                                                                    ("2", "operator-olga", "user.add")]
    verified = empty.cli("audit", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("audit log OK: 2 events, head ")
    empty.engine.dispose()


@pytest.fixture(scope="session")
def extract_manifest(tmp_path_factory, master_key):
    """manifest.json of a real (small) extract: `enclave show` must read what the pseudonymizer writes."""
    sources = tmp_path_factory.mktemp("sources")
    generate(sources, people=40, seed=3, progress=False)
    out = tmp_path_factory.mktemp("extract") / "extracts"
    manifest = extract(load_catalog(SYNTH_CATALOG), sources, "cohort-a", out, master_key, tables=["IR_BEN_R"],
                       progress=False)
    return out / "manifest.json", manifest


def test_list_and_show(registry, extract_manifest):
    manifest_path, manifest = extract_manifest
    with registry.session() as session:
        create_project_at_state(session, "cohort-a", S.active, members=("mia", "max"),
                                expires_on=date.today() + timedelta(days=30))
        create_project_at_state(session, "cohort-b", S.requested, approved=False)
    extracts = registry.projects_dir / "cohort-a" / "extracts"
    extracts.mkdir(parents=True)
    shutil.copy(manifest_path, extracts)

    listing = registry.cli("list").stdout.splitlines()
    assert listing[0].split() == ["PROJECT", "STATE", "PI", "DAYS", "LEFT", "MEMBERS"]
    assert listing[1].split() == ["cohort-a", "active", "pia", "30", "3"]
    assert listing[2].split() == ["cohort-b", "requested", "pia", "365", "1"]

    shown = registry.cli("show", "cohort-a").stdout
    rows = manifest["tables"]["IR_BEN_R"]["rows_out"]
    for expected in ["state      active",
                     "purpose    health_information (information sur la santé / health information)",
                     "member     pia (pi) Pia", "member     max (member) Max", "committee  CESREES-cohort-a 2025-03-04",
                     "CNIL       DR-2025-8 2025-05-06", f"expires    {date.today() + timedelta(days=30)} (in 30 days)",
                     "egress     small-cell threshold 10, 2 stewards required per release",
                     f"extract    IR_BEN_R     {rows:>12,} rows"]:
        assert expected in shown
    assert "committee  not recorded" in registry.cli("show", "cohort-b").stdout
    assert "extract    none yet" in registry.cli("show", "cohort-b").stdout
    missing = registry.cli("show", "cohort-z")
    assert (missing.returncode, missing.stderr) == (2, "error: project 'cohort-z' is not in the registry — "
                                                       "see `enclave list` for the registered projects\n")


def test_suspend_resume_close_with_reasons(registry):
    with registry.session() as session:
        create_project_at_state(session, "cohort-c", S.active)
    suspended = registry.cli("project", "suspend", "cohort-c", "--reason", "data breach inquiry")
    assert suspended.returncode == 0
    assert suspended.stdout.startswith("project cohort-c: active → suspended (audit event ")
    refused = registry.cli("project", "suspend", "cohort-c", "--reason", "twice")
    assert refused.returncode == 2
    assert refused.stderr == ("error: project 'cohort-c' is suspended: it cannot suspend — "
                              "allowed now: resume, freeze, deprovision, close\n")
    assert registry.cli("project", "close", "cohort-c").returncode == 2  # --reason is required
    assert registry.cli("project", "resume", "cohort-c", "--reason", "inquiry closed").returncode == 0
    assert registry.cli("project", "close", "cohort-c", "--reason", "study finished").returncode == 0

    log = registry.cli("audit", "tail", "--project", "cohort-c", "-n", "3").stdout.splitlines()
    assert [line.split()[4] for line in log] == ["project.suspend", "project.resume", "project.close"]
    assert '"reason": "data breach inquiry"' in log[0] and '"to": "closed"' in log[2]
    with registry.session() as session:
        assert session.query(Project).one().state is S.closed


def test_expire_suspends_expired_projects_that_could_start(registry):
    yesterday = date.today() - timedelta(days=1)
    with registry.session() as session:
        for slug, state, expires_on in [
            ("old-active", S.active, yesterday), ("old-ready", S.provisioned, yesterday),
            ("current", S.active, date.today()), ("old-authorised", S.authorised, yesterday),
            ("old-suspended", S.suspended, yesterday),
        ]:
            create_project_at_state(session, slug, state, expires_on=expires_on)
    expired = registry.cli("expire")
    assert expired.stdout.splitlines() == [f"suspended old-active: expired on {yesterday} (1 days ago)",
                                           f"suspended old-ready: expired on {yesterday} (1 days ago)"]
    with registry.session() as session:
        states = {p.slug: p.state for p in session.query(Project)}
    assert states == {"old-active": S.suspended, "old-ready": S.suspended, "current": S.active,
                      "old-authorised": S.authorised, "old-suspended": S.suspended}
    log = registry.cli("audit", "tail", "-n", "2").stdout
    assert log.count(f'"reason": "authorisation expired on {yesterday}"') == 2
    assert registry.cli("expire").stdout == "no provisioned or active project has expired\n"
    assert registry.cli("audit", "verify").returncode == 0


def test_lifecycle_diagram_is_generated_from_the_table():
    shown = run_enclave("lifecycle", "diagram", check=True)
    assert shown.stdout == mermaid_diagram()


def test_bad_database_url_is_one_line_and_exit_2(tmp_path):
    result = run_enclave("list", env={"ENCLAVE_HOME": str(tmp_path), "ENCLAVE_DB_URL": "nonsense"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ENCLAVE_DB_URL is not a database URL") and result.stderr.count("\n") == 1
