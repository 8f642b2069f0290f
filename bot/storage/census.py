"""Counts over the whole database, for the sample data set (bot.demo) and its report: whether a
database is still empty, and how many rows of each kind it holds. No personal data."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.models import (
    Consent,
    CorrectionRequest,
    Deduction,
    RosterEntry,
    Sponsor,
    Sponsorship,
    StaffRole,
    TelegramUser,
)


def is_empty(engine: Engine) -> bool:
    """Nobody has used this database yet: no person ever wrote to the bot, no roster."""
    with Session(engine) as session:
        person = session.scalar(select(col(TelegramUser.user_id)).limit(1))
        roster = session.scalar(select(col(RosterEntry.id)).limit(1))
    return person is None and roster is None


def sponsorship_statuses(engine: Engine) -> dict[str, int]:
    """How many sponsorships are in each status."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(Sponsorship.status), func.count()).group_by(col(Sponsorship.status))
        ).all()
    return {str(status): int(count) for status, count in rows}


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table the sample data fill (the report of `peduli demo`)."""
    tables = {
        "roster": RosterEntry,
        "sponsors": Sponsor,
        "sponsorships": Sponsorship,
        "consents": Consent,
        "deductions": Deduction,
        "staff": StaffRole,
        "requests": CorrectionRequest,
    }
    with Session(engine) as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in tables.items()
        }
