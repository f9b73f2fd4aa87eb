"""Egress gate: requests, their snapshotted files, stewards' decisions (one per steward), releases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the enums' values: a migration must not change when the models do.
REQUEST_STATES = ("submitted", "under_review", "approved", "changes_requested", "rejected", "released", "withdrawn")
VOTES = ("approve", "request_changes", "reject")


def _one_of(column: str, values: tuple[str, ...], table: str, name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "egress_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("stewards_required", sa.Integer(), nullable=False),
        sa.Column("resubmits_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_slug"], ["projects.slug"],
                                name=op.f("fk_egress_requests_project_slug_projects")),
        sa.ForeignKeyConstraint(["requester"], ["users.username"], name=op.f("fk_egress_requests_requester_users")),
        sa.ForeignKeyConstraint(["resubmits_id"], ["egress_requests.id"],
                                name=op.f("fk_egress_requests_resubmits_id_egress_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_egress_requests")),
        sa.UniqueConstraint("resubmits_id", name=op.f("uq_egress_requests_resubmits_id")),
        sa.CheckConstraint("length(trim(justification)) > 0",
                           name=op.f("ck_egress_requests_justification_not_empty")),
        sa.CheckConstraint("stewards_required >= 1", name=op.f("ck_egress_requests_stewards_required_positive")),
        _one_of("state", REQUEST_STATES, "egress_requests", "egress_request_state"),
    )
    op.create_index(op.f("ix_egress_requests_project_slug"), "egress_requests", ["project_slug"])
    op.create_table(
        "egress_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["egress_requests.id"],
                                name=op.f("fk_egress_files_request_id_egress_requests"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_egress_files")),
        sa.UniqueConstraint("request_id", "name", name=op.f("uq_egress_files_request_id")),
    )
    op.create_table(
        "egress_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("steward", sa.String(64), nullable=False),
        sa.Column("vote", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("release_anonymised", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["egress_requests.id"],
                                name=op.f("fk_egress_decisions_request_id_egress_requests"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["steward"], ["users.username"], name=op.f("fk_egress_decisions_steward_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_egress_decisions")),
        # One steward votes once on a request: the database refuses a second vote even if a bug lets it through.
        sa.UniqueConstraint("request_id", "steward", name=op.f("uq_egress_decisions_request_id")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_egress_decisions_reason_not_empty")),
        _one_of("vote", VOTES, "egress_decisions", "egress_vote"),
    )
    op.create_table(
        "egress_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("released_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["egress_requests.id"],
                                name=op.f("fk_egress_releases_request_id_egress_requests"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_egress_releases")),
        sa.UniqueConstraint("request_id", name=op.f("uq_egress_releases_request_id")),
    )


def downgrade() -> None:
    op.drop_table("egress_releases")
    op.drop_table("egress_decisions")
    op.drop_table("egress_files")
    op.drop_index(op.f("ix_egress_requests_project_slug"), table_name="egress_requests")
    op.drop_table("egress_requests")
