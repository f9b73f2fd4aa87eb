"""Member suspension: a member's access to one project suspended (by whom, when, why) and lifted;
an index on the audit log's (action, at), which the reconciler reads every pass for alarms.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suspended_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(200), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_member_suspensions_reason_not_empty")),
        sa.ForeignKeyConstraint(["project_slug"], ["projects.slug"],
                                name=op.f("fk_member_suspensions_project_slug_projects")),
        sa.ForeignKeyConstraint(["username"], ["users.username"], name=op.f("fk_member_suspensions_username_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_suspensions")),
    )
    op.create_index("ix_member_suspensions_project_user", "member_suspensions", ["project_slug", "username"])
    op.create_index("uq_member_suspensions_open", "member_suspensions", ["project_slug", "username"], unique=True,
                    sqlite_where=sa.text("lifted_at IS NULL"), postgresql_where=sa.text("lifted_at IS NULL"))
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
    op.drop_index("uq_member_suspensions_open", table_name="member_suspensions")
    op.drop_index("ix_member_suspensions_project_user", table_name="member_suspensions")
    op.drop_table("member_suspensions")
