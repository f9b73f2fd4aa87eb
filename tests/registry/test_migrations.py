"""The schema comes only from Alembic, and says the same as the models, on both backends."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import egress_gate.models  # noqa: F401  (the gate's tables are in Base.metadata too)
import metering.models  # noqa: F401  (and the metering's)
import portal.models  # noqa: F401  (and the front office's)
from enclave.db import alembic_config, check_schema, current_revision, head_revision, make_engine, upgrade
from enclave.errors import EnclaveError
from enclave.models import Base


def test_upgrade_creates_the_schema_the_models_describe(new_database):
    engine = make_engine(new_database(False))
    try:
        assert current_revision(engine) is None
        refusal = f"at schema revision none, not {head_revision()} — run `enclave db upgrade`"
        with pytest.raises(EnclaveError, match=refusal):
            check_schema(engine)
        upgrade(engine)
        upgrade(engine)  # a second run changes nothing
        assert current_revision(engine) == head_revision()
        check_schema(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                           Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_autogenerate_through_the_migrations_environment_sees_every_table(new_database):
    """`alembic check` in a fresh interpreter: only what migrations/env.py imports is compared, so
    a model module it forgot (the gate's tables) would show as tables to drop."""
    url = new_database(True)
    script = "import sys; from alembic import command; from enclave.db import alembic_config; " \
             "command.check(alembic_config(sys.argv[1]))"
    checked = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr


def test_downgrade_removes_everything_and_upgrade_rebuilds_it(new_database):
    url = new_database(True)
    engine = make_engine(url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(url)
        tables = set(inspect(engine).get_table_names())
        assert {"users", "user_roles", "projects", "memberships", "audit_events", "user_totp", "egress_requests",
                "egress_files", "egress_decisions", "egress_releases", "access_requests", "access_request_opinions",
                "access_authorisations", "published_results"} <= tables
    finally:
        engine.dispose()


def test_unsupported_or_unreachable_databases_are_named():
    with pytest.raises(EnclaveError, match="backend 'mysql' is not supported"):
        make_engine("mysql://db/registry")
    engine = make_engine("postgresql://enclave:secret@127.0.0.1:1/registry?connect_timeout=2")
    with pytest.raises(EnclaveError, match=r"cannot connect to the registry database .*:\*\*\*@127.0.0.1:1/") as error:
        check_schema(engine)
    assert "secret" not in str(error.value)


def test_a_frozen_project_keeps_the_schema_from_going_back_before_frozen_existed(registry):
    """0014 lets a project be frozen; going back to 0013 (whose CHECK does not know the state) is refused
    while one is, and allowed once none is."""
    from sqlalchemy import text

    from enclave.models import ProjectState

    from .factories import create_project_at_state

    with registry.session() as session:
        create_project_at_state(session, "held", ProjectState.frozen)
    config = alembic_config()
    with pytest.raises(RuntimeError, match="frozen projects exist"), registry.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
    assert current_revision(registry.engine) == head_revision()
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE projects SET state = 'closed'"))
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
    assert current_revision(registry.engine) == "0013"
