"""The worker's category split in two (issue 12): who the worker is to the sponsor
(worker_relationship) and what they do (worker_job, worker_job_other), because BPJS registers the
job and a neighbour or a relative is not one.

Revision ID: 0012_jobs
Revises: 0011_funder
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage.models). The old
worker_category held either: the sample configuration's codes are mapped as follows, and nothing
is guessed that the sponsor did not say.

- "art" (asisten rumah tangga): relationship "rumah_tangga", job "art". A household assistant
  registered by an ASN works in that ASN's household (the programme's own example); the job is
  what was chosen.
- "tetangga", "keluarga": relationship of the same code, job NULL (not known: BPJS's list gets
  an empty job for them, and the statistics count them as "not recorded").
- "lainnya": job "lainnya" with worker_job_other the sponsor's words (worker_category_other),
  relationship NULL.
- Any other code ("sopir", "ojek", "petani", "nelayan", "pedagang", "buruh_harian", or an
  operator's own category): job of the same code, relationship NULL: a driver may drive for the
  sponsor's household or a public minibus, so the relationship is not inferred.

NULL reads as "belum dicatat" wherever it is shown. worker_category and worker_category_other are
dropped (SQLite: batch mode rebuilds the table, keeping its rows and constraints). Downgrading
(development only) puts back worker_category = the job, or else the relationship, or "lainnya",
and worker_category_other = worker_job_other.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_jobs"
down_revision: str | None = "0011_funder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sponsorships") as batch:
        batch.add_column(sa.Column("worker_relationship", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("worker_job", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("worker_job_other", sa.String(length=200), nullable=True))
    op.execute(
        sa.text(
            "UPDATE sponsorships SET"
            " worker_relationship = CASE worker_category"
            " WHEN 'art' THEN 'rumah_tangga'"
            " WHEN 'tetangga' THEN 'tetangga'"
            " WHEN 'keluarga' THEN 'keluarga'"
            " ELSE NULL END,"
            " worker_job = CASE WHEN worker_category IN ('tetangga', 'keluarga') THEN NULL"
            " ELSE worker_category END,"
            " worker_job_other = CASE WHEN worker_category IN ('tetangga', 'keluarga') THEN NULL"
            " ELSE worker_category_other END"
        )
    )
    with op.batch_alter_table("sponsorships") as batch:
        batch.drop_column("worker_category_other")
        batch.drop_column("worker_category")


def downgrade() -> None:
    with op.batch_alter_table("sponsorships") as batch:
        batch.add_column(sa.Column("worker_category", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("worker_category_other", sa.String(length=200), nullable=True))
    op.execute(
        sa.text(
            "UPDATE sponsorships SET"
            " worker_category = COALESCE(worker_job, worker_relationship, 'lainnya'),"
            " worker_category_other = worker_job_other"
        )
    )
    with op.batch_alter_table("sponsorships") as batch:
        batch.alter_column("worker_category", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("worker_job_other")
        batch.drop_column("worker_job")
        batch.drop_column("worker_relationship")
