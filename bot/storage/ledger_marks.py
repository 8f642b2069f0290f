"""Marking ledger rows deducted (the table deductions), on its own: the chat's command handler
(bot.storage.handlers.ledger) marks without importing the rest of the ledger, which writes the
outbox (command handlers stay clear of it; the unit of work writes their notices).
bot.storage.ledger re-exports it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.models import Deduction, Sponsorship
from flows import ledger


def mark_deducted(
    session: Session,
    month: date,
    agencies: frozenset[str] | None,
    by_user_id: int | None,
    now: datetime,
    references: Collection[str] | None = None,
    payment_method: str | None = None,
) -> int:
    """Mark the month's unmarked rows as deducted; the number marked. agencies: only rows of
    these agencies (None: every agency; an empty set marks nothing). references: only these
    sponsorships (None: all rows in scope). payment_method: only sponsorships paid so (None: any).
    A row marked before keeps its time and marker."""
    ledger.check_month(month)
    if agencies is not None and not agencies:
        return 0
    if references is not None and not references:
        return 0
    conditions = [col(Deduction.month) == month, col(Deduction.deducted_at).is_(None)]
    if agencies is not None:
        conditions.append(col(Deduction.agency_code).in_(sorted(agencies)))
    if references is not None:
        chosen = select(col(Sponsorship.id)).where(
            col(Sponsorship.reference).in_(sorted(set(references)))
        )
        conditions.append(col(Deduction.sponsorship_id).in_(chosen))
    if payment_method is not None:
        # The treasurer's /rekap marks the salary deductions it lists, not a village's transfer.
        paid_so = select(col(Sponsorship.id)).where(
            col(Sponsorship.payment_method) == payment_method
        )
        conditions.append(col(Deduction.sponsorship_id).in_(paid_so))
    result = session.execute(
        update(Deduction)
        .where(and_(*conditions))
        .values(deducted_at=now, deducted_by_user_id=by_user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
