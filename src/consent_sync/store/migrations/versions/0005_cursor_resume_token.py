"""A cursor may carry an opaque resume token: the change-tracking link a connector's next pull
follows instead of listing everything (docs/connectors.md, "incremental").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column needs no table rebuild on SQLite: ADD COLUMN in place on both databases.
    op.add_column("cursors", sa.Column("resume_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("resume_token")
