"""Key check: the database records which data key its sealed columns and blind indexes are under
(a check value derived from the key, never the key), so a changed or lost DATA_KEY is refused at
start instead of silently breaking decryption and the duplicate checks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20

Written by hand and frozen like the others (no import of bot.storage.models). The table starts
empty: the first start after the upgrade records the configured key once it has proved that the
key opens the data already stored (bot.storage.keys).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_key_check_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_check")),
    )


def downgrade() -> None:
    op.drop_table("key_check")
