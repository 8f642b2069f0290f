"""Invitation openers: opening a worker's link no longer claims it. Every account that opened a
link is recorded here; the link is bound (invitations.opened_by_user_id) by the decision of a
worker who passed the identity check, so whoever opens a forwarded link first cannot lock the
worker out (issue 6, item 10).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Written by hand and frozen like the others (no import of bot.storage.models). A link opened
before this revision keeps its opener, who is recorded as one here too, so their decision still
counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation_openers",
        sa.Column("invitation_id", sa.Integer(), sa.ForeignKey("invitations.id"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invitation_id", "user_id"),
    )
    op.execute(
        "INSERT INTO invitation_openers (invitation_id, user_id, opened_at)"
        " SELECT id, opened_by_user_id, created_at FROM invitations"
        " WHERE opened_by_user_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("invitation_openers")
