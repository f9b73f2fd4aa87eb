"""A project may be frozen: held by ops (an investigation, a legal hold), data out of reach, nothing deleted.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Frozen copies of the enum's values: a migration must not change when the models do.
BEFORE = ("requested", "reviewed", "authorised", "provisioned", "active", "suspended", "closed")
AFTER = ("requested", "reviewed", "authorised", "provisioned", "active", "suspended", "frozen", "closed")
NAME = "ck_projects_state"


def _states(values: tuple[str, ...]):
    return sa.text("state IN ({})".format(", ".join(f"'{s}'" for s in values)))


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(op.f(NAME), _states(AFTER))


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM projects WHERE state = 'frozen'")).scalar():
        raise RuntimeError("frozen projects exist: unfreeze or close them before going back to revision 0013")
    with op.batch_alter_table("projects") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(op.f(NAME), _states(BEFORE))
