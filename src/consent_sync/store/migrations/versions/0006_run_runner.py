"""A sync run names who ran it: the daemon replica's lease holder id, so that runs of several
replicas on one database can be told apart (docs/design.md, "Replicas").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: runs recorded before this revision, and one-shot CLI syncs, name no replica.
    op.add_column("sync_runs", sa.Column("runner", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("runner")
