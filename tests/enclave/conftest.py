"""Fixture for the tests that need the researcher image.

`image` (session scope) is the tag of the slim notebook image, `enclave/notebook:latest`,
after running scripts/build_images.sh (with the environment's BASE_IMAGE and
NOTEBOOK_IMAGE, so the same tests check an upstream-based build), which builds the
stack image too (`enclave/notebook-stack`, tests/tooling). The script always runs:
on a fresh machine it builds the base and the images (a few minutes);
otherwise Docker's layer cache makes it take seconds, and a change in
Dockerfile.notebook or images/ is always in the image under test.

Nothing is skipped: without a reachable Docker engine, the tests fail and say to
run `make host`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .platform import platform  # noqa: F401 - the session's hub and projects, for test_isolation and test_spawn_rules

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build_images.sh"
IMAGE = f"{os.environ.get('NOTEBOOK_IMAGE') or 'enclave/notebook'}:latest"


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        docker = subprocess.run(["docker", "info"], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"Docker engine unreachable ({error}): run `make host` to install and start it")
    if docker.returncode != 0:
        pytest.fail(f"Docker engine unreachable: run `make host` to install and start it\n{docker.stderr.strip()}")

    log = tmp_path_factory.mktemp("image") / "build_images.log"
    with log.open("w") as out:
        build = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], check=False, stdout=out, stderr=subprocess.STDOUT, timeout=3600
        )
    if build.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        pytest.fail(f"scripts/build_images.sh failed (full log: {log}):\n{tail}")
    return IMAGE
