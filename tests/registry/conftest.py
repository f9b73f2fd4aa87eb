"""The provisioning tests' fixtures: synthetic sources, a master key, Docker, projects.

The registry database fixtures (``registry``, ``backend``, ``new_database``, ``postgres_server``)
are shared by every test folder: see tests/registry_database.py, loaded by tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enclave.db import make_engine

from ..registry_database import Registry

# --- provisioning: sources, master key, Docker, projects (tests/registry/test_provisioning.py) ---

SOURCE_PEOPLE = 300


@pytest.fixture(scope="session")
def synthetic_sources(tmp_path_factory) -> Path:
    """Identifying sources of 300 people, generated once per session, read-only."""
    from pseudonymizer.synth import generate

    sources = tmp_path_factory.mktemp("provisioning-sources")
    generate(sources, people=SOURCE_PEOPLE, seed=11, progress=False)
    for path in sources.iterdir():
        path.chmod(0o444)
    sources.chmod(0o555)
    return sources


@pytest.fixture(scope="session")
def master_key_file(tmp_path_factory, master_key) -> Path:
    path = tmp_path_factory.mktemp("provisioning-key") / "master.key"
    path.write_text(master_key.hex() + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def docker_engine():
    import docker
    from docker.errors import DockerException

    try:
        engine = docker.from_env()
        engine.ping()
    except DockerException as exc:
        pytest.fail(f"the provisioning tests create Docker networks, and no Docker engine answers ({exc}): "
                    "start one (`dockerd &`, or `make install`)", pytrace=False)
    yield engine
    engine.close()


@pytest.fixture
def new_slug(docker_engine) -> Iterator[Callable[[str], str]]:
    """``new_slug(prefix)`` -> a project slug no other test uses; at the end of the test, whatever
    happened, every container and network labelled ``enclave.project=<slug>`` is removed."""
    from .provisioning_support import remove_project_docker_objects

    made: list[str] = []

    def make(prefix: str = "prov") -> str:
        made.append(f"{prefix}-{os.urandom(4).hex()}")
        return made[-1]

    yield make
    for slug in made:
        remove_project_docker_objects(docker_engine, slug)


@pytest.fixture
def other_registry(backend, new_database, tmp_path) -> Iterator[Registry]:
    """A second, independent registry (its own database and folders) on the same backend."""
    url = new_database(True)
    engine = make_engine(url)
    yield Registry(backend, url, engine, tmp_path / "other-home")
    engine.dispose()


@pytest.fixture
def enclave_project(synthetic_sources, master_key_file, docker_engine):
    """``enclave_project(registry, slug)`` -> an :class:`EnclaveProject` with the users registered
    (alice, bob, carol) and the standard manifest written."""
    from .factories import create_user
    from .provisioning_support import USERS, EnclaveProject

    def make(registry: Registry, slug: str):
        with registry.session() as session:
            for username in USERS:
                create_user(session, username)
        project = EnclaveProject(registry, slug, synthetic_sources, master_key_file, docker_engine)
        project.write_manifest()
        return project

    return make
