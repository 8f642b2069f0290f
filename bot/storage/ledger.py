"""The monthly ledger (table deductions): opening a month, marking it deducted, lapsing the
sponsorships whose deductions stopped. flows.ledger decides; this module gathers the facts and
writes.

The functions work in the caller's session and transaction (the CLI adds its audit entry to
the same one; `Ledger` below gives the running bot one transaction per call). Nothing here
words a message: a lapse records a domain event, and `notify` (bot.notifications.notices)
words it into outbox rows written in the same transaction.

Two processes may run any of these at the same time (two bot processes, the bot and the CLI):
- open_month inserts with ON CONFLICT DO NOTHING on the unique (sponsorship_id, month), so a row
  is created once and the count says how many this call created;
- mark_deducted touches only unmarked rows, in one UPDATE;
- lapse_overdue moves a sponsorship with one conditional UPDATE (status still active), so only
  the process whose UPDATE changed the row records the event, and the outbox keys make the
  notices unique anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, exists, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage import counts
from bot.storage.db import dialect_insert
from bot.storage.ledger_marks import mark_deducted as mark_deducted  # re-exported
from bot.storage.models import Consent, Deduction, Sponsor, Sponsorship, StaffRole
from bot.storage.outbox_store import enqueue
from flows import ledger
from flows.access import Role
from flows.events import Event, Notice, SponsorshipLapsed
from flows.ledger import EVERY_AGENCY, AgencyScope
from flows.statuses import SponsorshipStatus, checked_transition

_BATCH: Final = 500  # rows per INSERT: well under SQLite's limit of bound parameters

Notify = Callable[[Event], Iterable[Notice]]


def _within(agencies: AgencyScope) -> list[ColumnElement[bool]]:
    """The conditions (on a query that joins Sponsor) keeping the sponsors whose agency is in
    the scope; none for every agency."""
    found: list[ColumnElement[bool]] = []
    if agencies.only is not None:
        found.append(col(Sponsor.agency_code).in_(sorted(agencies.only)))
    if agencies.excluding:
        found.append(col(Sponsor.agency_code).not_in(sorted(agencies.excluding)))
    return found


def local_month(now: datetime, zone: tzinfo) -> date:
    """The month `now` falls in, in the programme's time zone."""
    return ledger.month_of(now.astimezone(zone).date())


# ---- facts -----------------------------------------------------------------------------------


def _facts(rows: Sequence[Consent], row: Sponsorship) -> ledger.LedgerFacts:
    """The ledger facts of one sponsorship from its consent records (oldest first)."""
    given: Consent | None = None
    withdrawn: Consent | None = None
    worker_action: str | None = None
    for consent in rows:
        if consent.kind == "salary_deduction" and consent.subject == "sponsor":
            if consent.action == "given":
                given, withdrawn = consent, None  # a later consent starts afresh
            elif consent.action == "withdrawn":
                withdrawn = consent
        elif (
            consent.kind == "worker_data"
            and consent.subject == "worker"
            # The latest record decides; a withdrawal counts only after a given consent.
            and (consent.action != "withdrawn" or worker_action == "given")
        ):
            worker_action = consent.action
    deduction_until = withdrawn.first_month if withdrawn is not None else None
    if deduction_until is None and row.withdrawn_by == "sponsor":
        deduction_until = row.withdrawal_effective_month
    worker_until = row.withdrawal_effective_month if row.withdrawn_by == "worker" else None
    return ledger.LedgerFacts(
        deduction_from=given.first_month if given is not None else None,
        deduction_until=deduction_until,
        # Withdrawn after a given consent: covered until the withdrawal takes effect.
        worker_consented=worker_action in ("given", "withdrawn"),
        worker_until=worker_until,
        coverage_start=row.coverage_start,
        lapsed=row.status == SponsorshipStatus.LAPSED,
    )


def _consents_by_sponsorship(session: Session, ids: list[int]) -> dict[int, list[Consent]]:
    found: dict[int, list[Consent]] = defaultdict(list)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        for consent in session.scalars(
            select(Consent)
            .where(
                col(Consent.sponsorship_id).in_(chunk),
                col(Consent.kind).in_(("salary_deduction", "worker_data")),
            )
            .order_by(col(Consent.id))
        ):
            found[consent.sponsorship_id].append(consent)
    return found


def facts_of(session: Session, sponsorship_id: int) -> ledger.LedgerFacts:
    """One sponsorship's ledger facts (for reports and tests)."""
    row = session.get(Sponsorship, sponsorship_id)
    if row is None:
        raise LookupError(f"no sponsorship {sponsorship_id}")
    return _facts(_consents_by_sponsorship(session, [sponsorship_id])[sponsorship_id], row)


# ---- opening a month -------------------------------------------------------------------------


def _candidates(
    session: Session, month: date, agencies: AgencyScope
) -> Iterator[tuple[Sponsorship, str]]:
    """Sponsorships that may owe `month` and have no row for it yet, with their sponsor's agency
    now: covered by the end of the month, and active or withdrawn from a later month. Lapsed
    ones owe nothing more; the others were never covered."""
    next_month = ledger.add_months(month, 1)
    has_row = exists().where(
        col(Deduction.sponsorship_id) == col(Sponsorship.id), col(Deduction.month) == month
    )
    query = (
        select(Sponsorship, col(Sponsor.agency_code))
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(
            # A withdrawal that took effect before this month leaves nothing owed: skipping
            # those here keeps the hourly round cheap however many ended long ago.
            (col(Sponsorship.status) == SponsorshipStatus.ACTIVE.value)
            | (
                (col(Sponsorship.status) == SponsorshipStatus.WITHDRAWN.value)
                & (col(Sponsorship.withdrawal_effective_month) > month)
            ),
            col(Sponsorship.coverage_start).is_not(None),
            col(Sponsorship.coverage_start) < next_month,
            ~has_row,
        )
        .order_by(col(Sponsorship.id))
    )
    for sponsorship, agency_code in session.execute(query.where(*_within(agencies))):
        yield sponsorship, str(agency_code)


def open_month(
    session: Session, month: date, now: datetime, agencies: AgencyScope = EVERY_AGENCY
) -> int:
    """Create the month's rows for every sponsorship that owes it (flows.ledger.owes); the
    number of rows this call created. Idempotent: a row that exists (made by an earlier run or
    by another process at the same time) is left as it is and not counted. agency_code is the
    sponsor's agency now (the treasurer who cuts the salary); amount the monthly amount. Only
    the sponsors of `agencies` (the running bot's keeper opens each zone's month apart)."""
    ledger.check_month(month)
    candidates = list(_candidates(session, month, agencies))
    consents = _consents_by_sponsorship(session, [row.id for row, _ in candidates if row.id])
    values: list[dict[str, Any]] = []
    for row, agency_code in candidates:
        assert row.id is not None
        if row.monthly_amount <= 0:
            continue  # nothing to deduct (the deductions CHECK wants a positive amount)
        if ledger.owes(_facts(consents.get(row.id, []), row), month):
            values.append(
                {
                    "sponsorship_id": row.id,
                    "month": month,
                    "agency_code": agency_code,
                    "amount": row.monthly_amount,
                    "created_at": now,
                }
            )
    insert = dialect_insert(session.get_bind().dialect.name)
    created = 0
    for start in range(0, len(values), _BATCH):
        statement = (
            insert(Deduction)
            .values(values[start : start + _BATCH])
            .on_conflict_do_nothing(index_elements=["sponsorship_id", "month"])
            .returning(col(Deduction.id))
        )
        created += len(session.execute(statement).all())
    return created


# ---- marking ---------------------------------------------------------------------------------
# mark_deducted lives in bot.storage.ledger_marks (imported above): the chat's command handler
# uses it without importing this module's outbox writes.


def marked_months(session: Session, sponsorship_ids: Collection[int]) -> dict[int, int]:
    """Per sponsorship, how many of its months are marked deducted (the scholarship count)."""
    ids = sorted(set(sponsorship_ids))
    counts: dict[int, int] = {}
    for start in range(0, len(ids), _BATCH):
        rows = session.execute(
            select(col(Deduction.sponsorship_id), func.count())
            .where(
                col(Deduction.sponsorship_id).in_(ids[start : start + _BATCH]),
                col(Deduction.deducted_at).is_not(None),
            )
            .group_by(col(Deduction.sponsorship_id))
        ).all()
        counts.update({int(sponsorship_id): int(count) for sponsorship_id, count in rows})
    return counts


# ---- lapsing ---------------------------------------------------------------------------------


def _overdue(session: Session, current_month: date, agencies: AgencyScope) -> list[int]:
    """Active sponsorships of the scope's sponsors whose rows make flows.ledger.is_overdue
    true."""
    window = ledger.lapse_window(current_month)
    query = (
        select(
            col(Deduction.sponsorship_id),
            col(Deduction.month),
            col(Deduction.deducted_at).is_not(None),
        )
        .join(Sponsorship, col(Sponsorship.id) == col(Deduction.sponsorship_id))
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(
            col(Sponsorship.status) == SponsorshipStatus.ACTIVE.value,
            col(Deduction.month).in_(window),
        )
        .order_by(col(Deduction.sponsorship_id))
    )
    rows = session.execute(query.where(*_within(agencies))).all()
    by_sponsorship: dict[int, dict[date, bool]] = defaultdict(dict)
    for sponsorship_id, month, marked in rows:
        by_sponsorship[int(sponsorship_id)][month] = bool(marked)
    return [
        sponsorship_id
        for sponsorship_id, marks in by_sponsorship.items()
        if ledger.is_overdue(marks, current_month)
    ]


def _operators(session: Session, agency_code: str) -> tuple[int, ...]:
    return tuple(
        int(user_id)
        for user_id in session.scalars(
            select(col(StaffRole.user_id))
            .where(
                col(StaffRole.agency_code) == agency_code,
                col(StaffRole.role) == Role.OPERATOR.value,
            )
            .order_by(col(StaffRole.user_id))
        )
    )


def lapse_overdue(
    session: Session,
    now: datetime,
    zone: tzinfo,
    *,
    sealer: Sealer,
    notify: Notify,
    agencies: AgencyScope = EVERY_AGENCY,
) -> int:
    """Lapse every active sponsorship of the scope's sponsors overdue in the current month in
    `zone` (flows.ledger.is_overdue) and queue the notices of its SponsorshipLapsed event
    (sponsor, linked worker, the operators of the agency the unpaid rows belong to); the number
    lapsed now. A lapsed
    sponsorship releases its worker's NIK (a closed status), so someone else may sponsor them."""
    current = local_month(now, zone)
    new_status = checked_transition(SponsorshipStatus.ACTIVE.value, SponsorshipStatus.LAPSED)
    lapsed = 0
    for sponsorship_id in _overdue(session, current, agencies):
        # The sponsorship locked, then its sponsor (counts.changing): the kept counts' order.
        sponsor_id = session.scalar(
            select(col(Sponsorship.sponsor_id))
            .where(col(Sponsorship.id) == sponsorship_id)
            .with_for_update()
        )
        if sponsor_id is None:  # pragma: no cover - _overdue read it a moment ago
            continue
        with counts.changing(session, [sponsor_id]):
            moved = session.execute(
                update(Sponsorship)
                .where(
                    col(Sponsorship.id) == sponsorship_id,
                    col(Sponsorship.status) == SponsorshipStatus.ACTIVE.value,
                )
                .values(status=new_status.value, active_nik_index=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if not getattr(moved, "rowcount", 0):
            continue  # another process lapsed it (or it was withdrawn) in the meantime
        lapsed += 1
        row = session.get(Sponsorship, sponsorship_id, populate_existing=True)
        assert row is not None
        sponsor = session.get(Sponsor, row.sponsor_id)
        assert sponsor is not None
        window = ledger.lapse_window(current)
        agency_code = session.scalar(
            select(col(Deduction.agency_code)).where(
                col(Deduction.sponsorship_id) == sponsorship_id,
                col(Deduction.month) == window[0],
            )
        )
        agency = str(agency_code) if agency_code is not None else sponsor.agency_code
        event = SponsorshipLapsed(
            reference=row.reference,
            sponsorship_id=sponsorship_id,
            sponsor_user_id=sponsor.user_id,
            sponsor_name=sponsor.full_name,
            worker_user_id=row.worker_user_id,
            worker_name=row.worker_full_name or "",
            agency_code=agency,
            operator_user_ids=_operators(session, agency),
            unpaid=window,
            payment_method=row.payment_method,
        )
        for notice in notify(event):
            enqueue(session, sealer, notice, now)
    return lapsed


# ---- for the running bot ---------------------------------------------------------------------


class Ledger:
    """The ledger as the running bot uses it: each call is one short write transaction."""

    def __init__(
        self,
        writer: Engine,
        sealer: Sealer,
        notify: Notify,
        clock: Callable[[], datetime],
    ) -> None:
        self._writer = writer
        self._sealer = sealer
        self._notify = notify
        self._clock = clock

    def open_month(self, month: date, agencies: AgencyScope = EVERY_AGENCY) -> int:
        with Session(self._writer) as session, session.begin():
            return open_month(session, month, self._clock(), agencies)

    def lapse_overdue(self, zone: tzinfo, agencies: AgencyScope = EVERY_AGENCY) -> int:
        with Session(self._writer) as session, session.begin():
            return lapse_overdue(
                session,
                self._clock(),
                zone,
                sealer=self._sealer,
                notify=self._notify,
                agencies=agencies,
            )
