"""A hostile file must not stall the gate: linear-time checks, budgeted workers, short transactions.

Fuzz cases are built byte by byte (hostile_files.py) and run through the real worker with a hard
time limit; the budget tests use real files that need more time or memory than they are given;
the platform test submits through the real gate service while `enclave list` runs and a user's
second factor is verified on the same registry.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pyotp
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from egress_gate import DEFAULT_POLICY, CheckContext, check_file
from egress_gate.check_worker import Budget, check_in_worker
from egress_gate.models import EgressRequest
from enclave.auth import totp
from enclave.cli import main as enclave_cli
from enclave.models import AuditEvent
from enclave.registry import get_user

from ..conftest import REPO
from .factories import pseudonym
from .hostile_files import BUILDERS, build

HARD_LIMIT = 5.0  # seconds for one pathological file, worker start-up included


HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def heavy_csv(folder: Path, rows: int = 1_500_000) -> Path:
    """About 40 MB of three columns of distinct 8-hex tokens: several seconds of honest work.

    Written with array operations (a second or two; formatting row by row in Python took 15 s
    on a loaded machine), byte for byte the file ``"%08x"`` and a join per row would write.
    """
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2 ** 32, rows)
    digits = HEX_DIGITS[(values[:, None] >> np.arange(28, -1, -4)) & 0xF]  # each value as 8 lower-case hex digits
    mirrored = np.concatenate([digits[i: i + 250_000][::-1] for i in range(0, rows, 250_000)])  # column b
    comma, newline = np.full((rows, 1), ord(","), np.uint8), np.full((rows, 1), ord("\n"), np.uint8)
    path = folder / "heavy.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b,c\n")
        fh.write(np.hstack([digits, comma, mirrored, comma, digits, newline]).tobytes())
    return path


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_pathological_file_is_checked_within_the_hard_limit_and_never_passes_unread(tmp_path, name):
    path = build(tmp_path, name)
    context = CheckContext(pseudonyms=__import__("pyarrow").array([pseudonym() for _ in range(100)]))
    started = time.monotonic()
    findings = check_in_worker(path, DEFAULT_POLICY, context, Budget(seconds=HARD_LIMIT), tmp_path)
    elapsed = time.monotonic() - started
    assert not [f for f in findings if f["check"] == "budget"], (name, elapsed, findings)
    assert elapsed < HARD_LIMIT
    checks = {f["check"] for f in findings}
    assert "file_type" in checks and "size" in checks  # a real verdict, not an empty list
    # a file the checks could not walk is a fail, never a silent pass
    if {"readable", "structure"} & checks:
        assert any(f["outcome"] == "fail" for f in findings if f["check"] in ("readable", "structure"))


def test_the_old_quadratic_email_case_is_linear(tmp_path):
    """The probe's file: a long line with no '@' took 12 s at 40,000 characters; 250x more now takes well under 1 s."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 10_000_000)
    started = time.monotonic()
    findings = check_file(path)
    assert time.monotonic() - started < 2.0
    assert {f.check: f.outcome.value for f in findings}["contact_details"] == "pass"


def test_text_patterns_still_find_what_they_should(tmp_path):
    known = pseudonym()
    path = tmp_path / "notes.md"
    path.write_text(f"patient {known} seen; contact jean.dupont@example.fr\nNIR 1 85 07 75 123 456 88 or a{known}b\n"
                    f"{known} {known}")
    found = {f.check: f for f in check_file(path, DEFAULT_POLICY, CheckContext(pseudonyms=__import__("pyarrow").array([known])))}
    assert found["pseudonyms"].outcome.value == "fail" and found["pseudonyms"].cell_count == 3  # not inside a longer hex run
    assert [c.row for c in found["pseudonyms"].cells] == [0, 2, 2]
    assert found["contact_details"].outcome.value == "fail"


def test_a_check_out_of_time_fails_naming_the_check(tmp_path):
    """Out of time by construction, whatever the machine's speed: the worker is paused mid-check, so only
    the wall-clock budget can end it (a fast machine could check the whole file within a short budget, and
    a loaded one could spend a short budget on the worker's start-up before any check)."""
    path = heavy_csv(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    budget = Budget(seconds=8)
    result: dict = {}
    started = time.monotonic()
    checking = threading.Thread(target=lambda: result.setdefault(
        "findings", check_in_worker(path, DEFAULT_POLICY, CheckContext(), budget, work)))
    checking.start()
    _pause_worker_once_started(work, running=checking.is_alive)
    checking.join(60)
    assert time.monotonic() - started < budget.seconds + 2.5  # stopped at its budget, not whenever it ends
    findings = result["findings"]
    assert len(findings) == 1 and findings[0]["check"] == "budget" and findings[0]["outcome"] == "fail"
    message = findings[0]["message"]
    assert "time budget (8 s)" in message and any(f"the {step} check" in message for step in ("read", "profile", "row_level", "embedded"))


def test_a_check_out_of_memory_fails_naming_the_check(tmp_path):
    path = heavy_csv(tmp_path)
    findings = check_in_worker(path, DEFAULT_POLICY, CheckContext(), Budget(seconds=60, memory_bytes=900 * 2 ** 20), tmp_path)
    assert len(findings) == 1 and findings[0]["check"] == "budget" and findings[0]["outcome"] == "fail", findings
    assert "check" in findings[0]["message"]
    # the same file with room enough is checked in full (memory is what this test is about: time is
    # given without stint, since the full check took 55 s on a loaded 2-core machine, 60 s being the default)
    full = check_in_worker(path, DEFAULT_POLICY, CheckContext(), Budget(seconds=600), tmp_path)
    assert "budget" not in {f["check"] for f in full} and "row_limit" in {f["check"] for f in full}


# --- through the gate -----------------------------------------------------------------------------


def test_refused_types_are_refused_at_submission_and_nothing_is_queued(gate_server):
    outputs = gate_server.workspace() / "outputs"
    with zipfile.ZipFile(outputs / "bundle.zip", "w") as archive:
        archive.writestr("table.csv", "a,n\nx,12\n")
    (outputs / "analysis.py").write_text("print('hello')\n")
    (outputs / "disguised.csv").write_bytes((outputs / "bundle.zip").read_bytes())
    quarantined = set(gate_server.gate.quarantine.root.rglob("*"))
    for path, why in (("outputs/bundle.zip", ".zip files may not leave"),
                      ("outputs/analysis.py", ".py files may not leave"),
                      ("outputs/disguised.csv", "the content is a zip archive although the name says .csv")):
        response = gate_server.submit("remi", ["outputs/table1.csv", path])
        assert response.status_code == 400 and why in response.json()["error"], response.text
        assert "nothing was submitted" in response.json()["error"]
    with gate_server.gate.session() as session:
        assert session.scalar(select(func.count()).select_from(EgressRequest)) == 0
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "egress.refused")).all()
        assert len(refused) == 3 and all(e.actor == "remi" for e in refused)
    assert set(gate_server.gate.quarantine.root.rglob("*")) == quarantined  # not even table1.csv


def _enclave_list(env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "enclave.cli", "list"], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=REPO, timeout=60)
    return time.monotonic() - started, result


def _worker_pid(job: Path) -> int:
    """The pid of the check worker running the job in ``job`` (its command line names the folder)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"egress_gate.check_worker" in argv and str(job).encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no check worker for {job}")


def _pause_worker_once_started(folder: Path, progress_glob: str = "check-*/progress", running=lambda: True) -> float:
    """Wait for a check worker whose job is under ``folder`` to start its first check, then pause it
    (SIGSTOP); the time it started. Paused, it can only end by running out of its time budget."""
    deadline = time.monotonic() + 30
    while not (progress := list(folder.glob(progress_glob))):
        assert time.monotonic() < deadline and running(), "the check worker never started a check"
        time.sleep(0.05)
    started = time.monotonic()
    os.kill(_worker_pid(progress[0].parent), signal.SIGSTOP)
    return started


def test_while_a_heavy_file_is_checked_the_registry_answers_within_two_seconds(gate_server):
    """The probe froze logins and `enclave list` for minutes; now the checks hold no transaction."""
    heavy_csv(gate_server.workspace() / "outputs")
    gate = gate_server.gate
    gate.budget = Budget(seconds=8)  # the worker is paused below: it holds its file for all 8 s, then is killed
    env = {"ENCLAVE_HOME": str(gate_server.root / "home"), "ENCLAVE_PROJECTS_DIR": str(gate_server.root / "projects")}
    box = totp.SecretBox(Fernet.generate_key().decode())
    with gate.session() as session:
        secret = totp.start_enrolment(session, box, get_user(session, "nora"))
    baseline, _ = _enclave_list(env)  # start-up of a fresh interpreter on this machine, unloaded
    result: dict = {}
    submitting = threading.Thread(target=lambda: result.setdefault("r", gate_server.submit("remi", ["outputs/heavy.csv"])))
    submitting.start()
    # Heavy by construction, whatever the machine's speed: the worker is paused mid-check, so it can
    # only end by running out of its budget (a check that held a registry transaction would hold it now).
    worker_started = _pause_worker_once_started(gate.config.work_dir, "work-*/check-*/progress")

    started = time.monotonic()
    in_process = CliRunner().invoke(enclave_cli, ["list"], env=env)
    listing_time = time.monotonic() - started
    process_time, listing = _enclave_list(env)
    started = time.monotonic()
    with gate.session() as session:  # a user signs in: the second factor is verified and recorded
        verdict = totp.verify(session, box, get_user(session, "nora"), pyotp.TOTP(secret).now())
    sign_in_time = time.monotonic() - started
    measured_until = time.monotonic()
    submitting.join(60)

    assert in_process.exit_code == 0 and "cohort-a" in in_process.output, in_process.output
    assert listing_time < 2.0, f"enclave list took {listing_time:.2f} s during the check"
    # the command as an operator runs it answers too (its own start-up, imports included, aside)
    assert listing.returncode == 0 and "cohort-a" in listing.stdout, listing.stderr
    assert process_time < baseline + 2.0, (process_time, baseline)
    assert verdict.accepted and sign_in_time < 2.0, f"sign-in took {sign_in_time:.2f} s during the check"
    assert measured_until - worker_started < 8, "the measurements must fall while the worker was running"
    response = result["r"]
    assert response.status_code == 201, response.text
    findings = response.json()["files"][0]["findings"]
    assert [f["outcome"] for f in findings if f["check"] == "budget"] == ["fail"]


def test_a_busy_registry_gives_one_clear_line_not_a_traceback(gate_server):
    env = {"ENCLAVE_HOME": str(gate_server.root / "home"), "ENCLAVE_PROJECTS_DIR": str(gate_server.root / "projects"),
           "ENCLAVE_DB_BUSY_TIMEOUT": "0.5"}
    holder = sqlite3.connect(gate_server.root / "home" / "registry.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        _, result = _enclave_list(env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 3, result
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "registry database is busy" in result.stderr and "try again" in result.stderr
    _, again = _enclave_list(env)
    assert again.returncode == 0


def test_a_file_the_checks_could_not_read_is_not_previewed_in_the_gate(gate_server):
    """The worker ran out of budget on it: the gate's own process does not try to render it either."""
    (gate_server.workspace() / "outputs" / "deep.svg").write_bytes(BUILDERS["deep_groups.svg"]())
    body = gate_server.submit("remi", ["outputs/deep.svg"]).json()
    assert [f["outcome"] for f in body["files"][0]["findings"] if f["check"] == "structure"] == ["fail"]
    preview = gate_server.gate.preview("sven", body["id"], "deep.svg")
    assert preview.tables == [] and preview.problem.startswith("no preview: the automated checks could not read")
