"""Anchor the ledger: ledger_head protected like the ledger, INSERT OR REPLACE refused.

The chain head may only move forward onto the newest ledger row, with that row's hash: no
INSERT, DELETE or TRUNCATE, no moving back, no hash that is not the row's. On SQLite a REPLACE
deletes the conflicting row without firing delete triggers (unless recursive_triggers is on),
so an insert onto an existing seq or hash of the ledger is refused before it happens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HEAD_REFUSED = "the ledger head only moves forward onto the newest ledger row"

SQLITE_TRIGGERS = ("ledger_head_no_insert", "ledger_head_no_delete", "ledger_head_forward_only")


# The condition an UPDATE of ledger_head must meet: the row is unchanged, or the head moves
# forward onto the newest ledger row, carrying its hash. Every column is NOT NULL without a
# default, so a NULL (which makes the condition NULL) is refused by the constraint instead.
FORWARD = """
    NEW.id = OLD.id AND (
        (NEW.seq = OLD.seq AND NEW.hash = OLD.hash)
        OR (
            NEW.seq > OLD.seq
            AND EXISTS (SELECT 1 FROM ledger WHERE seq = NEW.seq AND hash = NEW.hash)
            AND NOT EXISTS (SELECT 1 FROM ledger WHERE seq > NEW.seq)
        )
    )
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _postgresql_guards() -> None:
    op.execute(
        f"""
        CREATE FUNCTION consent_sync_ledger_head_forward_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF {FORWARD} THEN
                    RETURN NEW;
                END IF;
            END IF;
            RAISE EXCEPTION '{HEAD_REFUSED}: % refused', TG_OP;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER ledger_head_forward_only BEFORE INSERT OR UPDATE OR DELETE ON ledger_head "
        "FOR EACH ROW EXECUTE FUNCTION consent_sync_ledger_head_forward_only()"
    )
    op.execute(
        "CREATE TRIGGER ledger_head_no_truncate BEFORE TRUNCATE ON ledger_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION consent_sync_ledger_head_forward_only()"
    )


def _sqlite_guards() -> None:
    for operation in ("INSERT", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_head_no_{operation.lower()} BEFORE {operation} ON ledger_head "
            f"BEGIN SELECT RAISE(ABORT, '{HEAD_REFUSED}: {operation} refused'); END"
        )
    op.execute(
        "CREATE TRIGGER ledger_head_forward_only BEFORE UPDATE ON ledger_head "
        f"WHEN NOT ({FORWARD}) "
        f"BEGIN SELECT RAISE(ABORT, '{HEAD_REFUSED}: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_no_replace BEFORE INSERT ON ledger "
        "WHEN EXISTS (SELECT 1 FROM ledger WHERE seq = NEW.seq) "
        "OR EXISTS (SELECT 1 FROM ledger WHERE hash = NEW.hash) "
        "BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only: "
        "a row with this seq or hash exists, REPLACE refused'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_head_no_truncate ON ledger_head")
        op.execute("DROP TRIGGER IF EXISTS ledger_head_forward_only ON ledger_head")
        op.execute("DROP FUNCTION IF EXISTS consent_sync_ledger_head_forward_only()")
        return
    for name in ("ledger_no_replace", *SQLITE_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
