"""Alembic environment: runs on the connection given by enclave.db.upgrade (no alembic.ini).

Called through Alembic's command API without a connection (``alembic_config(url)``), it opens
one from the ``sqlalchemy.url`` option, e.g. to autogenerate a revision.
"""

import importlib

from alembic import context

from enclave.db import MODEL_MODULES, make_engine
from enclave.errors import EnclaveError
from enclave.models import Base

for module in MODEL_MODULES:  # every table of the database in Base.metadata, the gate's included
    importlib.import_module(module)
config = context.config


def run_migrations(connection) -> None:
    # render_as_batch: SQLite alters a table by copying it; Alembic's batch mode does that for us.
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise EnclaveError("Alembic was called without a database", "pass enclave.db.alembic_config(url)")
    with make_engine(url).begin() as own_connection:
        run_migrations(own_connection)
