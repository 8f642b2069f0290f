"""Indexes for millions of sponsorships (issue 13, bench/scale.py): on PostgreSQL the statistics
of one agency read its sponsors' ids and their sponsorships' counted columns from two indexes
alone (index-only scans), instead of a heap page per sponsor and per sponsorship.

Revision ID: 0014_scale
Revises: 0012_jobs
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage.models). The two indexes
keep their names and leading columns; PostgreSQL gets INCLUDE columns, SQLite (which has none)
is left as it is. A plain CREATE INDEX blocks writes to the table while it builds: about a
minute for 6 million sponsorships on a 2-core machine, so run the upgrade in a quiet hour.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_scale"
down_revision: str | None = "0012_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPONSORSHIP_INCLUDES = [
    "status",
    "coverage_start",
    "district_code",
    "village_code",
    "district_name",
    "village_name",
]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.drop_index("ix_sponsors_agency_code", table_name="sponsors")
    op.create_index(
        "ix_sponsors_agency_code", "sponsors", ["agency_code"], postgresql_include=["id"]
    )
    op.drop_index("ix_sponsorships_sponsor_id", table_name="sponsorships")
    op.create_index(
        "ix_sponsorships_sponsor_id",
        "sponsorships",
        ["sponsor_id"],
        postgresql_include=SPONSORSHIP_INCLUDES,
    )


def downgrade() -> None:
    if not _postgresql():
        return
    op.drop_index("ix_sponsorships_sponsor_id", table_name="sponsorships")
    op.create_index("ix_sponsorships_sponsor_id", "sponsorships", ["sponsor_id"])
    op.drop_index("ix_sponsors_agency_code", table_name="sponsors")
    op.create_index("ix_sponsors_agency_code", "sponsors", ["agency_code"])
