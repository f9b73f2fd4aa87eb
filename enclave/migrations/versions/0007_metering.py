"""Metering: counter readings per container instance, usage per project, member and day, storage
per project and day; a project's billing settings (organisation type, monthly budget).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("billing", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "usage_counters",
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_usec", sa.BigInteger(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("memory_limit_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("container_id", "started_at", name=op.f("pk_usage_counters")),
    )
    op.create_index(op.f("ix_usage_counters_project"), "usage_counters", ["project"])
    op.create_table(
        "usage_days",
        sa.Column("project", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cpu_usec", sa.BigInteger(), nullable=False),
        sa.Column("wall_ms", sa.BigInteger(), nullable=False),
        sa.Column("memory_used_byte_s", sa.BigInteger(), nullable=False),
        sa.Column("memory_limit_byte_s", sa.BigInteger(), nullable=False),
        sa.Column("memory_peak_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project", "username", "day", name=op.f("pk_usage_days")),
    )
    op.create_table(
        "storage_days",
        sa.Column("project", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project", "kind", "day", name=op.f("pk_storage_days")),
    )


def downgrade() -> None:
    op.drop_table("storage_days")
    op.drop_table("usage_days")
    op.drop_index(op.f("ix_usage_counters_project"), table_name="usage_counters")
    op.drop_table("usage_counters")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("billing")
