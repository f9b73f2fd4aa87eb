"""A project's git repository on the host: created at provisioning, retired when the project closes.

The repository is bare (``<project>/code/repository.git``, :mod:`enclave.layout`), owned by root
and served to the project's containers only by the project tools (:mod:`project_tools`), over
git's smart HTTP; researchers never see its folder. Pushes are accepted (``http.receivepack``)
because every request the tools pass on comes from an authenticated enclave server.

Retirement (``enclave project close``) moves ``code/`` to ``.code-retired/``: the tools serve only
``code/``, so the repository is out of reach at once, and its branches are listed in the audit
event; ops delete the retired folder under their retention rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from enclave.errors import EnclaveError
from enclave.layout import CODE, REPOSITORY, RETIRED_CODE, repository_dir

DEFAULT_BRANCH = "main"


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git (no user or system configuration read: the host's own must not change a project's repository)."""
    if shutil.which("git") is None:
        raise EnclaveError("git is not installed: project repositories cannot be created", "run `make host` (apt-get install git)")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise EnclaveError(f"git {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def ensure(project_dir: Path) -> Path:
    """The project's bare repository, created if missing (idempotent; a half-made one is finished)."""
    repository = repository_dir(project_dir)
    if not (repository / "HEAD").exists():
        repository.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = repository.parent / f".{REPOSITORY}.new"
        shutil.rmtree(staging, ignore_errors=True)
        git("init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(staging))
        git("config", "http.receivepack", "true", cwd=staging)
        git("config", "receive.denyDeletes", "true", cwd=staging)  # history is evidence: no branch deletion
        git("config", "receive.fsckObjects", "true", cwd=staging)
        os.rename(staging, repository)  # whole or not at all
    return repository


def branches(repository: Path) -> dict[str, str]:
    """``{ref: commit}`` of the repository's branches and tags."""
    if not (repository / "HEAD").exists():
        return {}
    listed = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repository)
    return dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)


def retire(project_dir: Path) -> dict[str, object]:
    """Take the repository out of reach (``code/`` -> ``.code-retired/``); what it held, for the audit log.

    Idempotent: a re-run after a crash finds it already retired and reports the same."""
    live, retired = project_dir / CODE, project_dir / RETIRED_CODE
    if live.exists():
        if retired.exists():
            raise EnclaveError(f"{retired} exists already: a closed project's repository would be overwritten",
                               f"move {retired} away (it is an older retirement), then run the command again")
        os.rename(live, retired)
    return {"retired_to": str(retired / REPOSITORY) if retired.exists() else None,
            "refs": branches(retired / REPOSITORY)}
