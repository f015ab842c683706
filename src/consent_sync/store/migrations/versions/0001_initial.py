"""Initial schema: every table, and the triggers that keep the ledger append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Timestamps are timezone-aware; consent_sync.store.types.UTCDateTime normalizes them in Python.
TIMESTAMP = sa.DateTime(timezone=True)
# 64-bit ids on PostgreSQL; SQLite only auto-increments an `INTEGER PRIMARY KEY`.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS_HASH = "0" * 64

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("watermark", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("system", "object_type"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("acquired_by", sa.String(length=200), nullable=False),
        sa.Column("acquired_until", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", BIG_ID, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index(op.f("ix_subjects_phone"), "subjects", ["phone"], unique=False)
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_sync_runs_system_started", "sync_runs", ["system", "started_at"], unique=False
    )
    op.create_table(
        "consent_state",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("time_kind", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("ledger_seq", BIG_ID, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("subject_id", "purpose"),
    )
    op.create_table(
        "ledger",
        sa.Column("seq", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=False),
        sa.Column("time_kind", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("link", sa.String(length=400), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_ledger_recorded_at", "ledger", ["recorded_at"], unique=False)
    op.create_index("ix_ledger_subject_seq", "ledger", ["subject_id", "seq"], unique=False)
    op.create_table(
        "links",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "object_type", "record_id", name="uq_links_record"),
    )
    op.create_index("ix_links_subject", "links", ["subject_id"], unique=False)
    op.create_table(
        "conflicts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("link_id", BIG_ID, nullable=True),
        sa.Column("link", sa.String(length=400), nullable=True),
        sa.Column("sides", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("resolution_note", sa.String(length=2000), nullable=True),
        sa.Column("resolution_seq", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conflicts_status_kind", "conflicts", ["status", "kind", "id"], unique=False)
    op.create_index("ix_conflicts_subject", "conflicts", ["subject_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision_seq", BIG_ID, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("applied_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deliveries_link", "deliveries", ["link_id", "purpose"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("decision_seq", BIG_ID, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["system", "state", "next_attempt_at"], unique=False)
    op.create_index("ix_outbox_link", "outbox", ["link_id"], unique=False)
    op.create_index(
        "uq_outbox_pending",
        "outbox",
        ["link_id", "purpose"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "shadows",
        sa.Column("link_id", BIG_ID, nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("last_seen", sa.String(length=16), nullable=True),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.Column("last_written", sa.String(length=16), nullable=True),
        sa.Column("last_written_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
        ),
        sa.PrimaryKeyConstraint("link_id", "purpose"),
    )

    head = sa.table("ledger_head", sa.column("id", sa.Integer), sa.column("seq"), sa.column("hash"))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    _create_ledger_triggers()


def _create_ledger_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION consent_sync_ledger_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the consent ledger is append-only: % refused', TG_OP;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger "
            "FOR EACH ROW EXECUTE FUNCTION consent_sync_ledger_append_only()"
        )
        op.execute(
            "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger "
            "FOR EACH STATEMENT EXECUTE FUNCTION consent_sync_ledger_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_no_{operation.lower()} BEFORE {operation} ON ledger "
            "BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only: "
            f"{operation} refused'); END"
        )


def _drop_ledger_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger")
        op.execute("DROP TRIGGER IF EXISTS ledger_append_only ON ledger")
        op.execute("DROP FUNCTION IF EXISTS consent_sync_ledger_append_only()")
        return
    op.execute("DROP TRIGGER IF EXISTS ledger_no_update")
    op.execute("DROP TRIGGER IF EXISTS ledger_no_delete")


def downgrade() -> None:
    _drop_ledger_triggers()
    op.drop_table("shadows")
    op.drop_index(
        "uq_outbox_pending",
        table_name="outbox",
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("ix_outbox_link", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_deliveries_link", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_conflicts_subject", table_name="conflicts")
    op.drop_index("ix_conflicts_status_kind", table_name="conflicts")
    op.drop_table("conflicts")
    op.drop_index("ix_links_subject", table_name="links")
    op.drop_table("links")
    op.drop_index("ix_ledger_subject_seq", table_name="ledger")
    op.drop_index("ix_ledger_recorded_at", table_name="ledger")
    op.drop_table("ledger")
    op.drop_table("consent_state")
    op.drop_index("ix_sync_runs_system_started", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index(op.f("ix_subjects_phone"), table_name="subjects")
    op.drop_table("subjects")
    op.drop_table("ledger_head")
    op.drop_table("leases")
    op.drop_table("cursors")
