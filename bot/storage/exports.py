"""Read queries behind the exports: the treasurers' deduction list and the BPJS registration list.

Both stream: the rows come from the database in batches (yield_per; a server-side cursor on
PostgreSQL) and leave as an iterator, so 100,000 sponsorships never sit in memory at once. The
agencies a caller may read are a filter in SQL (Scope.restrict, flows.access), never a check on
rows already read. NIP and NIK are unsealed here only because the duty needs them: the treasurer
cuts the salary of that NIP, and BPJS registers the worker by NIK (full NIKs for superadmins
only; everyone else gets the masked form).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, Subquery, and_, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage import audit
from bot.storage.ledger import open_month
from bot.storage.models import Consent, Deduction, Sponsor, Sponsorship
from flows.access import Scope
from flows.catalog import ASN
from flows.statuses import SponsorshipStatus
from flows.validators.masking import NIK_LENGTH, mask_nik
from flows.validators.nik import decode_birth_date

BATCH = 1000
"""Rows fetched from the database at a time."""
DEDUCTIONS = "export.deductions"
BPJS = "export.bpjs"
TRANSFERS = "export.transfers"
REFUSED = "export.refused"
T = TypeVar("T")
OpenMonth = Callable[[Session, date, datetime], int]
"""Opens a month in the ledger (its deduction rows; idempotent); returns the rows created."""


OPEN_MONTH: OpenMonth = open_month
"""The ledger's single call site for the exports (export_deductions; CLI and chat alike)."""


class _Counted(Iterator[T]):
    """An iterator that counts what it hands out (the row count of the audit entry)."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self.count = 0

    def __next__(self) -> T:
        item = next(self._items)
        self.count += 1
        return item


def export_deductions(
    engine: Engine,
    writer: Engine,
    sealer: Sealer,
    actor: audit.Actor,
    month: date,
    agencies: frozenset[str] | None,
    now: datetime,
    write: Callable[[Iterator[DeductionRow]], T],
    *,
    detail: str,
    open_month: OpenMonth | None = None,
) -> tuple[T, int]:
    """Open `month` in the ledger (treasurers prepare payroll before the month starts, so the
    list of a month not yet opened must exist now), hand its rows within `agencies` to `write`
    as they stream from the database, then record the export in the audit log with its row
    count. `writer` is the engine for write transactions (bot.storage.db.immediate)."""
    with Session(writer) as session, session.begin():
        (open_month or OPEN_MONTH)(session, month, now)
    with Session(engine) as session:
        rows = _Counted(deduction_rows(session, sealer, month, agencies))
        result = write(rows)
    with Session(writer) as session, session.begin():
        audit.record(session, actor, DEDUCTIONS, now, detail=detail, row_count=rows.count)
    return result, rows.count


@dataclass(frozen=True)
class DeductionRow:
    """One line of a treasurer's list: whose salary to cut, by how much, for which worker, and
    on which consent (the statement's key and version)."""

    agency_code: str
    reference: str
    nip: str  # full: the treasurer cuts that salary
    sponsor_name: str
    amount: int
    worker_name: str  # "" once the worker's data are erased
    nik_masked: str
    consent_at: datetime | None
    consent_key: str
    consent_version: str
    first_month: date | None
    status: str
    deducted_at: datetime | None


@dataclass(frozen=True)
class BpjsRow:
    """One worker to register with BPJS as a Bukan Penerima Upah participant."""

    reference: str
    nik: str  # full for a superadmin, else masked
    full_name: str
    birth_date: date | None
    sex: str | None  # "M" / "F", from the NIK's date digits
    district_name: str
    village_name: str
    phone: str  # local form 08..., "" when the worker gave none
    programme_code: str
    agency_code: str
    job: str | None = None  # catalog code; None: not recorded (migration 0012_jobs)
    job_other: str | None = None  # the sponsor's words for a job "lainnya"


def _latest_consent(kind: str) -> Subquery:
    """The id of the latest consent of `kind` given, per sponsorship."""
    return (
        select(
            col(Consent.sponsorship_id).label("sponsorship_id"),
            func.max(col(Consent.id)).label("consent_id"),
        )
        .where(col(Consent.kind) == kind, col(Consent.action) == "given")
        .group_by(col(Consent.sponsorship_id))
        .subquery()
    )


def _month_query(*columns: Any) -> Select[Any]:
    """`columns` of the ledger's rows (deductions) with their sponsorship, sponsor and the latest
    payment consent (kind salary_deduction: every sponsor's, whatever the route)."""
    latest = _latest_consent("salary_deduction")
    return (
        select(*columns)
        .select_from(Deduction)
        .join(Sponsorship, col(Sponsorship.id) == col(Deduction.sponsorship_id))
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .outerjoin(latest, latest.c.sponsorship_id == col(Sponsorship.id))
        .outerjoin(Consent, col(Consent.id) == latest.c.consent_id)
    )


def deduction_rows(
    session: Session,
    sealer: Sealer,
    month: date,
    agencies: frozenset[str] | None,
) -> Iterator[DeductionRow]:
    """The ledger's rows of `month` in `agencies` (None: every agency; an empty set: none),
    ordered by agency, sponsor and reference."""
    if agencies is not None and not agencies:
        return
    query = (
        _month_query(
            col(Deduction.agency_code),
            col(Sponsorship.reference),
            col(Sponsor.nip_sealed),
            col(Sponsor.full_name),
            col(Deduction.amount),
            col(Sponsorship.worker_full_name),
            col(Sponsorship.nik_masked),
            col(Consent.recorded_at),
            col(Consent.text_key),
            col(Consent.text_version),
            col(Consent.first_month),
            col(Sponsorship.status),
            col(Deduction.deducted_at),
        )
        .where(
            col(Deduction.month) == month,
            # The agency's ASN, as before issue 12 (their salary deductions and the months they
            # pay themselves, which the treasurer marks too); a village's, BAZNAS's, a
            # company's or an honorer's payments are transfers (transfer_rows).
            col(Sponsor.funder_type) == ASN,
        )
        .order_by(col(Deduction.agency_code), col(Sponsor.full_name), col(Sponsorship.reference))
    )
    if agencies is not None:
        query = query.where(col(Deduction.agency_code).in_(sorted(agencies)))
    # Core rows through the session's connection: the ORM's row loading costs more than the
    # query at 100,000 rows. yield_per: fetched in batches (a server-side cursor on PostgreSQL).
    result = session.connection().execute(query.execution_options(yield_per=BATCH))
    for row in result:
        yield DeductionRow(
            agency_code=row[0],
            reference=row[1],
            nip=sealer.open(str(row[2])),
            sponsor_name=row[3],
            amount=row[4],
            worker_name=row[5] or "",
            nik_masked=row[6] or "",
            consent_at=row[7],
            consent_key=row[8] or "",
            consent_version=row[9] or "",
            first_month=row[10],
            status=row[11],
            deducted_at=row[12],
        )


def bpjs_rows(
    session: Session,
    sealer: Sealer,
    scope: Scope,
    *,
    today: date,
    since: datetime | None = None,
    agencies: frozenset[str] | None = None,
) -> Iterator[BpjsRow]:
    """Workers whose own consent is recorded and who are not yet covered (status confirmed),
    within the scope, optionally only those who consented at or after `since`; by agency and
    reference. Full NIKs for a superadmin only."""
    allowed = scope.restrict(agencies)
    if allowed is not None and not allowed:
        return
    latest = _latest_consent("worker_data")
    query = (
        select(
            col(Sponsorship.reference),
            col(Sponsorship.nik_sealed),
            col(Sponsorship.nik_masked),
            col(Sponsorship.worker_full_name),
            col(Sponsorship.district_name),
            col(Sponsorship.village_name),
            col(Sponsorship.worker_phone_sealed),
            col(Sponsorship.programme_code),
            col(Sponsor.agency_code),
            col(Sponsorship.worker_job),
            col(Sponsorship.worker_job_other),
        )
        .select_from(Sponsorship)
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .join(latest, latest.c.sponsorship_id == col(Sponsorship.id))
        .join(Consent, col(Consent.id) == latest.c.consent_id)
        .where(col(Sponsorship.status) == SponsorshipStatus.CONFIRMED.value)
        .order_by(col(Sponsor.agency_code), col(Sponsorship.reference))
    )
    if since is not None:
        query = query.where(and_(col(Consent.recorded_at) >= since))
    if allowed is not None:
        query = query.where(col(Sponsor.agency_code).in_(sorted(allowed)))
    full = scope.is_superadmin
    result = session.connection().execute(query.execution_options(yield_per=BATCH))
    for row in result:
        nik = sealer.open(row[1]) if row[1] is not None else ""
        birth, sex = None, None
        if len(nik) == NIK_LENGTH and nik.isdigit():
            birth, sex, _error = decode_birth_date(nik[6:12], today)
        phone = sealer.open(row[6]) if row[6] is not None else ""
        yield BpjsRow(
            reference=row[0],
            nik=nik if full else (row[2] or mask_nik(nik)),
            full_name=row[3] or "",
            birth_date=birth,
            sex=sex,
            district_name=row[4],
            village_name=row[5] or "",
            phone=local_phone(phone),
            programme_code=row[7],
            agency_code=row[8],
            job=row[9],
            job_other=row[10],
        )


@dataclass(frozen=True)
class TransferRow:
    """One line of the transfers list (issue 12): a month owed by a sponsor without a NIP (a
    village's budget, BAZNAS, a company's CSR, an honorer paying directly or from the regional
    budget), with who pays it and on which statement. No NIK in full. An ASN's months, by
    salary deduction or paid directly, are the treasurer's (deduction_rows)."""

    funder_type: str
    organisation_name: str  # "" for an honorer
    sponsor_name: str  # the officer (or the honorer, the ASN)
    position: str
    agency_code: str
    reference: str
    payment_method: str
    amount: int
    worker_name: str  # "" once the worker's data are erased
    nik_masked: str
    consent_key: str
    consent_version: str
    status: str
    paid_at: datetime | None  # marked paid (the ledger's mark)


def export_transfers(
    engine: Engine,
    writer: Engine,
    actor: audit.Actor,
    month: date,
    now: datetime,
    write: Callable[[Iterator[TransferRow]], T],
    *,
    open_month: OpenMonth | None = None,
    agencies: frozenset[str] | None = None,
    detail: str | None = None,
) -> tuple[T, int]:
    """The transfers of `month` within the actor's scope (and `agencies`, when given: /rekap's
    agency, already restricted to the scope), opened in the ledger first like the deductions,
    streamed to `write`, and recorded in the audit log with their count."""
    with Session(writer) as session, session.begin():
        (open_month or OPEN_MONTH)(session, month, now)
    within = actor.scope.restrict(None if agencies is None else sorted(agencies))
    with Session(engine) as session:
        rows = _Counted(transfer_rows(session, month, within))
        result = write(rows)
    with Session(writer) as session, session.begin():
        detail = detail or f"month={month:%Y-%m}"
        audit.record(session, actor, TRANSFERS, now, detail=detail, row_count=rows.count)
    return result, rows.count


def transfer_rows(
    session: Session, month: date, agencies: frozenset[str] | None
) -> Iterator[TransferRow]:
    """The ledger's rows of `month` owed by sponsors other than ASN, in `agencies` (None: all),
    by funder type, organisation, sponsor and reference."""
    if agencies is not None and not agencies:
        return
    query = (
        _month_query(
            col(Sponsor.funder_type),
            col(Sponsor.organisation_name),
            col(Sponsor.full_name),
            col(Sponsor.position),
            col(Deduction.agency_code),
            col(Sponsorship.reference),
            col(Sponsorship.payment_method),
            col(Deduction.amount),
            col(Sponsorship.worker_full_name),
            col(Sponsorship.nik_masked),
            col(Consent.text_key),
            col(Consent.text_version),
            col(Sponsorship.status),
            col(Deduction.deducted_at),
        )
        .where(
            col(Deduction.month) == month,
            col(Sponsor.funder_type) != ASN,
        )
        .order_by(
            col(Sponsor.funder_type),
            col(Sponsor.organisation_name),
            col(Sponsor.full_name),
            col(Sponsorship.reference),
        )
    )
    if agencies is not None:
        query = query.where(col(Deduction.agency_code).in_(sorted(agencies)))
    result = session.connection().execute(query.execution_options(yield_per=BATCH))
    for row in result:
        yield TransferRow(
            funder_type=row[0],
            organisation_name=row[1] or "",
            sponsor_name=row[2],
            position=row[3] or "",
            agency_code=row[4],
            reference=row[5],
            payment_method=row[6],
            amount=row[7],
            worker_name=row[8] or "",
            nik_masked=row[9] or "",
            consent_key=row[10] or "",
            consent_version=row[11] or "",
            status=row[12],
            paid_at=row[13],
        )


def local_phone(phone: str) -> str:
    """+6281234567890 -> 081234567890: the form Indonesian forms ask for (and a cell that does
    not begin with "+", which a spreadsheet would read as a formula)."""
    return "0" + phone[3:] if phone.startswith("+62") else phone
