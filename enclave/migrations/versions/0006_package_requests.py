"""Project tools: researchers' package requests and ops' decisions; an egress request's kind (files or code).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of the enums' values: a migration must not change when the models do.
ECOSYSTEMS = ("pypi", "cran")
STATES = ("requested", "approved", "refused")
KINDS = ("files", "code")


def _one_of(column: str, values: tuple[str, ...], table: str, name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "package_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("ecosystem", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_slug"], ["projects.slug"], name=op.f("fk_package_requests_project_slug_projects")),
        sa.ForeignKeyConstraint(["requester"], ["users.username"], name=op.f("fk_package_requests_requester_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_requests")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_package_requests_reason_not_empty")),
        _one_of("ecosystem", ECOSYSTEMS, "package_requests", "package_ecosystem"),
        _one_of("state", STATES, "package_requests", "package_state"),
    )
    op.create_index(op.f("ix_package_requests_project_slug"), "package_requests", ["project_slug"])
    with op.batch_alter_table("egress_requests") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False, server_default="files"))
        batch.create_check_constraint(op.f("ck_egress_requests_egress_request_kind"),
                                      sa.text("kind IN ({})".format(", ".join(f"'{k}'" for k in KINDS))))


def downgrade() -> None:
    with op.batch_alter_table("egress_requests") as batch:
        batch.drop_constraint(op.f("ck_egress_requests_egress_request_kind"), type_="check")
        batch.drop_column("kind")
    op.drop_index(op.f("ix_package_requests_project_slug"), table_name="package_requests")
    op.drop_table("package_requests")
