"""Sponsors without a NIP (issue 12): a village, BAZNAS, a company (CSR), a non-ASN honorer.

Revision ID: 0011_funder
Revises: 0010_lang
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage.models). Every sponsor
before is an ASN with a NIP (funder_type 'asn'). The NIP columns become nullable for the others;
the unique nip_index allows many NULLs, so a NIP stays unique among ASN, and the check
"funder_nip" keeps the NIP present exactly for ASN.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_funder"
down_revision: str | None = "0010_lang"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNDER_TYPES = "'asn', 'desa', 'baznas', 'perusahaan', 'honorer'"
FUNDER_NIP = (
    "(funder_type = 'asn' AND nip_sealed IS NOT NULL AND nip_index IS NOT NULL"
    " AND nip_masked IS NOT NULL AND nip_kind IS NOT NULL)"
    " OR (funder_type <> 'asn' AND nip_sealed IS NULL AND nip_index IS NULL"
    " AND nip_masked IS NULL AND nip_kind IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("sponsors") as batch:
        batch.add_column(
            sa.Column("funder_type", sa.String(length=16), nullable=False, server_default="asn")
        )
        batch.add_column(sa.Column("organisation_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("organisation_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("position", sa.String(length=100), nullable=True))
        batch.alter_column("nip_sealed", existing_type=sa.Text(), nullable=True)
        batch.alter_column("nip_index", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("nip_masked", existing_type=sa.String(length=32), nullable=True)
        batch.alter_column("nip_kind", existing_type=sa.String(length=8), nullable=True)
        batch.create_check_constraint(
            op.f("ck_sponsors_funder_type"), f"funder_type IN ({FUNDER_TYPES})"
        )
        batch.create_check_constraint(op.f("ck_sponsors_funder_nip"), FUNDER_NIP)
        batch.create_index(op.f("ix_sponsors_funder_type"), ["funder_type"])


def downgrade() -> None:
    # Only ASN fit the table as it was: with another funder's row the NOT NULL below fails,
    # and the downgrade stops rather than drop a sponsor and its workers.
    with op.batch_alter_table("sponsors") as batch:
        batch.drop_index(op.f("ix_sponsors_funder_type"))
        batch.drop_constraint(op.f("ck_sponsors_funder_nip"), type_="check")
        batch.drop_constraint(op.f("ck_sponsors_funder_type"), type_="check")
        batch.alter_column("nip_kind", existing_type=sa.String(length=8), nullable=False)
        batch.alter_column("nip_masked", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column("nip_index", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("nip_sealed", existing_type=sa.Text(), nullable=False)
        batch.drop_column("position")
        batch.drop_column("organisation_code")
        batch.drop_column("organisation_name")
        batch.drop_column("funder_type")
