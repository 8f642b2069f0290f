"""Outbox lease: several bot processes may share the database, so a dispatcher claims the rows it
is about to send (claimed_until) and the others skip them until the lease ends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-15

Written by hand and frozen like 0001 and 0002 (no import of bot.storage.models). On SQLite the
table is rebuilt by batch mode, as in 0002. Rows that exist when it runs are unclaimed (NULL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "sent_at IS NULL AND gave_up_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_outbox_pending",
            ["id"],
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_pending")
        batch.drop_column("claimed_until")
