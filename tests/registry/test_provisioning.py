"""`enclave provision`, `deprovision` and `project suspend|resume|close`, end to end.

Every command runs as operators run it: a subprocess with ENCLAVE_* set, on a fresh registry
(SQLite and PostgreSQL), against the session's synthetic sources (300 people, read-only) and a
real Docker engine. Each test's project has its own slug, and its networks are removed at the end
whatever happens (``new_slug``). No test sends traffic anywhere.

The crash tests (SQLite only) kill a provisioning process with ``os._exit(137)`` at each step, then
check that a normal re-run ends exactly where a clean run in another folder does, and that no
half-written extract was ever in place.
"""

from __future__ import annotations

import json
import stat
from datetime import date, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from enclave.audit import verify

from .provisioning_support import DELETE, EXTRACT_TABLES, EnclaveProject, extract_status, sha256

DIRECT_IDENTIFIERS = {"BEN_NIR", "BEN_PRN", "BEN_NOM", "BEN_ADR", "BEN_COM_LIB", "BEN_TEL", "BEN_MEL"}
YESTERDAY = date.today() - timedelta(days=1)


def audit_ok(project: EnclaveProject) -> None:
    """`enclave audit verify` passes."""
    verified = project.cli("audit", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("audit log OK: "), verified.stdout + verified.stderr


def audit_chain_ok(project: EnclaveProject) -> None:
    """What `enclave audit verify` checks (the same function), in this process: a CLI run costs a second."""
    with project.registry.session() as session:
        result = verify(session, project.registry.audit_head)
    assert result.ok, str(result)


def one_error_line(result) -> str:
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def extract_manifest(project: EnclaveProject) -> dict:
    return json.loads((project.extracts / "manifest.json").read_text(encoding="utf-8"))


def evidence_of(manifest: dict) -> dict:
    """What deprovisioning must keep of each deleted extract file."""
    return {table: {"file": e["output"]["file"], "sha256": e["output"]["sha256"], "rows": e["rows_out"], "intact": True}
            for table, e in manifest["tables"].items()}


def files_on_disk(project: EnclaveProject) -> dict:
    """Each extract file's bytes, inode and mtime: equal only if it was not rewritten."""
    return {p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(project.extracts.iterdir())}


# --- provisioning end to end --------------------------------------------------------------------

def test_provision_end_to_end(registry, enclave_project, new_slug):
    project = enclave_project(registry, new_slug("e2e"))
    done = project.provision()
    assert done.stdout.splitlines()[-1] == (
        f"project {project.slug}: provisioned — extracts in {project.extracts}, workspace {project.workspace}, "
        f"network enclave-{project.slug}")

    row = project.row()
    manifest = extract_manifest(project)
    assert row["state"] == "provisioned"
    assert row["manifest_sha256"] == sha256(project.manifest_path)
    assert row["provisioned_fingerprint"] == manifest["labels"]["request_fingerprint"]
    assert row["data_request"]["where"] == ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"]
    assert project.members() == [("alice", "pi"), ("bob", "member")]

    # Extracts: every authorised table, the manifest with hashes, the data dictionary.
    assert extract_status(project.extracts) == "complete"
    assert sorted(manifest["tables"]) == sorted(EXTRACT_TABLES)
    assert manifest["project"] == project.slug and manifest["key_version"] == 1
    assert f"project `{project.slug}`" in (project.extracts / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    for table, entry in manifest["tables"].items():
        parquet = pq.ParquetFile(project.extracts / f"{table}.parquet")
        assert parquet.metadata.num_rows == entry["rows_out"] > 0
        assert not DIRECT_IDENTIFIERS & set(parquet.schema_arrow.names)
    care = manifest["tables"]["ER_PRS_F"]
    assert care["rows_dropped"]["filter"] > 0 and care["filters"] == ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"]

    assert project.workspace.is_dir() and stat.S_IMODE(project.workspace.stat().st_mode) == 0o2770

    network = project.network()
    assert network is not None and network["Driver"] == "bridge"
    assert network["Internal"] is True
    assert network["Labels"]["enclave.project"] == project.slug

    events = project.events()
    assert [e.action for e in events] == ["project.register", "project.member.add", "project.review",
                                          "project.authorise", "project.extract", "project.provision"]
    by_action = {e.action: e.details for e in events}
    assert by_action["project.member.add"] == {"username": "bob", "role": "member"}
    assert {t: e["sha256"] for t, e in by_action["project.extract"]["tables"].items()} == {
        t: e["output"]["sha256"] for t, e in manifest["tables"].items()}
    assert by_action["project.provision"]["to"] == "provisioned"
    assert by_action["project.provision"]["network"] == f"enclave-{project.slug}"
    assert all(e.actor == "operator-olga" for e in events)
    audit_ok(project)


@pytest.mark.parametrize("changes, problem", [
    ({"approvals.cnil_reference": DELETE, "approvals.cnil_date": DELETE},
     "is not authorised: its manifest has no CNIL authorisation"),
    ({"approvals.expires_on": YESTERDAY}, f"approvals.expires_on: {YESTERDAY} is in the past"),
], ids=["not-authorised", "expired"])
def test_refused_projects_get_nothing(registry, enclave_project, new_slug, changes, problem):
    project = enclave_project(registry, new_slug("refused"))
    project.write_manifest(changes)
    assert problem in one_error_line(project.provision(expect=2))
    assert project.row() is None and project.events() == []
    assert not project.project_dir.exists()  # no extracts, no workspace
    assert project.network() is None


def test_rerun_with_an_unchanged_manifest_changes_nothing(registry, enclave_project, new_slug):
    project = enclave_project(registry, new_slug("again"))
    project.provision()
    row, members, files, network = project.row(), project.members(), files_on_disk(project), project.network()
    workspace = project.workspace.stat()
    seq = project.last_seq()

    again = project.provision()
    assert again.stdout.splitlines()[-1].startswith(f"project {project.slug}: unchanged — ")
    assert project.row() == row  # every column, updated_at included
    assert project.members() == members
    assert files_on_disk(project) == files  # same bytes, same inodes, same mtimes: not rewritten
    assert project.network()["Id"] == network["Id"]
    assert (project.workspace.stat().st_ino, project.workspace.stat().st_mtime_ns) == (workspace.st_ino,
                                                                                      workspace.st_mtime_ns)
    assert [(e.action, e.details) for e in project.events(seq, any_project=True)] == [
        ("project.provision.unchanged", {"fingerprint": row["provisioned_fingerprint"]})]


KI_CCI_R_WITHOUT_COMMUNE = ["BEN_IDT_ANO", "BEN_DCD_DTE", "DCD_CIM_COD", "BEN_NAI_ANN"]  # DCD_COM_COD dropped
CHANGED = {  # a row filter added, a column dropped, a member added
    "data.where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01", "IR_BEN_R.BEN_SEX_COD = 2"],
    "data.columns": [f"KI_CCI_R.{column}" for column in KI_CCI_R_WITHOUT_COMMUNE],
    "members": ["alice", "bob", "carol"],
}


def test_a_changed_manifest_reextracts_and_the_audit_log_says_what_changed(registry, enclave_project, new_slug):
    project = enclave_project(registry, new_slug("change"))
    project.provision()
    old_row, old_manifest, seq = project.row(), extract_manifest(project), project.last_seq()

    project.write_manifest(CHANGED)
    done = project.provision()
    assert done.stdout.splitlines()[-1].startswith(f"project {project.slug}: re-provisioned — ")

    new_manifest = extract_manifest(project)
    old_rows, new_rows = old_manifest["tables"]["IR_BEN_R"]["rows_out"], new_manifest["tables"]["IR_BEN_R"]["rows_out"]
    assert 0 < new_rows < old_rows
    events = project.events(seq, any_project=True)
    assert [e.action for e in events] == ["project.update", "project.member.add", "project.extract",
                                          "project.reprovision"]
    update, member, extracted, reprovisioned = (e.details for e in events)
    new_request = {"tables": list(EXTRACT_TABLES), "columns": {"KI_CCI_R": KI_CCI_R_WITHOUT_COMMUNE},
                   "where": CHANGED["data.where"], "key_version": 1}
    assert update["changed"] == {"data_request": [old_row["data_request"], new_request],
                                 "manifest_sha256": [old_row["manifest_sha256"], sha256(project.manifest_path)]}
    assert member == {"username": "carol", "role": "member"}
    diff = {"IR_BEN_R": {"rows": [old_rows, new_rows]}, "KI_CCI_R": {"columns_removed": ["DCD_COM_COD"]}}
    assert extracted["changed"] == diff  # the other tables' bytes are the same: not named
    assert (reprovisioned["from"], reprovisioned["to"]) == ("provisioned", "provisioned")
    assert reprovisioned["changed"]["extract"] == diff and reprovisioned["changed"]["members_added"] == ["carol"]

    row = project.row()
    assert row["state"] == "provisioned" and row["data_request"] == new_request
    assert row["provisioned_fingerprint"] == new_manifest["labels"]["request_fingerprint"] != \
        old_row["provisioned_fingerprint"]
    assert project.members() == [("alice", "pi"), ("bob", "member"), ("carol", "member")]
    assert extract_status(project.extracts) == "complete"
    assert "DCD_COM_COD" not in pq.read_schema(project.extracts / "KI_CCI_R.parquet").names
    sexes = pq.read_table(project.extracts / "IR_BEN_R.parquet", columns=["BEN_SEX_COD"]).column(0)
    assert pc.unique(sexes).to_pylist() == [2]
    audit_chain_ok(project)


# --- suspend, resume, deprovision, close --------------------------------------------------------

HOLDS = [("suspend", "suspended", "resume"), ("freeze", "frozen", "unfreeze")]  # out of reach, nothing deleted


@pytest.mark.parametrize("backend", ["sqlite"])  # the registry side of suspend/resume: test_cli.py, both backends
@pytest.mark.parametrize(("hold", "held", "release"), HOLDS, ids=[h[1] for h in HOLDS])
def test_a_held_project_is_refused_until_released(registry, enclave_project, new_slug, hold, held, release):
    project = enclave_project(registry, new_slug(hold))
    project.provision()
    first_network, files = project.network()["Id"], project.extract_files()

    assert project.cli("project", hold, project.slug, "--reason", "data breach inquiry").returncode == 0
    assert project.state() == held and project.network() is None
    assert project.extract_files() == files  # nothing deleted: the same extracts, byte for byte

    refused = one_error_line(project.provision(expect=2))
    assert f"project {project.slug} is {held}: it cannot be provisioned" in refused and f"{release} it first" in refused
    assert project.network() is None and project.state() == held
    wrong = project.cli("project", "resume" if held == "frozen" else "unfreeze", project.slug, "--reason", "x")
    assert wrong.returncode != 0 and project.state() == held  # each hold is lifted by its own command only

    assert project.cli("project", release, project.slug, "--reason", "inquiry closed").returncode == 0
    network = project.network()
    assert project.state() == "active"
    assert network is not None and network["Id"] != first_network
    assert network["Internal"] is True and network["Labels"]["enclave.project"] == project.slug

    assert project.provision().stdout.splitlines()[-1].startswith(f"project {project.slug}: unchanged — ")
    assert project.state() == "active" and project.network()["Id"] == network["Id"]


def test_deprovision_then_provision_again_then_close(registry, enclave_project, new_slug):
    project = enclave_project(registry, new_slug("deprov"))
    project.provision()
    (project.workspace / "results.csv").write_text("n\n42\n", encoding="utf-8")
    manifest, files = extract_manifest(project), project.extract_files()
    seq = project.last_seq()

    done = project.cli("deprovision", project.slug, "--reason", "phase 1 over")
    assert done.returncode == 0, done.stderr
    assert f"project {project.slug} deprovisioned: " in done.stdout and "network removed: yes" in done.stdout
    assert project.network() is None and not project.extracts.exists()
    assert (project.workspace / "results.csv").read_text(encoding="utf-8") == "n\n42\n"
    row = project.row()
    assert row["state"] == "authorised" and row["provisioned_fingerprint"] is None
    [event] = project.events(seq)
    assert event.action == "project.deprovision"
    assert (event.details["from"], event.details["to"], event.details["reason"]) == ("provisioned", "authorised",
                                                                                     "phase 1 over")
    assert event.details["network_removed"] is True
    assert event.details["extracts_deleted"] == evidence_of(manifest)

    project.provision()
    assert project.state() == "provisioned" and project.network() is not None
    assert project.extract_files() == files  # the same pseudonymised bytes again
    assert (project.workspace / "results.csv").exists()

    seq = project.last_seq()
    closed = project.cli("project", "close", project.slug, "--reason", "study finished")
    assert closed.returncode == 0 and f"project {project.slug} closed: " in closed.stdout, closed.stderr
    assert project.network() is None and not project.extracts.exists()
    assert (project.workspace / "results.csv").exists()
    [event] = project.events(seq)
    assert (event.action, event.details["to"], event.details["reason"]) == ("project.close", "closed", "study finished")
    assert event.details["extracts_deleted"] == evidence_of(manifest)

    refused = one_error_line(project.provision(expect=2))
    assert f"project {project.slug} is closed: it cannot be provisioned" in refused
    assert project.state() == "closed" and project.network() is None and not project.extracts.exists()
    audit_chain_ok(project)


# --- crashes ------------------------------------------------------------------------------------

STEP_NAMES = ["validate", "register", "extract", "workspace", "code", "network", "record"]

# Runs provisioning, dying with os._exit(137) at the point named by argv[2]: "before-<step>",
# "after-<step>", "during-extract" (the extraction's second Parquet batch write) or "after-publish"
# (the extract folder is in place, its audit event not yet written).
CRASH_SCRIPT = r"""
import json, os, sys
import pyarrow.parquet as pq
from enclave import provisioning
from enclave.settings import Settings

slug, point = sys.argv[1], sys.argv[2]
print(json.dumps([name for name, _, _ in provisioning.STEPS]), flush=True)


def crash():
    os._exit(137)


when, _, where = point.partition("-")
if when == "during":
    write_batch, calls = pq.ParquetWriter.write_batch, []

    def dying_write_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            crash()
        return write_batch(self, *args, **kwargs)

    pq.ParquetWriter.write_batch = dying_write_batch
elif point == "after-publish":
    extract = provisioning.extract

    def extract_then_die(*args, **kwargs):
        extract(*args, **kwargs)
        crash()

    provisioning.extract = extract_then_die
else:
    index = [name for name, _, _ in provisioning.STEPS].index(where)
    name, label, step = provisioning.STEPS[index]

    def dying_step(job):
        if when == "before":
            crash()
        step(job)
        crash()

    provisioning.STEPS[index] = (name, label, dying_step)
provisioning.provision(Settings.from_env(), slug, progress=False, echo=lambda line: None)
sys.exit("provisioning ran to its end: the crash point was never reached")
"""

# What a crash at each point leaves: (registry state, extracts, workspace exists, network exists).
AFTER_CRASH = {
    "before-validate": (None, "absent", False, False),
    "after-validate": (None, "absent", False, False),
    "after-register": ("authorised", "absent", False, False),
    "during-extract": ("authorised", "absent", False, False),
    "after-publish": ("authorised", "complete", False, False),
    "after-extract": ("authorised", "complete", False, False),
    "after-workspace": ("authorised", "complete", True, False),
    "after-code": ("authorised", "complete", True, False),
    "after-network": ("authorised", "complete", True, True),
    "after-record": ("provisioned", "complete", True, True),
}


def crash(project: EnclaveProject, point: str) -> None:
    died = project.python(CRASH_SCRIPT, project.slug, point)
    assert died.returncode == 137, f"exit {died.returncode}:\n{died.stdout}{died.stderr}"
    assert json.loads(died.stdout.splitlines()[0]) == STEP_NAMES, "a step of provisioning.STEPS has no crash test"


def summary(manifest: dict) -> dict:
    """An extract manifest as its `project.extract` audit event records it."""
    return {table: {"rows": e["rows_out"], "sha256": e["output"]["sha256"],
                    "columns": [column["name"] for column in e["columns"]]}
            for table, e in manifest["tables"].items()}


def last_recorded_extract(project: EnclaveProject) -> dict | None:
    extracted = [e for e in project.events() if e.action == "project.extract"]
    return extracted[-1].details["tables"] if extracted else None


def clean_run(registry, enclave_project, slug: str, changes: dict | None = None) -> dict:
    """The end state of a clean run of ``slug`` on ``registry`` (another folder), its network then
    removed so that the run under test starts without it."""
    reference = enclave_project(registry, slug)
    reference.write_manifest(changes)
    reference.provision()
    state = reference.end_state()
    reference.docker.networks.get(f"enclave-{slug}").remove()
    return state


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("point", list(AFTER_CRASH))
def test_a_crashed_provisioning_is_completed_by_a_rerun(registry, other_registry, enclave_project, new_slug, point):
    slug = new_slug("crash")
    clean = clean_run(other_registry, enclave_project, slug)
    project = enclave_project(registry, slug)

    crash(project, point)
    state, extracts, workspace, network = AFTER_CRASH[point]
    assert project.state() == state
    assert extract_status(project.extracts) == extracts
    assert project.workspace.exists() == workspace
    assert (project.network() is not None) == network
    if point == "during-extract":  # the half-written extract exists, out of sight
        [partial] = project.project_dir.glob(".extracts.partial-*")
        assert (partial / "IR_BEN_R.parquet").exists() and not (partial / "manifest.json").exists()
    audit_chain_ok(project)

    project.provision()
    assert project.end_state() == clean
    assert project.state() == "provisioned"
    assert last_recorded_extract(project) == summary(extract_manifest(project))
    audit_chain_ok(project)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_crash_while_reextracting_leaves_the_previous_extract_in_place(registry, other_registry, enclave_project,
                                                                         new_slug):
    slug = new_slug("recrash")
    clean = clean_run(other_registry, enclave_project, slug, CHANGED)
    project = enclave_project(registry, slug)
    project.provision()
    before = files_on_disk(project)

    project.write_manifest(CHANGED)
    crash(project, "during-extract")
    assert extract_status(project.extracts) == "complete"
    assert files_on_disk(project) == before  # the earlier extract, untouched
    assert project.state() == "provisioned"
    audit_chain_ok(project)

    project.provision()
    assert project.end_state() == clean
    assert files_on_disk(project) != before
    assert last_recorded_extract(project) == summary(extract_manifest(project))
    audit_chain_ok(project)
