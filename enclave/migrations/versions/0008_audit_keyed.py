"""The keyed audit chain and retention: each event's key id and content MAC; purge markers that let
the append-only trigger delete events a retention purge covers, and nothing else.

Events written before this revision keep ``key_id`` and ``mac`` NULL and stay verifiable with the
plain SHA-256 chain; the first keyed event is a marked transition event (``audit.keyed``, see
:mod:`enclave.audit`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only"
PURGES_MESSAGE = "audit_purges is append-only"


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): on SQLite a table copy would drop the append-only triggers.
    op.add_column("audit_events", sa.Column("key_id", sa.String(16), nullable=True))
    op.add_column("audit_events", sa.Column("mac", sa.String(64), nullable=True))
    op.create_table(
        "audit_purges",
        sa.Column("upto_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upto_seq", name=op.f("pk_audit_purges")),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                   "WHEN OLD.seq > (SELECT coalesce(max(upto_seq), 0) FROM audit_purges) "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END")
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_purges_no_{verb.lower()} BEFORE {verb} ON audit_purges "
                       f"BEGIN SELECT RAISE(ABORT, '{PURGES_MESSAGE}: {verb} refused'); END")
        return
    op.execute("DROP TRIGGER audit_events_no_delete ON audit_events")
    op.execute(f"""
        CREATE FUNCTION audit_events_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.seq <= (SELECT coalesce(max(upto_seq), 0) FROM audit_purges) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
               "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_delete()")
    op.execute(f"""
        CREATE FUNCTION audit_purges_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{PURGES_MESSAGE}: % refused', TG_OP;
        END $$""")
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_purges_no_{verb.lower()} BEFORE {verb} ON audit_purges "
                   "FOR EACH ROW EXECUTE FUNCTION audit_purges_refuse_change()")
    op.execute("CREATE TRIGGER audit_purges_no_truncate BEFORE TRUNCATE ON audit_purges "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_purges_refuse_change()")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER audit_events_no_delete" + (" ON audit_events" if postgres else ""))
    op.drop_table("audit_purges")
    if postgres:
        op.execute("DROP FUNCTION audit_purges_refuse_change()")
        op.execute("DROP FUNCTION audit_events_refuse_delete()")
        op.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()")
    else:
        op.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END")
    op.drop_column("audit_events", "mac")
    op.drop_column("audit_events", "key_id")
