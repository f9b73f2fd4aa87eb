"""Connecting to the registry database (SQLite or PostgreSQL), transactions, and migrations.

Every transaction serialises writers: on SQLite it starts with ``BEGIN IMMEDIATE`` (the write
lock), on PostgreSQL the code that must not race locks rows (``FOR UPDATE``) or takes an advisory
lock. Without that, two operators changing the same project, or two audit events appended at
once, could both read the same "current" state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from enclave.errors import EnclaveError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Every module whose tables live in the registry's database: the migrations own them all, and
# Alembic's autogenerate drops whatever its environment has not imported (the gate's tables too).
MODEL_MODULES = ("enclave.models", "egress_gate.models", "portal.models", "metering.models", "airlock.models")
# Keys of Session.info, shared with enclave.audit.
AUDIT_HEAD_KEY = "enclave.audit_head"
_AFTER_COMMIT_KEY = "enclave.after_commit"


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite (foreign keys on, WAL, immediate transactions) or PostgreSQL.

    ``postgresql://`` means psycopg 3. A SQLite file's folder is created if missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    if parsed.get_backend_name() != "sqlite":
        raise EnclaveError(f"database backend {parsed.get_backend_name()!r} is not supported",
                           "set ENCLAVE_DB_URL to a sqlite:/// or postgresql+psycopg:// URL")
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A writer waits this long for another's write lock (WAL lets readers go on meanwhile).
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout()})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def busy_timeout() -> float:
    """Seconds a SQLite writer waits for the lock: ``ENCLAVE_DB_BUSY_TIMEOUT``, default 30."""
    raw = os.environ.get("ENCLAVE_DB_BUSY_TIMEOUT") or "30"
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise EnclaveError(f"ENCLAVE_DB_BUSY_TIMEOUT={raw!r} is not a positive number of seconds", "e.g. 30")
    return value


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "another transaction holds the lock" (SQLite's busy/locked)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in text or "database is busy" in text


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN IMMEDIATE instead of sqlite3's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine, audit_head: Path | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on any exception.

    ``audit_head`` is the audit log's anchor file (``Settings.audit_head``); a session that writes
    audit events needs it. Objects stay readable after the commit (``expire_on_commit=False``).
    When the scope ends, the :func:`after_commit` callbacks of every transaction that committed
    run, in order; all run even if one fails, then the first failure is raised.
    """
    session = Session(engine, expire_on_commit=False)
    session.info[AUDIT_HEAD_KEY] = audit_head
    committed: list[Callable[[], None]] = []
    event.listen(session, "after_commit", lambda s: committed.extend(s.info.pop(_AFTER_COMMIT_KEY, {}).values()))
    event.listen(session, "after_rollback", lambda s: s.info.pop(_AFTER_COMMIT_KEY, None))
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        _run_all(committed)


def after_commit(session: Session, callback: Callable[[], None], key: str | None = None) -> None:
    """Run ``callback`` after the session's current transaction commits (never if it rolls back).

    For side effects outside the database that must follow, not precede, the commit: the audit
    head file, stopping a suspended project's servers. They run when the :func:`session_scope`
    ends, so a failing one cannot undo the commit, and is still reported. A callback registered
    under a ``key`` replaces the earlier one with that key (only the last audit head needs writing).
    """
    callbacks = session.info.setdefault(_AFTER_COMMIT_KEY, {})
    callbacks[key if key is not None else object()] = callback


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    failures = []
    for callback in callbacks:
        try:
            callback()
        except Exception as exc:  # the others must still run; the first is raised below
            failures.append(exc)
    if failures:
        raise failures[0]


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration without an alembic.ini (``url`` is only needed by the alembic CLI API).

    A new revision: ``alembic.command.revision(alembic_config(url), message=..., autogenerate=True)``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(target: Engine | str) -> None:
    """Migrate the database at ``target`` (an engine or URL) to the newest schema."""
    engine = make_engine(target) if isinstance(target, str) else target
    config = alembic_config()
    try:
        with _connect(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if engine is not target:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None when it was never migrated)."""
    with _connect(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "enclave/migrations/versions holds no revision"
    return head


def check_schema(engine: Engine) -> None:
    """Fail fast, naming the fix, unless the database is reachable and at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        raise EnclaveError(f"the registry database {where} is at schema revision {current or 'none'}, not {head}",
                           "run `enclave db upgrade`")


@contextmanager
def _connect(engine: Engine) -> Iterator[Any]:
    """A connection in a transaction; an unreachable database becomes one clear error."""
    try:
        connection = engine.connect()
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise EnclaveError(f"cannot connect to the registry database {where}: {reason}",
                           "check ENCLAVE_DB_URL and that the database server is running") from None
    with connection, connection.begin():
        yield connection
