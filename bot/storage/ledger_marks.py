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

from bot.storage import counts
from bot.storage.models import Deduction, Sponsor, Sponsorship
from flows import ledger
from flows.catalog import ASN


def mark_deducted(
    session: Session,
    month: date,
    agencies: frozenset[str] | None,
    by_user_id: int | None,
    now: datetime,
    references: Collection[str] | None = None,
    asn: bool | None = None,
) -> int:
    """Mark the month's unmarked rows as deducted; the number marked. agencies: only rows of
    these agencies (None: every agency; an empty set marks nothing). references: only these
    sponsorships (None: all rows in scope). asn: True, only ASN's rows (the treasurer's
    workbook under /rekap); False, only the transfers of sponsors without a NIP (a village,
    BAZNAS, a company, an honorer); None, any. A row marked before keeps its time and marker."""
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
    if asn is not None:
        # /rekap marks what it listed: the ASN's workbook, or the transfers (issue 12).
        funder = col(Sponsor.funder_type) == ASN if asn else col(Sponsor.funder_type) != ASN
        of_funder = (
            select(col(Sponsorship.id))
            .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
            .where(funder)
        )
        conditions.append(col(Deduction.sponsorship_id).in_(of_funder))
    marked = session.scalars(
        update(Deduction)
        .where(and_(*conditions))
        .values(deducted_at=now, deducted_by_user_id=by_user_id)
        .returning(col(Deduction.id))
        .execution_options(synchronize_session=False)
    ).all()
    # The statistics' deducted rupiah (bot.storage.counts), from the rows just marked.
    counts.deducted_marked(session.connection(), [i for i in marked if i is not None])
    return len(marked)
