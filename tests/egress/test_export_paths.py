"""Paths as the researcher's shell and notebook understand them (enclave-export), and the files the
new-request form offers (only the researcher's own: no .git, no checkpoints, no hidden files)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from egress_gate.policy import DEFAULT_POLICY
from egress_gate.submission import offered_files

from ..conftest import REPO


@pytest.fixture
def client(tmp_path, monkeypatch):
    """The in-container client with its workspace at ~/work of a home under tmp_path."""
    spec = importlib.util.spec_from_file_location("enclave_export_paths", REPO / "images/python/enclave_export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    home = tmp_path / "home"
    (home / "work" / "analysis" / "out").mkdir(parents=True)
    (home / "work" / "analysis" / "out" / "table.csv").write_text("a\n1\n")
    (home / "work" / "table.csv").write_text("a\n1\n")
    (home / "secret.csv").write_text("a\n1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ENCLAVE_WORK_DIR", raising=False)
    return module, home


@pytest.mark.parametrize("cwd,given", [
    ("work/analysis", "out/table.csv"),  # a notebook in ~/work/analysis, relative to its folder
    ("work/analysis/out", "table.csv"),
    ("work/analysis/out", "./table.csv"),
    ("", "work/analysis/out/table.csv"),  # a terminal in ~
    ("work", "analysis/../analysis/out/table.csv"),
    ("/", "~/work/analysis/out/table.csv"),  # ~ wherever one is (a notebook's submit("~/work/...") too)
    ("work/analysis", "{home}/work/analysis/out/table.csv"),  # absolute under the workspace
])
def test_paths_resolve_like_the_shell(client, monkeypatch, cwd, given):
    module, home = client
    monkeypatch.chdir(cwd if cwd.startswith("/") else home / cwd)
    assert module.to_workspace_path(given.format(home=home)) == "analysis/out/table.csv"


@pytest.mark.parametrize("cwd,given,resolved,why", [
    ("work", "work/table.csv", "work/work/table.csv", "does not exist"),  # the README's old example, from a notebook
    ("work", "../secret.csv", "secret.csv", "outside the workspace"),
    ("", "secret.csv", "secret.csv", "outside the workspace"),
    ("work", "{home}/secret.csv", "secret.csv", "outside the workspace"),
    ("work", "~/secret.csv", "secret.csv", "outside the workspace"),
    ("work", "analysis", "work/analysis", "a folder"),
])
def test_a_refused_path_says_what_it_resolved_to_and_what_is_allowed(client, monkeypatch, cwd, given, resolved, why):
    module, home = client
    monkeypatch.chdir(home / cwd)
    with pytest.raises(module.ExportError) as refused:
        module.to_workspace_path(given.format(home=home))
    message = str(refused.value)
    assert f"resolves to {home / resolved}" in message and why in message, message
    if why != "a folder":
        assert f"files under the workspace {home / 'work'}" in message and f"current folder ({home / cwd})" in message


def test_the_command_line_prints_the_refusal(client, monkeypatch, capsys):
    module, home = client
    monkeypatch.chdir(home / "work")
    assert module.main(["submit", "work/table.csv", "-j", "counts"]) == 1
    err = capsys.readouterr().err
    assert f"resolves to {home / 'work/work/table.csv'}, which does not exist" in err


def test_the_form_offers_only_the_researchers_own_files(tmp_path):
    work = tmp_path / "work"
    files = {
        "outputs/table1.csv": True, "notes.md": True, "analysis/figure.png": True,
        ".git/hooks/pre-commit": False, ".git/config": False, ".ipynb_checkpoints/t-checkpoint.csv": False,
        "analysis/.ipynb_checkpoints/figure-checkpoint.png": False, ".bash_history": False, ".hidden.csv": False,
        "lost+found/x.csv": False, "analysis/__pycache__/m.cpython-311.pyc": False, "model.pkl": False,
        "run.py": False,  # a type the gate does not release as a file (code leaves with enclave-export code)
    }
    for name in files:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("a,b\n1,2\n")
    os.symlink(tmp_path, work / "outside")  # a link out of the workspace is not followed
    os.symlink(work / "notes.md", work / "link.md")
    offered, left_out = offered_files(work, DEFAULT_POLICY.allowed_types)
    assert offered == sorted(name for name, shown in files.items() if shown)
    assert left_out >= 6


def test_submit_from_a_notebook_sends_its_workspace_path_context_and_answer(client, monkeypatch):
    """`enclave-export submit out/table.csv --from report.ipynb ...` run in ~/work/analysis: the
    notebook is named as the shell understands it; the gate finds it in the clone at the pushed commit."""
    module, home = client
    (home / "work" / "analysis" / "report.ipynb").write_text("{}")
    monkeypatch.chdir(home / "work" / "analysis")
    monkeypatch.setenv("ENCLAVE_PROJECT", "cohort-a")
    sent = []
    monkeypatch.setattr(module, "_call", lambda method, path, body=None: sent.append((method, path, body)) or {"id": 7})
    assert module.main(["submit", "out/table.csv", "--from", "report.ipynb", "-j", "table 2", "--what", "acts",
                        "--population", "adults", "--controls", "n >= 10", "--resubmits", "6", "--answer", "merged"]) == 0
    assert sent == [("POST", "api/requests", {
        "project": "cohort-a", "paths": ["analysis/out/table.csv"], "justification": "table 2",
        "sources": {"analysis/out/table.csv": "analysis/report.ipynb"},
        "contexts": {"analysis/out/table.csv": {"what": "acts", "population": "adults", "controls": "n >= 10"}},
        "resubmits": 6, "answer": "merged"})]
    assert module.main(["update", "7", "out/table.csv"]) == 0
    assert sent[-1] == ("POST", "api/requests/7", {"path": "analysis/out/table.csv"})
