"""Turn outcomes: processed_updates becomes the turn journal. A row is written in the same
transaction as the turn's commands (and, with SQL sessions, its session document), so an update
counts as processed exactly when its turn committed; `answer` holds the sealed answer until it is
delivered, `session` (Redis sessions only) the new session document until it is in Redis.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Written by hand and frozen like the others (no import of bot.storage.models). Existing rows are
claims of the old deduplicator: no user and nothing pending, which is what they mean now too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "answer IS NOT NULL OR session IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("processed_updates") as batch:
        batch.add_column(sa.Column("user_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))
        batch.add_column(sa.Column("session", sa.Text(), nullable=True))
        batch.create_index(
            "ix_processed_updates_pending",
            ["user_id"],
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("processed_updates") as batch:
        batch.drop_index("ix_processed_updates_pending")
        batch.drop_column("session")
        batch.drop_column("answer")
        batch.drop_column("user_id")
