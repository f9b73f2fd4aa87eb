"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_SNDS = REPO.parent / "shared" / "data" / "synthetic-snds"
# Every subprocess (the `enclave` command, a hub, its services) imports the code under test from this
# checkout, whatever its working folder and wherever the virtual environment was installed from.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def run_enclave(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real `enclave` command line, as an operator would."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "enclave.cli", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=REPO, timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"enclave {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def _unmount_workspaces(root: Path) -> None:
    from enclave import workspace

    for point in workspace.mounted_under(root):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def workspaces_unmounted(tmp_path_factory):
    """Provisioning loop-mounts each project's workspace (enclave.workspace): none outlives the
    session, and none left by an interrupted session blocks pytest's clean-up of old folders."""
    base = tmp_path_factory.getbasetemp()
    # Only in the folders pytest is about to delete (it keeps the newest three): a concurrent session's stay.
    numbered = sorted((p for p in base.parent.glob("pytest-[0-9]*") if p != base), key=lambda p: int(p.name[7:]))
    for stale in numbered[:-3]:
        _unmount_workspaces(stale)
    yield
    _unmount_workspaces(base)
# Tests run in parts (README, "Tests"): a test is marked by what it needs, from the fixtures it uses,
# so that `pytest -m "not docker and not postgres and not browser"` runs the pure ones.
NEEDS = {  # fixture -> marker
    "docker_engine": "docker", "image": "docker", "platform": "docker", "new_slug": "docker",
    "stack_image": "docker", "stack_platform": "docker",
    "browser": "browser", "login_hub": "browser",
    "postgres_server": "postgres",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        wanted = {NEEDS[name] for name in getattr(item, "fixturenames", ()) if name in NEEDS}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            wanted.add("postgres")
        for marker in sorted(wanted - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def master_key() -> bytes:
    return os.urandom(32)


CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); never a downloaded browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session: Playwright's sync API allows one instance at a time."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# The registry's database for every folder's tests (SQLite and a throw-away PostgreSQL server).
from .registry_database import backend, new_database, postgres_server, registry, sqlite_template  # noqa: E402, F401
