"""Egress gate: a steward's approval of a request with failing findings names each one overridden, with a reason.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("egress_decisions") as batch:
        batch.add_column(sa.Column("overrides", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("egress_decisions") as batch:
        batch.drop_column("overrides")
