"""Webhook deliveries de-duplicated by event id, and the records they queued kept across restarts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("system", "event_key"),
    )
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at"])
    op.create_table(
        "named_reads",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("queued_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("system", "object_type", "record_id"),
    )
    op.create_index("ix_named_reads_queued", "named_reads", ["system", "queued_at"])


def downgrade() -> None:
    op.drop_index("ix_named_reads_queued", table_name="named_reads")
    op.drop_table("named_reads")
    op.drop_index("ix_webhook_events_received", table_name="webhook_events")
    op.drop_table("webhook_events")
