"""Running the programme (issue 8): staff roles scoped to agencies, the append-only audit log,
the monthly deduction ledger and the roster of each agency's civil servants.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Written by hand and frozen like the others (no import of bot.storage.models).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_roles",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by_user_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("role IN ('operator', 'treasurer')", name="ck_staff_roles_role"),
        sa.PrimaryKeyConstraint("user_id", "agency_code", name="pk_staff_roles"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.CheckConstraint("channel IN ('telegram', 'cli')", name="ck_audit_log_channel"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "deductions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sponsorship_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deducted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deducted_by_user_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_deductions_amount"),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["sponsorships.id"],
            name="fk_deductions_sponsorship_id_sponsorships",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deductions"),
        sa.UniqueConstraint("sponsorship_id", "month", name="uq_deductions_sponsorship_month"),
    )
    op.create_index("ix_deductions_sponsorship_id", "deductions", ["sponsorship_id"])
    op.create_index("ix_deductions_month_agency", "deductions", ["month", "agency_code"])
    op.create_table(
        "roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nip_sealed", sa.Text(), nullable=False),
        sa.Column("nip_index", sa.String(length=64), nullable=False),
        sa.Column("nip_masked", sa.String(length=32), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roster"),
        sa.UniqueConstraint("nip_index", name="uq_roster_nip_index"),
    )
    op.create_index("ix_roster_agency_code", "roster", ["agency_code"])


def downgrade() -> None:
    op.drop_index("ix_roster_agency_code", table_name="roster")
    op.drop_table("roster")
    op.drop_index("ix_deductions_month_agency", table_name="deductions")
    op.drop_index("ix_deductions_sponsorship_id", table_name="deductions")
    op.drop_table("deductions")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("staff_roles")
