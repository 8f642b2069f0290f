"""The roster keeps each NIP sealed too (roster.nip_sealed), so that `peduli keys rotate` can
recompute its blind index under a new key, as it does for sponsors; with the index alone a
rotation would leave the roster unmatched to the sign-ups.

Revision ID: 0009_h8stats
Revises: 0008
Create Date: 2026-11-29

Written by hand and frozen like the others (no import of bot.storage.models). No roster row can
exist before this revision (nothing wrote the table), so the column is NOT NULL at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_h8stats"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM roster")  # none expected; a NOT NULL column needs it empty
    with op.batch_alter_table("roster") as batch:
        batch.add_column(sa.Column("nip_sealed", sa.Text(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("roster") as batch:
        batch.drop_column("nip_sealed")
