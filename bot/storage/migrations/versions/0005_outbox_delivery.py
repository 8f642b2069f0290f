"""Outbox delivery: the Telegram message id of each delivered notification.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Written by hand and frozen like the others (no import of bot.storage.models). On SQLite the table
is rebuilt by batch mode. Rows delivered before it ran keep NULL (their message id is unknown).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("telegram_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("telegram_message_id")
