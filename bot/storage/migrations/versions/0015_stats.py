"""Kept counts for the statistics (issue 13): stats_totals (one row per key) and stats_deltas
(append-only changes written with every change, folded into the totals by the running bot), so
`/statistik` reads a few hundred rows instead of counting millions (bot.storage.counts).

Revision ID: 0015_stats
Revises: 0014_scale
Create Date: 2026-11-30

Written by hand and frozen like the others (no import of bot.storage): the backfill below is a
frozen copy of bot.storage.counts.backfill_sql (tests/integration/test_counts.py checks that
both count the same). It fills stats_totals from the rows in one INSERT ... SELECT (one GROUP BY
over its parts); 6 million sponsorships take a few minutes, during which nothing should write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015_stats"
down_revision: str | None = "0014_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("agency_code", "kind", "k1", "k2", "k3", "k4", "day")
VALUES = (
    "n",
    "drafts",
    "waiting",
    "confirmed",
    "active",
    "withdrawn",
    "lapsed",
    "started",
    "deducted",
)
STATE_OF_STATUS = {
    "waiting_worker": "waiting",
    "confirmed": "confirmed",
    "active": "active",
    "declined": "withdrawn",
    "withdrawn": "withdrawn",
    "lapsed": "lapsed",
}
STATES = ("waiting", "confirmed", "active", "withdrawn", "lapsed")


def _count_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        *(
            sa.Column(k, sa.String(length=200), server_default="", nullable=False)
            for k in ("k1", "k2", "k3", "k4")
        ),
        sa.Column("day", sa.String(length=10), server_default="", nullable=False),
        *(sa.Column(v, sa.BigInteger(), server_default="0", nullable=False) for v in VALUES),
    ]


def backfill_sql(dialect: str) -> str:
    if dialect == "postgresql":

        def day(column: str) -> str:
            return f"to_char({column}, 'YYYY-MM-DD')"
    else:

        def day(column: str) -> str:
            return column

    started = "(p.status = 'active' AND p.coverage_start IS NOT NULL)"
    coverage_day = f"CASE WHEN {started} THEN {day('p.coverage_start')} ELSE '' END"
    states = ", ".join(
        "SUM(CASE WHEN p.status IN ("
        + ", ".join(f"'{s}'" for s, g in STATE_OF_STATUS.items() if g == state)
        + f")  THEN 1 ELSE 0 END) AS {state}"
        for state in STATES
    )
    zero_states = ", ".join(f"0 AS {state}" for state in STATES)
    kinds = {
        "a": ("s.funder_type", "''", "''", "''"),
        "d": ("p.district_code", "''", "p.district_name", "''"),
        "v": (
            "p.district_code",
            "COALESCE(p.village_code, '')",
            "p.district_name",
            "COALESCE(p.village_name, '')",
        ),
        "j": ("COALESCE(p.worker_job, '')", "''", "''", "''"),
        "r": ("COALESCE(p.worker_relationship, '')", "''", "''", "''"),
    }
    joined = "sponsorships p JOIN sponsors s ON s.id = p.sponsor_id"
    parts = [
        "SELECT s.agency_code, 'a' AS kind, s.funder_type AS k1, '' AS k2, '' AS k3, '' AS k4,"
        " '' AS day, COUNT(*) AS n, SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM sponsorships p"
        " WHERE p.sponsor_id = s.id) THEN 1 ELSE 0 END) AS drafts, "
        f"{zero_states}, 0 AS started, 0 AS deducted FROM sponsors s"
        " GROUP BY s.agency_code, s.funder_type"
    ]

    def grouped(*columns: str) -> str:
        return ", ".join(c for c in ("s.agency_code", *columns) if c != "''")

    for kind, (k1, k2, k3, k4) in kinds.items():
        parts.append(
            f"SELECT s.agency_code, '{kind}', {k1}, {k2}, {k3}, {k4}, {coverage_day}, 0, 0,"
            f" {states}, SUM(CASE WHEN {started} THEN 1 ELSE 0 END), 0 FROM {joined}"
            f" GROUP BY {grouped(k1, k2, k3, k4, coverage_day)}"
        )
        if kind != "a":
            parts.append(
                f"SELECT s.agency_code, '{kind}', {k1}, {k2}, '', '', '',"
                f" COUNT(DISTINCT p.sponsor_id), 0, {zero_states}, 0, 0 FROM {joined}"
                f" GROUP BY {grouped(k1, k2)}"
            )
    parts.append(
        "SELECT d.agency_code, 'x', p.district_code, COALESCE(p.village_code, ''), '', '',"
        f" {day('d.month')}, 0, 0, {zero_states}, 0, SUM(d.amount)"
        " FROM deductions d JOIN sponsorships p ON p.id = d.sponsorship_id"
        " WHERE d.deducted_at IS NOT NULL"
        f" GROUP BY d.agency_code, p.district_code, COALESCE(p.village_code, ''), {day('d.month')}"
    )
    keys = ", ".join(KEY)
    values = ", ".join(VALUES)
    sums = ", ".join(f"SUM({name})" for name in VALUES)
    union = "\nUNION ALL\n".join(parts)
    return (
        f"INSERT INTO stats_totals ({keys}, {values})\n"
        f"SELECT {keys}, {sums} FROM (\n{union}\n) counted\nGROUP BY {keys}"
    )


def upgrade() -> None:
    op.create_table(
        "stats_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        *_count_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_stats_totals"),
        sa.UniqueConstraint(*KEY, name="uq_stats_totals_key"),
    )
    op.create_table(
        "stats_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        *_count_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_stats_deltas"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")
    op.execute(backfill_sql(bind.dialect.name))


def downgrade() -> None:
    op.drop_table("stats_deltas")
    op.drop_table("stats_totals")
