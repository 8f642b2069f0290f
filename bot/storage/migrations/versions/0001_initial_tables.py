"""Initial tables: Telegram users, sponsors, sponsorships, consents, and the SQL state stores.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Frozen on purpose: it does not import bot.storage.models, so later model changes cannot rewrite
history. UTCDateTime is stored as a plain timezone-aware DateTime.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "'waiting_worker', 'confirmed', 'active'"
ALL = OPEN + ", 'declined', 'withdrawn', 'lapsed'"


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "telegram_users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_telegram_users")),
    )
    op.create_table(
        "sponsors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("nip_sealed", sa.Text(), nullable=False),
        sa.Column("nip_index", sa.String(length=64), nullable=False),
        sa.Column("nip_masked", sa.String(length=32), nullable=False),
        sa.Column("nip_kind", sa.String(length=8), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("phone_sealed", sa.Text(), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("nip_kind IN ('PNS', 'PPPK')", name=op.f("ck_sponsors_nip_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["telegram_users.user_id"],
            name=op.f("fk_sponsors_user_id_telegram_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsors")),
        sa.UniqueConstraint("nip_index", name=op.f("uq_sponsors_nip_index")),
        sa.UniqueConstraint("user_id", name=op.f("uq_sponsors_user_id")),
    )
    op.create_index(op.f("ix_sponsors_agency_code"), "sponsors", ["agency_code"])
    op.create_table(
        "sponsorships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("sponsor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("worker_full_name", sa.String(length=200), nullable=False),
        sa.Column("worker_category", sa.String(length=64), nullable=False),
        sa.Column("worker_category_other", sa.String(length=200), nullable=True),
        sa.Column("nik_sealed", sa.Text(), nullable=False),
        sa.Column("nik_index", sa.String(length=64), nullable=False),
        sa.Column("nik_masked", sa.String(length=32), nullable=False),
        sa.Column("active_nik_index", sa.String(length=64), nullable=True),
        sa.Column("nik_disagreement", sa.Text(), nullable=True),
        sa.Column("worker_phone_sealed", sa.Text(), nullable=True),
        sa.Column("worker_phone_masked", sa.String(length=32), nullable=True),
        sa.Column("district_code", sa.String(length=32), nullable=False),
        sa.Column("district_name", sa.String(length=200), nullable=False),
        sa.Column("village_code", sa.String(length=32), nullable=True),
        sa.Column("village_name", sa.String(length=200), nullable=False),
        sa.Column("programme_code", sa.String(length=64), nullable=False),
        sa.Column("monthly_amount", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=32), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(f"status IN ({ALL})", name=op.f("ck_sponsorships_status")),
        sa.CheckConstraint(
            f"(status IN ({OPEN}) AND active_nik_index IS NOT NULL"
            " AND active_nik_index = nik_index)"
            f" OR (status NOT IN ({OPEN}) AND active_nik_index IS NULL)",
            name=op.f("ck_sponsorships_active_nik_index"),
        ),
        sa.CheckConstraint("monthly_amount >= 0", name=op.f("ck_sponsorships_monthly_amount")),
        sa.ForeignKeyConstraint(
            ["sponsor_id"], ["sponsors.id"], name=op.f("fk_sponsorships_sponsor_id_sponsors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorships")),
        sa.UniqueConstraint("active_nik_index", name=op.f("uq_sponsorships_active_nik_index")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sponsorships_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_sponsorships_reference")),
    )
    op.create_index(op.f("ix_sponsorships_nik_index"), "sponsorships", ["nik_index"])
    op.create_index(op.f("ix_sponsorships_sponsor_id"), "sponsorships", ["sponsor_id"])
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sponsorship_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_user_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("text_key", sa.String(length=128), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        _timestamp("recorded_at"),
        sa.CheckConstraint("subject IN ('sponsor', 'worker')", name=op.f("ck_consents_subject")),
        sa.CheckConstraint("action IN ('given', 'withdrawn')", name=op.f("ck_consents_action")),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["sponsorships.id"],
            name=op.f("fk_consents_sponsorship_id_sponsorships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_sponsorship_id"), "consents", ["sponsorship_id"])
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _timestamp("claimed_at"),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index(op.f("ix_processed_updates_claimed_at"), "processed_updates", ["claimed_at"])
    op.create_table(
        "conversation_sessions",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversation_sessions")),
    )


def downgrade() -> None:
    op.drop_table("conversation_sessions")
    op.drop_index(op.f("ix_processed_updates_claimed_at"), table_name="processed_updates")
    op.drop_table("processed_updates")
    op.drop_index(op.f("ix_consents_sponsorship_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_index(op.f("ix_sponsorships_sponsor_id"), table_name="sponsorships")
    op.drop_index(op.f("ix_sponsorships_nik_index"), table_name="sponsorships")
    op.drop_table("sponsorships")
    op.drop_index(op.f("ix_sponsors_agency_code"), table_name="sponsors")
    op.drop_table("sponsors")
    op.drop_table("telegram_users")
