"""Read queries: what /status, /data_saya, the admins' queue and the coverage import read.
Identifiers come back masked; a decrypted value only where a duty needs it (the docstring says)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Select, String, bindparam, func, select
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage.lookups import count_open, row_id, sponsor_of_user
from bot.storage.models import (
    Consent,
    CorrectionRequest,
    Deduction,
    Sponsor,
    Sponsorship,
    StaffRole,
    TelegramUser,
)
from bot.storage.views import (
    AtTurn,
    ConsentRecordView,
    CoverageCheck,
    PersonalData,
    RequestView,
    SponsorshipView,
    SponsorView,
    UserRecord,
    WorkerDataView,
    WorkerSponsorshipView,
)
from flows.languages import DEFAULT_LANGUAGE
from flows.statuses import OPEN_STATUSES, SponsorshipStatus


class Reads:
    """The read side; each call opens its own session (user_record_within reads inside one)."""

    def __init__(self, engine: Engine, sealer: Sealer, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._sealer = sealer
        self._clock = clock
        # The look-ups (one connection, prebuilt statements) read in autocommit on PostgreSQL:
        # no BEGIN before their statements and no ROLLBACK after, two round trips fewer.
        # (SQLite's BEGIN is in process: bot.storage.db's WriterGate emits it.)
        self._lean: dict[str, Any] = (
            {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
        )

    def _connect(self) -> Connection:
        """A pooled connection for a look-up (see _lean)."""
        return self._engine.connect().execution_options(**self._lean)

    def user_record(self, user_id: int) -> UserRecord:
        with Session(self._engine) as session:
            return self.user_record_within(session, user_id)

    def user_record_within(self, session: Session, user_id: int) -> UserRecord:
        """The user's record as a transaction in progress sees it (its own writes included)."""
        user = session.get(TelegramUser, user_id)
        sponsor = sponsor_of_user(session, user_id)
        open_count = 0
        if sponsor is not None:
            open_count = count_open(session, row_id(sponsor))
        as_worker = session.scalar(
            select(func.count())
            .select_from(Sponsorship)
            .where(col(Sponsorship.worker_user_id) == user_id)
        )
        worker_agency = None
        if as_worker:  # only a worker pays for this read
            worker_agency = session.scalar(
                select(col(Sponsor.agency_code))
                .join(Sponsorship, col(Sponsorship.sponsor_id) == col(Sponsor.id))
                .where(col(Sponsorship.worker_user_id) == user_id)
                .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
                .limit(1)
            )
        roles = session.execute(
            select(col(StaffRole.role), col(StaffRole.agency_code)).where(
                col(StaffRole.user_id) == user_id
            )
        ).all()
        return UserRecord(
            user_id=user_id,
            staff_role=roles[0][0] if roles else None,
            staff_agencies=frozenset(agency for _, agency in roles),
            language=user.language if user is not None else None,
            sponsor=_sponsor_view(sponsor) if sponsor is not None else None,
            open_sponsorships=open_count,
            worker_sponsorships=int(as_worker or 0),
            worker_agency=worker_agency,
        )

    def at_turn_within(self, session: Session | Connection, user_id: int) -> AtTurn | None:
        """The user's record and chat as a turn starts, in ONE statement (a turn runs it on every
        update: user_record_within takes four to six, through the ORM); None when the user has
        no row yet. The same record as user_record_within's (tests/integration/test_turn_reads).
        Run on the transaction's Connection: the ORM's execute adds nothing a Core select needs.
        """
        connection = session.connection() if isinstance(session, Session) else session
        rows = connection.execute(_at_turn_statement(), {"user_id": user_id}).all()
        if not rows:
            return None
        first = rows[0]
        sponsor = None
        if first[3] is not None:
            sponsor = SponsorView(
                user_id=user_id,
                full_name=first[4],
                agency_code=first[5],
                nip_masked=first[6],
                nip_kind=first[7],
                phone_masked=first[8],
                funder_type=first[9],
                organisation_name=first[10],
                position=first[11],
            )
        record = UserRecord(
            user_id=user_id,
            staff_role=first[15],
            staff_agencies=frozenset(row[16] for row in rows if row[15] is not None),
            language=first[2],
            sponsor=sponsor,
            open_sponsorships=int(first[12] or 0) if sponsor is not None else 0,
            worker_sponsorships=int(first[13] or 0),
            worker_agency=first[14] if first[13] else None,
        )
        return AtTurn(record, chat_id=first[0], unreachable=first[1] is not None)

    def sponsorships_of(self, user_id: int) -> list[SponsorshipView]:
        """The user's sponsorships as sponsor, newest first: one prebuilt statement on one
        connection (no ORM session)."""
        with self._connect() as connection:
            return _sponsorship_views(
                connection.execute(_sponsorships_statement(), {"user_id": user_id})
            )

    def worker_sponsorships(self, user_id: int) -> list[WorkerSponsorshipView]:
        """The sponsorships where the user is the linked worker (consented in their chat),
        newest first: one prebuilt statement on one connection."""
        with self._connect() as connection:
            return _worker_views(connection.execute(_worker_statement(), {"user_id": user_id}))

    def status_of(
        self, user_id: int
    ) -> tuple[UserRecord, list[SponsorshipView], list[WorkerSponsorshipView]]:
        """What /status reads (the record, the sponsorships as sponsor and as worker): one
        connection, up to three prebuilt statements."""
        with self._connect() as connection:
            found = self.at_turn_within(connection, user_id)
            if found is not None:
                record = found.record
            else:  # no row yet: the empty record, as the ORM read builds it
                with Session(bind=connection) as session:
                    record = self.user_record_within(session, user_id)
            params = {"user_id": user_id}
            # The record counts both lists' rows: a list it says is empty is not read (most
            # users are a sponsor or a worker, not both: two round trips, not three).
            sponsorships = (
                _sponsorship_views(connection.execute(_sponsorships_statement(), params))
                if record.sponsor is not None
                else []
            )
            as_worker = (
                _worker_views(connection.execute(_worker_statement(), params))
                if record.worker_sponsorships
                else []
            )
            return record, sponsorships, as_worker

    def personal_data(self, user_id: int) -> PersonalData:
        """Everything stored about the user, identifiers masked (/data_saya)."""
        with Session(self._engine) as session:
            user = session.get(TelegramUser, user_id)
            sponsor = sponsor_of_user(session, user_id)
            as_worker = session.execute(
                select(Sponsorship, Sponsor)
                .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
                .where(col(Sponsorship.worker_user_id) == user_id)
                .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
            ).all()
            consents = session.execute(
                select(Consent, col(Sponsorship.reference))
                .join(Sponsorship, col(Sponsorship.id) == col(Consent.sponsorship_id))
                .where(
                    (col(Consent.subject_user_id) == user_id)
                    | (col(Consent.recorded_by_user_id) == user_id)
                )
                .order_by(col(Consent.recorded_at), col(Consent.id))
            ).all()
            requests = session.execute(
                select(CorrectionRequest, col(Sponsorship.reference))
                .outerjoin(
                    Sponsorship, col(Sponsorship.id) == col(CorrectionRequest.sponsorship_id)
                )
                .where(
                    col(CorrectionRequest.requester_user_id) == user_id,
                    col(CorrectionRequest.resolved_at).is_(None),
                )
                .order_by(col(CorrectionRequest.id))
            ).all()
            now = self._clock()
            return PersonalData(
                user_id=user_id,
                language=user.language if user is not None else None,
                known_since=user.created_at if user is not None else None,
                sponsor=_sponsor_view(sponsor) if sponsor is not None else None,
                sponsorships=self._sponsorship_views(session, user_id),
                as_worker=[
                    WorkerDataView(
                        reference=row.reference,
                        status=row.status,
                        worker_full_name=row.worker_full_name,
                        nik_masked=row.nik_masked,
                        phone_masked=row.worker_phone_masked,
                        job=row.worker_job,
                        job_other=row.worker_job_other,
                        district_name=row.district_name,
                        village_name=row.village_name,
                        sponsor_name=owner.full_name,
                        agency_code=owner.agency_code,
                        programme_code=row.programme_code,
                        monthly_amount=row.monthly_amount,
                        kpj_masked=row.kpj_masked,
                        coverage_start=row.coverage_start,
                        created_at=row.created_at,
                    )
                    for row, owner in as_worker
                ],
                consents=[
                    ConsentRecordView(
                        reference=reference,
                        subject=consent.subject,
                        kind=consent.kind,
                        action=consent.action,
                        channel=consent.channel,
                        text_version=consent.text_version,
                        amount=consent.amount,
                        recorded_at=consent.recorded_at,
                    )
                    for consent, reference in consents
                ],
                open_requests=[
                    _request_view(request, reference, now, details=None)
                    for request, reference in requests
                ],
            )

    def open_requests(self) -> list[RequestView]:
        """The admin queue: unresolved requests, oldest deadline first, with their details
        decrypted. For admins only: the caller checks who asks."""
        with Session(self._engine) as session:
            return self.open_requests_within(session)

    def open_requests_within(self, session: Session) -> list[RequestView]:
        """The admin queue as a transaction in progress sees it (the view is audited in it)."""
        now = self._clock()
        rows = session.execute(
            select(CorrectionRequest, col(Sponsorship.reference))
            .outerjoin(Sponsorship, col(Sponsorship.id) == col(CorrectionRequest.sponsorship_id))
            .where(col(CorrectionRequest.resolved_at).is_(None))
            .order_by(col(CorrectionRequest.due_at), col(CorrectionRequest.id))
        ).all()
        return [
            _request_view(
                request,
                reference,
                now,
                details=(
                    self._sealer.open(request.details_sealed)
                    if request.details_sealed is not None
                    else None
                ),
            )
            for request, reference in rows
        ]

    def reveal_nik(self, reference: str) -> str | None:
        """Decrypt a worker's NIK (for an administrator's duty, e.g. registering with BPJS)."""
        with Session(self._engine) as session:
            sealed = session.scalars(
                select(col(Sponsorship.nik_sealed)).where(col(Sponsorship.reference) == reference)
            ).first()
        return self._sealer.open(sealed) if sealed is not None else None

    def reference_for_nik(self, nik: str) -> str | None:
        """The reference of the open sponsorship of the worker with this NIK (16 digits): one
        prebuilt statement on one connection (the unique index active_nik_index)."""
        if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
            return None
        nik_index = self._sealer.blind_index(nik, "nik")
        with self._connect() as connection:
            found = connection.execute(_nik_statement(), {"nik_index": nik_index}).first()
        return None if found is None else str(found[0])

    def coverage_check(self, reference: str, kpj_number: str) -> CoverageCheck | None:
        """The sponsorship's status, and whether it is already active with this KPJ number;
        None for an unknown reference."""
        with Session(self._engine) as session:
            row = session.execute(
                select(col(Sponsorship.status), col(Sponsorship.kpj_sealed)).where(
                    col(Sponsorship.reference) == reference
                )
            ).first()
        if row is None:
            return None
        same = (
            row.status == SponsorshipStatus.ACTIVE
            and row.kpj_sealed is not None
            and self._sealer.open(row.kpj_sealed) == kpj_number
        )
        return CoverageCheck(status=str(row.status), same_kpj=same)

    def _sponsorship_views(self, session: Session, user_id: int) -> list[SponsorshipView]:
        return _sponsorship_views(session.execute(_sponsorships_statement(), {"user_id": user_id}))


def _sponsorship_views(rows: Iterable[Any]) -> list[SponsorshipView]:
    return [
        SponsorshipView(
            reference=row.reference,
            worker_full_name=row.worker_full_name,
            nik_masked=row.nik_masked,
            worker_relationship=row.worker_relationship,
            worker_job=row.worker_job,
            worker_job_other=row.worker_job_other,
            programme_code=row.programme_code,
            monthly_amount=row.monthly_amount,
            payment_method=row.payment_method,
            status=row.status,
            created_at=row.created_at,
            worker_linked=row.worker_user_id is not None,
            kpj_masked=row.kpj_masked,
            coverage_start=row.coverage_start,
            consent_channel=row.consent_channel,
            withdrawal_effective_month=row.withdrawal_effective_month,
            marked_months=int(row.marked_months or 0),
            worker_language=row.worker_language or DEFAULT_LANGUAGE,
        )
        for row in rows
    ]


def _worker_views(rows: Iterable[Any]) -> list[WorkerSponsorshipView]:
    return [
        WorkerSponsorshipView(
            reference=row.reference,
            sponsor_name=row.full_name,
            agency_code=row.agency_code,
            programme_code=row.programme_code,
            monthly_amount=row.monthly_amount,
            status=row.status,
            coverage_start=row.coverage_start,
            kpj_masked=row.kpj_masked,
        )
        for row in rows
    ]


@functools.cache
def _nik_statement() -> Select[*tuple[Any, ...]]:
    """Built once: the duplicate-NIK look-up."""
    return select(col(Sponsorship.reference)).where(
        col(Sponsorship.active_nik_index) == bindparam("nik_index", type_=String)
    )


@functools.cache
def _sponsorships_statement() -> Select[*tuple[Any, ...]]:
    """Built once: a sponsor's sponsorships, newest first, each with how the worker consented
    (the latest record) and its ledger months marked deducted, in one statement."""
    user_id = bindparam("user_id", type_=BigInteger)
    channel = (
        select(col(Consent.channel))
        .where(
            col(Consent.sponsorship_id) == col(Sponsorship.id),
            col(Consent.subject) == "worker",
            col(Consent.kind) == "worker_data",
            col(Consent.action) == "given",
        )
        .order_by(col(Consent.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    marked = (
        select(func.count())
        .select_from(Deduction)
        .where(
            col(Deduction.sponsorship_id) == col(Sponsorship.id),
            col(Deduction.deducted_at).is_not(None),
        )
        .scalar_subquery()
    )
    return (
        select(
            col(Sponsorship.reference),
            col(Sponsorship.worker_full_name),
            col(Sponsorship.nik_masked),
            col(Sponsorship.worker_relationship),
            col(Sponsorship.worker_job),
            col(Sponsorship.worker_job_other),
            col(Sponsorship.programme_code),
            col(Sponsorship.monthly_amount),
            col(Sponsorship.payment_method),
            col(Sponsorship.status),
            col(Sponsorship.created_at),
            col(Sponsorship.worker_user_id),
            col(Sponsorship.kpj_masked),
            col(Sponsorship.coverage_start),
            channel.label("consent_channel"),
            col(Sponsorship.withdrawal_effective_month),
            marked.label("marked_months"),
            col(Sponsorship.worker_language),
        )
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(col(Sponsor.user_id) == user_id)
        .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
    )


@functools.cache
def _worker_statement() -> Select[*tuple[Any, ...]]:
    """Built once: the sponsorships a worker is linked to, newest first, with their sponsor."""
    return (
        select(
            col(Sponsorship.reference),
            col(Sponsor.full_name),
            col(Sponsor.agency_code),
            col(Sponsorship.programme_code),
            col(Sponsorship.monthly_amount),
            col(Sponsorship.status),
            col(Sponsorship.coverage_start),
            col(Sponsorship.kpj_masked),
        )
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(col(Sponsorship.worker_user_id) == bindparam("user_id", type_=BigInteger))
        .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
    )


def _request_view(
    request: CorrectionRequest, reference: str | None, now: datetime, *, details: str | None
) -> RequestView:
    return RequestView(
        id=row_id(request),
        kind=request.kind,
        subject=request.subject,
        reference=reference,
        requester_user_id=request.requester_user_id,
        created_at=request.created_at,
        due_at=request.due_at,
        overdue=request.resolved_at is None and now > request.due_at,
        details=details,
    )


def _sponsor_view(sponsor: Sponsor) -> SponsorView:
    return SponsorView(
        user_id=sponsor.user_id,
        full_name=sponsor.full_name,
        agency_code=sponsor.agency_code,
        nip_masked=sponsor.nip_masked,
        nip_kind=sponsor.nip_kind,
        phone_masked=sponsor.phone_masked,
        funder_type=sponsor.funder_type,
        organisation_name=sponsor.organisation_name,
        position=sponsor.position,
    )


@functools.cache
def _at_turn_statement() -> Select[*tuple[Any, ...]]:
    """Built once: building it (an alias, three subqueries) cost more than running it."""
    user_id = bindparam("user_id", type_=BigInteger)
    open_count = (
        select(func.count())
        .select_from(Sponsorship)
        .where(
            col(Sponsorship.sponsor_id) == col(Sponsor.id),
            col(Sponsorship.status).in_(OPEN_STATUSES),
        )
        .scalar_subquery()
    )
    as_worker = (
        select(func.count())
        .select_from(Sponsorship)
        .where(col(Sponsorship.worker_user_id) == user_id)
        .scalar_subquery()
    )
    newest_sponsor = aliased(Sponsor)  # not the row joined below: the worker's sponsor
    worker_agency = (
        select(col(newest_sponsor.agency_code))
        .join(Sponsorship, col(Sponsorship.sponsor_id) == col(newest_sponsor.id))
        .where(col(Sponsorship.worker_user_id) == user_id)
        .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            col(TelegramUser.chat_id),
            col(TelegramUser.unreachable_at),
            col(TelegramUser.language),
            col(Sponsor.id),
            col(Sponsor.full_name),
            col(Sponsor.agency_code),
            col(Sponsor.nip_masked),
            col(Sponsor.nip_kind),
            col(Sponsor.phone_masked),
            col(Sponsor.funder_type),
            col(Sponsor.organisation_name),
            col(Sponsor.position),
            open_count,
            as_worker,
            worker_agency,
            col(StaffRole.role),
            col(StaffRole.agency_code),
        )
        .select_from(TelegramUser)
        .outerjoin(Sponsor, col(Sponsor.user_id) == col(TelegramUser.user_id))
        .outerjoin(StaffRole, col(StaffRole.user_id) == col(TelegramUser.user_id))
        .where(col(TelegramUser.user_id) == user_id)
    )
