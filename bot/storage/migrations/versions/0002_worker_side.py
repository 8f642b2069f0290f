"""The worker's side (issue 3): invitations, worker consent and erasure, coverage, admin queue,
outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Written by hand and frozen like 0001 (no import of bot.storage.models). On SQLite the altered
tables are rebuilt by batch mode; bot.storage.db runs migrations there with foreign keys off and
checks them before commit (SQLite's documented way to rebuild a referenced table).

Downgrade is for development: it drops the new tables and columns, fills erased worker data with
empty strings and deletes the consent rows the 0001 schema cannot hold (declined, worker data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "'waiting_worker', 'confirmed', 'active'"

# Worker data that the erasure sets to NULL (they were NOT NULL in 0001).
ERASABLE: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("worker_full_name", sa.String(length=200)),
    ("nik_sealed", sa.Text()),
    ("nik_index", sa.String(length=64)),
    ("nik_masked", sa.String(length=32)),
    ("village_name", sa.String(length=200)),
)

WORKER_DATA_CHECK = (
    f"status NOT IN ({OPEN}) OR (worker_full_name IS NOT NULL"
    " AND nik_sealed IS NOT NULL AND nik_index IS NOT NULL AND nik_masked IS NOT NULL"
    " AND village_name IS NOT NULL AND erased_at IS NULL)"
)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("sponsorships") as batch:
        for name, type_ in ERASABLE:
            batch.alter_column(name, existing_type=type_, nullable=True)
        batch.add_column(sa.Column("worker_user_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("kpj_sealed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("kpj_masked", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("coverage_start", sa.Date(), nullable=True))
        batch.add_column(_timestamp("activated_at", nullable=True))
        batch.add_column(sa.Column("activated_by_user_id", sa.BigInteger(), nullable=True))
        batch.add_column(_timestamp("withdrawn_at", nullable=True))
        batch.add_column(sa.Column("withdrawal_effective_month", sa.Date(), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(length=16), nullable=True))
        batch.add_column(_timestamp("erased_at", nullable=True))
        batch.create_check_constraint(op.f("ck_sponsorships_worker_data"), WORKER_DATA_CHECK)
        batch.create_check_constraint(
            op.f("ck_sponsorships_withdrawn_by"),
            "withdrawn_by IS NULL OR withdrawn_by IN ('worker', 'sponsor')",
        )
        batch.create_index(op.f("ix_sponsorships_worker_user_id"), ["worker_user_id"])

    with op.batch_alter_table("consents") as batch:
        batch.alter_column("first_month", existing_type=sa.Date(), nullable=True)
        batch.add_column(
            sa.Column(
                "channel",
                sa.String(length=16),
                nullable=False,
                server_default=sa.text("'telegram'"),
            )
        )
        batch.add_column(sa.Column("recorded_by_user_id", sa.BigInteger(), nullable=True))
        batch.drop_constraint(op.f("ck_consents_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_consents_action"), "action IN ('given', 'withdrawn', 'declined')"
        )
        batch.create_check_constraint(
            op.f("ck_consents_kind"), "kind IN ('salary_deduction', 'worker_data')"
        )
        batch.create_check_constraint(
            op.f("ck_consents_channel"), "channel IN ('telegram', 'in_person')"
        )
    # Until now every consent was pressed by its subject.
    op.execute("UPDATE consents SET recorded_by_user_id = subject_user_id")

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sponsorship_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        sa.Column("opened_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _timestamp("locked_at", nullable=True),
        _timestamp("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["sponsorships.id"],
            name=op.f("fk_invitations_sponsorship_id_sponsorships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_sponsorship_id"), "invitations", ["sponsorship_id"])

    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sponsorship_id", sa.Integer(), nullable=True),
        sa.Column("requester_user_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("details_sealed", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("due_at"),
        _timestamp("resolved_at", nullable=True),
        sa.Column("resolved_by_user_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('correction')", name=op.f("ck_requests_kind")),
        sa.CheckConstraint("subject IN ('worker', 'sponsor')", name=op.f("ck_requests_subject")),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["sponsorships.id"],
            name=op.f("fk_requests_sponsorship_id_sponsorships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
    )
    op.create_index(op.f("ix_requests_sponsorship_id"), "requests", ["sponsorship_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("recipient_user_id", sa.BigInteger(), nullable=False),
        sa.Column("sponsorship_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        _timestamp("gave_up_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["sponsorships.id"],
            name=op.f("fk_outbox_sponsorship_id_sponsorships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index(op.f("ix_outbox_recipient_user_id"), "outbox", ["recipient_user_id"])
    op.create_index(op.f("ix_outbox_sponsorship_id"), "outbox", ["sponsorship_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_sponsorship_id"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_recipient_user_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_requests_sponsorship_id"), table_name="requests")
    op.drop_table("requests")
    op.drop_index(op.f("ix_invitations_sponsorship_id"), table_name="invitations")
    op.drop_table("invitations")

    op.execute(
        "DELETE FROM consents WHERE action NOT IN ('given', 'withdrawn') OR first_month IS NULL"
    )
    with op.batch_alter_table("consents") as batch:
        batch.drop_constraint(op.f("ck_consents_channel"), type_="check")
        batch.drop_constraint(op.f("ck_consents_kind"), type_="check")
        batch.drop_constraint(op.f("ck_consents_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_consents_action"), "action IN ('given', 'withdrawn')"
        )
        batch.drop_column("recorded_by_user_id")
        batch.drop_column("channel")
        batch.alter_column("first_month", existing_type=sa.Date(), nullable=False)

    for name, _type in ERASABLE:
        op.execute(f"UPDATE sponsorships SET {name} = '' WHERE {name} IS NULL")
    with op.batch_alter_table("sponsorships") as batch:
        batch.drop_index(op.f("ix_sponsorships_worker_user_id"))
        batch.drop_constraint(op.f("ck_sponsorships_withdrawn_by"), type_="check")
        batch.drop_constraint(op.f("ck_sponsorships_worker_data"), type_="check")
        for column in (
            "erased_at",
            "withdrawn_by",
            "withdrawal_effective_month",
            "withdrawn_at",
            "activated_by_user_id",
            "activated_at",
            "coverage_start",
            "kpj_masked",
            "kpj_sealed",
            "worker_user_id",
        ):
            batch.drop_column(column)
        for name, type_ in ERASABLE:
            batch.alter_column(name, existing_type=type_, nullable=False)
