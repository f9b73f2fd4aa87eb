"""Front office: access requests, comments, committee conflicts and opinions, authorisations,
published results; the ``committee`` user role.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the enums' values: a migration must not change when the models do.
ROLES_BEFORE = ("researcher", "steward", "ops")
ROLES = (*ROLES_BEFORE, "committee")
PURPOSES = ("health_information", "health_policy", "health_spending", "professional_information",
            "innovation", "surveillance")
REQUEST_STATES = ("draft", "submitted", "changes_requested", "approved", "rejected", "authorised", "refused",
                  "withdrawn")
CRITERIA = ("relevance", "adequacy", "methodology")


def _one_of(column: str, values: tuple[str, ...], table: str, name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def _roles(values: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{v}'" for v in values)
    with op.batch_alter_table("user_roles", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_user_roles_role"), type_="check")
        batch.create_check_constraint(op.f("ck_user_roles_role"), sa.text(f"role IN ({listed})"))


def _fk(table: str, column: str, target: str, **kw) -> sa.ForeignKeyConstraint:
    target_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{target_table}"), **kw)


def upgrade() -> None:
    _roles(ROLES)
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("methodology", sa.Text(), nullable=False),
        sa.Column("holder_organisation", sa.String(300), nullable=False),
        sa.Column("team", sa.JSON(), nullable=False),
        sa.Column("duration_months", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("favourable_required", sa.Integer(), nullable=True),
        sa.Column("resubmits_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _fk("access_requests", "applicant", "users.username"),
        _fk("access_requests", "resubmits_id", "access_requests.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
        sa.UniqueConstraint("resubmits_id", name=op.f("uq_access_requests_resubmits_id")),
        _one_of("state", REQUEST_STATES, "access_requests", "access_request_state"),
        _one_of("purpose", PURPOSES, "access_requests", "access_request_purpose"),
    )
    op.create_index(op.f("ix_access_requests_applicant"), "access_requests", ["applicant"])
    op.create_table(
        "access_request_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_request_comments", "request_id", "access_requests.id", ondelete="CASCADE"),
        _fk("access_request_comments", "author", "users.username"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_request_comments")),
        sa.CheckConstraint("length(trim(body)) > 0", name=op.f("ck_access_request_comments_body_not_empty")),
    )
    op.create_index(op.f("ix_access_request_comments_request_id"), "access_request_comments", ["request_id"])
    op.create_table(
        "access_request_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_request_conflicts", "request_id", "access_requests.id", ondelete="CASCADE"),
        _fk("access_request_conflicts", "member", "users.username"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_request_conflicts")),
        sa.UniqueConstraint("request_id", "member", name=op.f("uq_access_request_conflicts_request_id")),
        sa.CheckConstraint("length(trim(note)) > 0", name=op.f("ck_access_request_conflicts_note_not_empty")),
    )
    op.create_table(
        "access_request_opinions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(64), nullable=False),
        *(column for criterion in CRITERIA for column in (
            sa.Column(criterion, sa.Boolean(), nullable=False),
            sa.Column(f"{criterion}_reason", sa.Text(), nullable=False))),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_request_opinions", "request_id", "access_requests.id", ondelete="CASCADE"),
        _fk("access_request_opinions", "member", "users.username"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_request_opinions")),
        # One member, one opinion per request: the database refuses a second even if a bug lets it through.
        sa.UniqueConstraint("request_id", "member", name=op.f("uq_access_request_opinions_request_id")),
        *(sa.CheckConstraint(f"length(trim({c}_reason)) > 0", name=op.f(f"ck_access_request_opinions_{c}_reason_not_empty"))
          for c in CRITERIA),
    )
    op.create_table(
        "access_authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("document_name", sa.String(255), nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("access_authorisations", "request_id", "access_requests.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_authorisations")),
        sa.UniqueConstraint("request_id", name=op.f("uq_access_authorisations_request_id")),
        sa.UniqueConstraint("project_slug", name=op.f("uq_access_authorisations_project_slug")),
        sa.CheckConstraint("valid_until IS NULL OR valid_until > decided_on",
                           name=op.f("ck_access_authorisations_valid_after_decision")),
    )
    op.create_table(
        "published_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("egress_request_id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(40), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("embargo_until", sa.Date(), nullable=True),
        sa.Column("ledger_hash", sa.String(64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("published_results", "egress_request_id", "egress_requests.id"),
        _fk("published_results", "published_by", "users.username"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_results")),
        sa.UniqueConstraint("egress_request_id", name=op.f("uq_published_results_egress_request_id")),
        sa.CheckConstraint("length(trim(title)) > 0", name=op.f("ck_published_results_title_not_empty")),
    )
    op.create_index(op.f("ix_published_results_project_slug"), "published_results", ["project_slug"])


def downgrade() -> None:
    op.drop_index(op.f("ix_published_results_project_slug"), table_name="published_results")
    op.drop_table("published_results")
    op.drop_table("access_authorisations")
    op.drop_table("access_request_opinions")
    op.drop_table("access_request_conflicts")
    op.drop_index(op.f("ix_access_request_comments_request_id"), table_name="access_request_comments")
    op.drop_table("access_request_comments")
    op.drop_index(op.f("ix_access_requests_applicant"), table_name="access_requests")
    op.drop_table("access_requests")
    op.execute("DELETE FROM user_roles WHERE role = 'committee'")
    _roles(ROLES_BEFORE)
