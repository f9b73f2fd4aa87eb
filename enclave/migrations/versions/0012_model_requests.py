"""An egress request's kind may be "model": a trained model, checked by attacks against its training data.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Frozen copies of the enum's values: a migration must not change when the models do.
BEFORE = ("files", "code")
AFTER = ("files", "code", "model")
NAME = "ck_egress_requests_egress_request_kind"


def _kinds(values: tuple[str, ...]):
    return sa.text("kind IN ({})".format(", ".join(f"'{k}'" for k in values)))


def upgrade() -> None:
    with op.batch_alter_table("egress_requests") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(op.f(NAME), _kinds(AFTER))


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM egress_requests WHERE kind = 'model'")).scalar():
        raise RuntimeError("egress requests of kind 'model' exist: they cannot be kept under revision 0011")
    with op.batch_alter_table("egress_requests") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
        batch.create_check_constraint(op.f(NAME), _kinds(BEFORE))
