"""The worker's language (issue 12): the sponsor chooses it when registering the worker; the
invitation to forward and the worker's messages are written in it.

Revision ID: 0010_lang
Revises: 0009
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage.models). Sponsorships from
before keep NULL, which reads as Indonesian, the only language their invitations were sent in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_lang"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sponsorships", sa.Column("worker_language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sponsorships") as batch:
        batch.drop_column("worker_language")
