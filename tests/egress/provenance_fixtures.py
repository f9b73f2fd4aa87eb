"""A project's repository as the project tools give it (a real bare repository on the gate's side,
:func:`enclave.code_repository.ensure`) and a researcher's clone of it in the workspace, with a
notebook that writes an output, committed and pushed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from enclave.code_repository import ensure

NOTEBOOK_CODE = 'acts = extract.groupby("age_band").size()\nacts.to_csv("acts.csv")  # the output\n'
ACTS = b"age_band,n\n40-49,120\n50-59,95\n60-69,150\n"
ACTS_V2 = b"age_band,n\n40-49,125\n50-59,95\n60-69,150\n"


def git(*args: str, cwd: Path) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(cwd), "PATH": "/usr/bin:/bin",
           "GIT_AUTHOR_NAME": "remi", "GIT_AUTHOR_EMAIL": "remi@enclave", "GIT_COMMITTER_NAME": "remi",
           "GIT_COMMITTER_EMAIL": "remi@enclave"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def notebook(code: str) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Acts by age band"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": code.splitlines(keepends=True),
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["SECRET-OUTPUT-NOT-CODE\n"]}]}]})


def clone_with_notebook(project_dir: Path, workspace: Path, push: bool = True) -> tuple[Path, str]:
    """``workspace/analysis``, a clone of the project's repository with ``acts.ipynb`` committed (and
    pushed) and ``acts.csv`` written; returns (clone, commit)."""
    bare = ensure(project_dir)
    clone = workspace / "analysis"
    git("clone", "--quiet", str(bare), str(clone), cwd=workspace)
    (clone / "acts.ipynb").write_text(notebook(NOTEBOOK_CODE))
    git("add", "acts.ipynb", cwd=clone)
    git("commit", "--quiet", "-m", "acts by age band", cwd=clone)
    if push:
        git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
    (clone / "acts.csv").write_bytes(ACTS)
    return clone, git("rev-parse", "HEAD", cwd=clone)
