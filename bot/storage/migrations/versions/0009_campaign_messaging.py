"""Campaign messaging (issue 9): the outbox becomes the one delivery queue (kinds, priorities,
announcement rows, deferral, outcomes), people can be unreachable or opt out, announcements,
the campaign's deadline, and the flows people left unfinished.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "sent_at IS NULL AND gave_up_at IS NULL"
KINDS = "'notification', 'reminder', 'announcement'"
OUTCOMES = "'sent', 'blocked', 'failed', 'unknown', 'void', 'cancelled', 'skipped'"
AUDIENCES = (
    "'all_asn', 'agency_asn', 'asn_without_worker', 'sponsors_unconfirmed', "
    "'confirmed_workers', 'everyone'"
)
STATUSES = "'draft', 'awaiting_approval', 'sending', 'paused', 'cancelled', 'done'"


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("audience_agencies", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_kind", sa.String(length=16), nullable=True),
        sa.Column("media_file_id", sa.String(length=256), nullable=True),
        sa.Column("button", sa.String(length=32), nullable=True),
        sa.Column("paid_broadcast", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.Column("approved_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(f"audience IN ({AUDIENCES})", name="ck_announcements_audience"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_announcements_status"),
        sa.CheckConstraint(
            "media_kind IN ('photo', 'document')", name="ck_announcements_media_kind"
        ),
        sa.CheckConstraint(
            "(media_kind IS NULL) = (media_file_id IS NULL)", name="ck_announcements_media"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("reminder_days", sa.String(length=64), nullable=False),
        sa.Column("set_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_table(
        "unfinished_flows",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_unfinished_flows"),
    )
    op.create_index("ix_unfinished_flows_updated_at", "unfinished_flows", ["updated_at"])
    with op.batch_alter_table("telegram_users") as batch:
        batch.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("announcements_off_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("reminders_off_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_pending")
        batch.add_column(
            sa.Column("kind", sa.String(length=16), server_default="notification", nullable=False)
        )
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("announcement_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claims", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch.alter_column("message", existing_type=sa.Text(), nullable=True)
        batch.create_foreign_key(
            "fk_outbox_announcement_id_announcements", "announcements", ["announcement_id"], ["id"]
        )
        batch.create_index("ix_outbox_announcement_id", ["announcement_id"])
        batch.create_check_constraint("ck_outbox_kind", f"kind IN ({KINDS})")
        batch.create_check_constraint("ck_outbox_outcome", f"outcome IN ({OUTCOMES})")
        batch.create_check_constraint(
            "ck_outbox_announcement", "(kind = 'announcement') = (announcement_id IS NOT NULL)"
        )
        batch.create_check_constraint(
            "ck_outbox_message", "message IS NOT NULL OR kind = 'announcement'"
        )
        batch.create_index(
            "ix_outbox_pending",
            ["priority", "id"],
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )
    # Rows delivered before this revision: their outcome, for the reports.
    op.execute("UPDATE outbox SET outcome = 'sent' WHERE sent_at IS NOT NULL")
    op.execute("UPDATE outbox SET outcome = 'failed' WHERE gave_up_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'announcement'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_pending")
        batch.drop_constraint("ck_outbox_message", type_="check")
        batch.drop_constraint("ck_outbox_announcement", type_="check")
        batch.drop_constraint("ck_outbox_outcome", type_="check")
        batch.drop_constraint("ck_outbox_kind", type_="check")
        batch.drop_index("ix_outbox_announcement_id")
        batch.drop_constraint("fk_outbox_announcement_id_announcements", type_="foreignkey")
        batch.alter_column("message", existing_type=sa.Text(), nullable=False)
        for column in ("outcome", "claims", "not_before", "announcement_id", "priority", "kind"):
            batch.drop_column(column)
        batch.create_index(
            "ix_outbox_pending",
            ["id"],
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )
    with op.batch_alter_table("telegram_users") as batch:
        for column in ("reminders_off_at", "announcements_off_at", "unreachable_at"):
            batch.drop_column(column)
    op.drop_index("ix_unfinished_flows_updated_at", table_name="unfinished_flows")
    op.drop_table("unfinished_flows")
    op.drop_table("campaigns")
    op.drop_table("announcements")
