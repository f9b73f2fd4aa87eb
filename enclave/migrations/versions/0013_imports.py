"""The import airlock: import requests, their quarantined files and stewards' votes (airlock.models).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Frozen copies of the enums' values: a migration must not change when the models do.
STATES = ("draft", "submitted", "scanned", "in_review", "approved", "rejected", "blocked")
VOTES = ("approve", "reject")


def _one_of(column: str, values: tuple[str, ...], table: str, name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "import_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("stewards_required", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_slug"], ["projects.slug"], name=op.f("fk_import_requests_project_slug_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_requests")),
        sa.CheckConstraint("length(trim(purpose)) > 0", name=op.f("ck_import_requests_import_purpose_not_empty")),
        sa.CheckConstraint("stewards_required >= 1", name=op.f("ck_import_requests_import_stewards_required_positive")),
        _one_of("state", STATES, "import_requests", "import_state"),
    )
    op.create_index(op.f("ix_import_requests_project_slug"), "import_requests", ["project_slug"])
    op.create_table(
        "import_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["import_requests.id"], ondelete="CASCADE",
                                name=op.f("fk_import_files_request_id_import_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_files")),
        sa.UniqueConstraint("request_id", "name", name=op.f("uq_import_files_request_id")),
    )
    op.create_table(
        "import_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("steward", sa.String(64), nullable=False),
        sa.Column("vote", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["import_requests.id"], ondelete="CASCADE",
                                name=op.f("fk_import_decisions_request_id_import_requests")),
        sa.ForeignKeyConstraint(["steward"], ["users.username"], name=op.f("fk_import_decisions_steward_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_decisions")),
        sa.UniqueConstraint("request_id", "steward", name=op.f("uq_import_decisions_request_id")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_import_decisions_import_reason_not_empty")),
        _one_of("vote", VOTES, "import_decisions", "import_vote"),
    )


def downgrade() -> None:
    op.drop_table("import_decisions")
    op.drop_table("import_files")
    op.drop_index(op.f("ix_import_requests_project_slug"), table_name="import_requests")
    op.drop_table("import_requests")
