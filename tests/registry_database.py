"""A fresh registry per test, on SQLite and on a real PostgreSQL server started for the session.

The PostgreSQL server is Debian's (``apt-get install postgresql``), run as a throw-away cluster:
initdb into a temporary folder, listening only on a Unix socket in that folder, stopped and
removed when the session ends, whatever happens. Each test gets its own schema there (its own
file on SQLite).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from enclave.db import make_engine, session_scope, upgrade

from .conftest import run_enclave

BACKENDS = ["sqlite", "postgresql"]
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "enclave"
PG_DATABASE = "registry"


@dataclass
class PostgresServer:
    """A running throw-away cluster, reachable through the Unix socket in ``socket_dir``.

    Tests share one database, each in its own schema (creating a schema and migrating it takes
    a tenth of the time of creating a database).
    """

    socket_dir: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, schema: str | None = None) -> str:
        url = f"postgresql+psycopg://{PG_USER}@/{PG_DATABASE}?host={self.socket_dir}"
        return f"{url}&options=-csearch_path%3D{schema}" if schema else url

    def sql(self, statement: str) -> None:
        engine = create_engine(self.url())
        try:
            with engine.begin() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    def new_schema(self) -> str:
        name = f"test_{next(self._names)}"
        self.sql(f"CREATE SCHEMA {name}")
        return name


def _postgres_bindir() -> Path:
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if not found or not (found[-1] / "pg_ctl").exists():
        pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN_GLOB}: the registry tests run against a real "
                    "server — install it with `apt-get install postgresql` (or `make host`)", pytrace=False)
    return found[-1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="enclave-pg-"))
    data, log = root / "data", root / "server.log"
    # PostgreSQL refuses to run as root: run its tools as the `postgres` user, who owns the folder.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_owner:
        try:
            shutil.chown(root, "postgres", "postgres")
        except LookupError:
            shutil.rmtree(root)
            pytest.fail("running as root, the PostgreSQL fixture needs the `postgres` OS user: install the server "
                        "with `apt-get install postgresql`", pytrace=False)

    def run(*args: str) -> None:
        result = subprocess.run([*as_owner, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}{server_log}", pytrace=False)

    options = (f"-c listen_addresses='' -k {root} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=50")
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        run(str(bindir / "createdb"), "-h", str(root), "-U", PG_USER, PG_DATABASE)
        yield PostgresServer(root)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "registry.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


NewDatabase = Callable[[bool], str]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_database(backend, request, tmp_path) -> Iterator[NewDatabase]:
    """``new_database(migrated)`` -> the URL of a new database on this backend, empty or migrated."""
    schemas: list[str] = []

    def make(migrated: bool) -> str:
        if backend == "postgresql":
            server: PostgresServer = request.getfixturevalue("postgres_server")
            schemas.append(server.new_schema())
            url = server.url(schemas[-1])
            if migrated:
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
            return url
        path = tmp_path / f"registry-{len(list(tmp_path.glob('registry-*.db')))}.db"
        if migrated:
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"

    yield make
    for schema in schemas:
        request.getfixturevalue("postgres_server").sql(f"DROP SCHEMA {schema} CASCADE")


@dataclass
class Registry:
    """One test's registry: its database, ENCLAVE_HOME and audit head file."""

    backend: str
    url: str
    engine: Engine
    home: Path

    @property
    def audit_head(self) -> Path:
        return self.home / "audit.head"

    @property
    def projects_dir(self) -> Path:
        return self.home / "projects"

    def session(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine, self.audit_head)

    def env(self, **extra: str) -> dict[str, str]:
        return {"ENCLAVE_HOME": str(self.home), "ENCLAVE_DB_URL": self.url,
                "ENCLAVE_PROJECTS_DIR": str(self.projects_dir), "ENCLAVE_ACTOR": "operator-olga", **extra}

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        """Run `enclave ARGS...` in a subprocess on this registry."""
        return run_enclave(*args, env=self.env(**extra_env))

    def execute(self, statement: str, **params: object) -> None:
        """Raw SQL in its own transaction: what someone with database access could do."""
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)


@pytest.fixture
def registry(backend, new_database, tmp_path) -> Iterator[Registry]:
    url = new_database(True)
    engine = make_engine(url)
    yield Registry(backend, url, engine, tmp_path / "home")
    engine.dispose()
