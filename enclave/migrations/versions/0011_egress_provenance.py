"""Egress provenance and the review loop: per file, the code that produced it (commit and notebook or
script of the project's repository) and the researcher's context (what it is, the population, the
disclosure controls applied); per request, the researcher's answer to the round it resubmits.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("egress_files") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
    with op.batch_alter_table("egress_requests") as batch:
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("egress_requests") as batch:
        batch.drop_column("answer")
    with op.batch_alter_table("egress_files") as batch:
        batch.drop_column("context")
        batch.drop_column("provenance")
