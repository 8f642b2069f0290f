"""The unit of work for domain commands: everything a turn asks for commits together, or not at all.

Synchronous on purpose: the bot calls it through asyncio.to_thread, and plain SQLAlchemy sessions
are simpler to reason about than async ones. Each call opens its own session, so one Repository
can be shared by threads.

Rules the database enforces (so they hold across processes, not just inside one):
- one sponsor row per Telegram account, one Telegram account per NIP (unique blind index);
- one open sponsorship per worker NIK (unique active_nik_index);
- one sponsorship per idempotency key (double press of "Simpan", replayed updates);
- one notification per de-duplication key (outbox.dedupe_key): a repeated change enqueues nothing.

Notifications to other people go into the outbox in the same transaction as the change itself
(bot.notifications words them); the bot delivers them with claim_notifications (a lease, so two
processes sharing the database never send the same row) and mark_notification_sent /
mark_notification_failed.

Erasure of a worker's personal data (decline, withdrawal by the worker): the name, NIK (sealed,
index, masked), phone, village, KPJ number and the NIK remark become NULL, the outbox messages
about that sponsorship are deleted and open requests about the worker closed with their text
erased; category, district, programme, amount, status and timestamps stay for anonymous counts,
and the consent records stay as proof (they hold only Telegram ids and hashes), as does
worker_user_id. On SQLite the write-ahead log is checkpointed afterwards and secure_delete zeroes
the old bytes (bot.storage.db).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot import notifications
from bot.security.crypto import SealedDataError, Sealer
from bot.storage.db import checkpoint_wal, dialect_insert, immediate
from bot.storage.models import (
    OPEN_STATUSES,
    Consent,
    CorrectionRequest,
    Invitation,
    OutboxMessage,
    Sponsor,
    Sponsorship,
    TelegramUser,
    utc_now,
)
from bot.storage.views import (
    ConsentRecordView,
    CoverageCheck,
    OutboxItem,
    PersonalData,
    RequestView,
    SponsorshipView,
    SponsorView,
    UserRecord,
    WorkerDataView,
    WorkerSponsorshipView,
)
from flows.commands import (
    ActivateCoverage,
    Applied,
    Command,
    FailVerification,
    InvitationDetails,
    InvitationOpened,
    OpenInvitation,
    Outcome,
    RecordInPersonConsent,
    Refused,
    RegisterSponsor,
    ReissueInvitation,
    RequestCorrection,
    ResolveRequest,
    SetLanguage,
    SubmitSponsorship,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.text import Text, to_json
from flows.validators import check_nik
from flows.validators.masking import mask_nik, mask_nip, mask_phone
from flows.validators.nik import decode_birth_date

__all__ = [
    "MAX_FAILED_VERIFICATIONS",
    "REFERENCE_ALPHABET",
    "REQUEST_DUE",
    "ConsentRecordView",
    "ConsentStatement",
    "ConsentTextHash",
    "CoverageCheck",
    "IdempotencyConflict",
    "OutboxItem",
    "PersonalData",
    "Repository",
    "RequestView",
    "SponsorView",
    "SponsorshipView",
    "UserRecord",
    "WorkerDataView",
    "WorkerSponsorshipView",
    "hash_token",
    "mask_kpj",
    "random_reference",
    "random_token",
]

logger = logging.getLogger(__name__)

Transaction = Session
"""The unit of work's open transaction, as code above storage sees it when it runs inside one
(the service settles a turn's outcomes before the commit: Repository.apply(then=...))."""

REFERENCE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely
REFERENCE_ATTEMPTS: Final = 8
MAX_FAILED_VERIFICATIONS: Final = 3
REQUEST_DUE: Final = timedelta(hours=72)  # UU 27/2022: 3 x 24 hours
# Unresolved correction requests per person: one person cannot flood the admins' queue.
MAX_OPEN_REQUESTS: Final = 3
ADMIN_PING_WINDOW: Final = "%Y-%m-%dT%H"  # one "requests waiting" notice per admin per hour
# An outbox claim. Short: the dispatcher claims one row right before sending it and marks it
# right after, so the lease only has to outlast one send (bot.outbox bounds a send well below it).
DEFAULT_LEASE: Final = timedelta(seconds=30)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# A Telegram start parameter is at most 64 of A-Za-z0-9_-; the bot prefixes "w_".
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,62}$")
_EMPTY_HASH: Final = hashlib.sha256(b"").hexdigest()
_LAST_ERROR_LENGTH: Final = 200


def random_reference() -> str:
    """A short code a person can read over the phone, e.g. PR-7K3QX9 (31^6, about 887 million)."""
    return "PR-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def random_token() -> str:
    """An invitation token: 24 random bytes, 32 characters of A-Za-z0-9_-."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """What the invitations table stores instead of the token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mask_kpj(kpj: str) -> str:
    """ "12345678901" -> "12*****8901": the first 2 and the last 4 digits."""
    if len(kpj) < 8:
        return "*" * len(kpj)
    return kpj[:2] + "*" * (len(kpj) - 6) + kpj[-4:]


class ConsentStatement(Protocol):
    """What a consent hash is computed from: ConsentGiven (the sponsor's), WorkerConsents and
    RecordInPersonConsent (the worker's) all have these two attributes."""

    @property
    def statement(self) -> Text: ...

    @property
    def text_version(self) -> str: ...


ConsentTextHash = Callable[[ConsentStatement], str]
"""Renders the statement exactly as shown and returns the sha256 hex of that text."""


class IdempotencyConflict(RuntimeError):
    """An idempotency key already belongs to another sponsor's sponsorship: a bug in the caller
    (keys are per draft), never shown to users and never answered with the other's reference."""


@dataclass(frozen=True)
class _Keep:
    """A refusal whose writes must still commit (the third failed verification locks the link)."""

    outcome: Refused


@dataclass
class _Turn:
    session: Session
    text_hash: ConsentTextHash | None
    now: datetime
    erased: bool = False


class Repository:
    """Reads and the unit of work over the domain tables; sealing happens here, so nothing
    above this layer ever handles ciphertext and nothing below it ever sees an identifier."""

    def __init__(
        self,
        engine: Engine,
        sealer: Sealer,
        *,
        max_sponsorships_per_sponsor: int = 1,
        new_reference: Callable[[], str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        invitation_ttl: timedelta = timedelta(days=14),
        admin_ids: frozenset[int] = frozenset(),
        new_token: Callable[[], str] | None = None,
    ) -> None:
        if max_sponsorships_per_sponsor < 1:
            raise ValueError("max_sponsorships_per_sponsor must be at least 1")
        if invitation_ttl <= timedelta(0):
            raise ValueError("invitation_ttl must be positive")
        self._engine = engine
        self._writer = immediate(engine)
        self._sealer = sealer
        self._max_open = max_sponsorships_per_sponsor
        self._new_reference = new_reference if new_reference is not None else random_reference
        self._clock = clock
        self._invitation_ttl = invitation_ttl
        self._admin_ids = frozenset(admin_ids)
        self._new_token = new_token if new_token is not None else random_token

    @property
    def admin_ids(self) -> frozenset[int]:
        return self._admin_ids

    # ---- reads -------------------------------------------------------------------------------

    def user_record(self, user_id: int) -> UserRecord:
        with Session(self._engine) as session:
            return self.user_record_within(session, user_id)

    def user_record_within(self, session: Session, user_id: int) -> UserRecord:
        """The user's record as a transaction in progress sees it (its own writes included)."""
        user = session.get(TelegramUser, user_id)
        sponsor = self._sponsor_of_user(session, user_id)
        open_count = 0
        if sponsor is not None:
            open_count = self._count_open(session, _id(sponsor))
        as_worker = session.scalar(
            select(func.count())
            .select_from(Sponsorship)
            .where(col(Sponsorship.worker_user_id) == user_id)
        )
        return UserRecord(
            user_id=user_id,
            language=user.language if user is not None else None,
            sponsor=_sponsor_view(sponsor) if sponsor is not None else None,
            open_sponsorships=open_count,
            worker_sponsorships=int(as_worker or 0),
        )

    def sponsorships_of(self, user_id: int) -> list[SponsorshipView]:
        """The user's sponsorships as sponsor, newest first."""
        with Session(self._engine) as session:
            return self._sponsorship_views(session, user_id)

    def worker_sponsorships(self, user_id: int) -> list[WorkerSponsorshipView]:
        """The sponsorships where the user is the linked worker (consented in their chat),
        newest first."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(Sponsorship, Sponsor)
                .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
                .where(col(Sponsorship.worker_user_id) == user_id)
                .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
            ).all()
            return [
                WorkerSponsorshipView(
                    reference=row.reference,
                    sponsor_name=sponsor.full_name,
                    agency_code=sponsor.agency_code,
                    programme_code=row.programme_code,
                    monthly_amount=row.monthly_amount,
                    status=row.status,
                    coverage_start=row.coverage_start,
                    kpj_masked=row.kpj_masked,
                )
                for row, sponsor in rows
            ]

    def personal_data(self, user_id: int) -> PersonalData:
        """Everything stored about the user, identifiers masked (/data_saya)."""
        with Session(self._engine) as session:
            user = session.get(TelegramUser, user_id)
            sponsor = self._sponsor_of_user(session, user_id)
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
                        category=row.worker_category,
                        category_other=row.worker_category_other,
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
        now = self._clock()
        with Session(self._engine) as session:
            rows = session.execute(
                select(CorrectionRequest, col(Sponsorship.reference))
                .outerjoin(
                    Sponsorship, col(Sponsorship.id) == col(CorrectionRequest.sponsorship_id)
                )
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
        """The reference of the open sponsorship of the worker with this NIK (16 digits)."""
        if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
            return None
        nik_index = self._sealer.blind_index(nik, "nik")
        with Session(self._engine) as session:
            return session.scalars(
                select(col(Sponsorship.reference)).where(
                    col(Sponsorship.active_nik_index) == nik_index
                )
            ).first()

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
            row.status == "active"
            and row.kpj_sealed is not None
            and self._sealer.open(row.kpj_sealed) == kpj_number
        )
        return CoverageCheck(status=str(row.status), same_kpj=same)

    # ---- outbox ------------------------------------------------------------------------------

    def claim_notifications(
        self, limit: int = 50, lease: timedelta = DEFAULT_LEASE
    ) -> list[OutboxItem]:
        """Claim up to `limit` notifications to deliver, oldest first, for `lease`.

        A claimable row is neither sent nor given up, and unclaimed or its lease ended (the
        process that claimed it died, or is very late). Claiming sets claimed_until = now + lease
        in the same statement that picks the rows: two processes sharing the database never get
        the same row while its lease runs, so nobody receives a notification twice. The caller
        marks each row sent or failed before the lease ends; a failure releases the row.

        PostgreSQL: one UPDATE over a sub-select that locks its rows with FOR UPDATE SKIP LOCKED,
        so concurrent claimers take the next rows instead of waiting. SQLite: the same statement
        without the locking clause, in a BEGIN IMMEDIATE transaction (one writer at a time).
        """
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        if limit < 1:
            return []
        while True:
            items, claimed = self._claim_batch(limit, lease)
            # Rows no key opens are given up inside the batch; claim again rather than report
            # "nothing to send" while good rows wait behind them. Each pass gives up at least
            # one row, so this ends.
            if items or not claimed:
                return items

    def _claim_batch(self, limit: int, lease: timedelta) -> tuple[list[OutboxItem], int]:
        """One claim of up to `limit` rows: the openable ones, and how many rows were claimed."""
        now = self._clock()
        claimable = (
            select(col(OutboxMessage.id))
            .where(
                col(OutboxMessage.sent_at).is_(None),
                col(OutboxMessage.gave_up_at).is_(None),
                col(OutboxMessage.claimed_until).is_(None)
                | (col(OutboxMessage.claimed_until) < now),
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        )
        # expire_on_commit=False: the rows are read after the claim commits.
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            claimed = (
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(claimable.scalar_subquery()))
                    .values(claimed_until=now + lease)
                    .returning(col(OutboxMessage.id)),
                    execution_options={"synchronize_session": False},
                )
                .scalars()
                .all()
            )
            if not claimed:
                return [], 0
            rows = session.execute(
                select(OutboxMessage, col(TelegramUser.chat_id), col(TelegramUser.language))
                .outerjoin(
                    TelegramUser,
                    col(TelegramUser.user_id) == col(OutboxMessage.recipient_user_id),
                )
                .where(col(OutboxMessage.id).in_(claimed))
                .order_by(col(OutboxMessage.id))
            ).all()
        items = []
        for message, chat_id, language in rows:
            document = self._open_notification(message)
            if document is None:
                continue
            items.append(
                OutboxItem(
                    id=_id(message),
                    recipient_user_id=message.recipient_user_id,
                    chat_id=chat_id,
                    language=language,
                    message=document,
                    attempts=message.attempts,
                )
            )
        return items, len(claimed)

    def _open_notification(self, message: OutboxMessage) -> dict[str, Any] | None:
        """The notification's document; None, and the row given up, when it cannot be opened
        (sealed under a key this process does not have, or damaged): retrying could never
        succeed, and raising would hold back every other row of the batch."""
        try:
            document = json.loads(self._sealer.open(message.message))
        except (SealedDataError, ValueError) as error:
            reason = "cannot be opened" if isinstance(error, SealedDataError) else "not JSON"
        else:
            if isinstance(document, dict):
                return document
            reason = "not a JSON object"
        logger.warning("outbox message %s %s: given up", message.id, reason)
        self.mark_notification_failed(_id(message), f"message {reason}", give_up=True)
        return None

    def mark_notification_sent(self, notification_id: int, message_id: int | None = None) -> None:
        """Record a delivered notification and the id Telegram gave its message (to find it in
        the recipient's chat, e.g. when someone reports a duplicate)."""
        now = self._clock()
        with Session(self._writer) as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == notification_id)
                .values(
                    sent_at=now,
                    attempts=col(OutboxMessage.attempts) + 1,
                    last_error=None,
                    claimed_until=None,
                    telegram_message_id=message_id,
                )
            )

    def mark_notification_failed(self, notification_id: int, error: str, give_up: bool) -> None:
        """Count a failed attempt. error: a short reason, no personal data (long digit runs are
        blanked and it is cut to 200 characters anyway). give_up: never try this one again;
        otherwise the row's lease is released, so the next claim (by any process) retries it."""
        now = self._clock()
        values: dict[str, Any] = {
            "attempts": col(OutboxMessage.attempts) + 1,
            "last_error": _scrub_error(error),
        }
        if give_up:
            values["gave_up_at"] = now
        else:
            values["claimed_until"] = None  # released: the next claim retries it
        with Session(self._writer) as session, session.begin():
            session.execute(
                update(OutboxMessage).where(col(OutboxMessage.id) == notification_id).values(values)
            )

    # ---- writes ------------------------------------------------------------------------------

    def remember_chat(self, user_id: int, chat_id: int) -> None:
        with Session(self._writer) as session, session.begin():
            self._upsert_user(session, user_id, chat_id=chat_id)

    def apply(
        self,
        user_id: int | None,
        commands: Sequence[Command],
        *,
        consent_text_hash: ConsentTextHash | None = None,
        dry_run: bool = False,
        then: Callable[[Session, list[Outcome]], None] | None = None,
    ) -> list[Outcome]:
        """Apply commands in order in ONE transaction; one outcome per command.

        Each command runs in its own savepoint, so a Refused one leaves no trace while the others
        still commit (except the third failed verification: the lock stays). Unexpected errors
        roll everything back and propagate.

        user_id: whose turn it is; every command must be that user's. None only for an
        ActivateCoverage without actor (the coverage file import).
        consent_text_hash: needed by SubmitSponsorship, WorkerConsents and RecordInPersonConsent.
        dry_run: compute the outcomes, then roll everything back (nothing is written).
        then: more work of the same transaction, run after the commands with their outcomes and
        before the commit (the turn journal writes the session and the answer there); it may
        raise to roll everything back. With `then`, a transaction is opened even without commands.
        """
        for command in commands:
            if _command_user(command) != user_id:
                raise ValueError(f"{type(command).__name__} is for another user than {user_id}")
        if not commands and then is None:
            return []
        outcomes: list[Outcome] = []
        erased = False
        with Session(self._writer) as session:
            transaction = session.begin()
            try:
                turn = _Turn(session, consent_text_hash, self._clock())
                for command in commands:
                    savepoint = session.begin_nested()
                    result = self._apply_one(turn, command)
                    if isinstance(result, _Keep):
                        savepoint.commit()
                        outcome: Outcome = result.outcome
                    elif isinstance(result, Refused):
                        savepoint.rollback()
                        outcome = result
                    else:
                        savepoint.commit()
                        outcome = result
                    outcomes.append(outcome)
                erased = turn.erased
                if then is not None:
                    then(session, outcomes)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        if erased and not dry_run:
            checkpoint_wal(self._engine)
        for command, outcome in zip(commands, outcomes, strict=True):
            logger.info(
                "user %s: %s -> %s%s",
                user_id,
                type(command).__name__,
                _describe(outcome),
                " (dry run)" if dry_run else "",
            )
        return outcomes

    def _apply_one(self, turn: _Turn, command: Command) -> Outcome | _Keep:
        session = turn.session
        if isinstance(command, SetLanguage):
            self._upsert_user(session, command.user_id, language=command.language)
            return Applied()
        if isinstance(command, RegisterSponsor):
            return self._register_sponsor(session, command)
        if isinstance(command, SubmitSponsorship):
            return self._submit_sponsorship(turn, command)
        if isinstance(command, OpenInvitation):
            return self._open_invitation(turn, command)
        if isinstance(command, FailVerification):
            return self._fail_verification(turn, command)
        if isinstance(command, WorkerConsents):
            return self._worker_consents(turn, command)
        if isinstance(command, WorkerDeclines):
            return self._worker_declines(turn, command)
        if isinstance(command, RequestCorrection):
            return self._request_correction(turn, command)
        if isinstance(command, RecordInPersonConsent):
            return self._record_in_person_consent(turn, command)
        if isinstance(command, WithdrawConsent):
            return self._withdraw_consent(turn, command)
        if isinstance(command, ActivateCoverage):
            return self._activate_coverage(turn, command)
        if isinstance(command, ResolveRequest):
            return self._resolve_request(turn, command)
        if isinstance(command, ReissueInvitation):
            return self._reissue_invitation(turn, command)
        raise TypeError(f"unknown command {type(command).__name__}")

    def _register_sponsor(self, session: Session, command: RegisterSponsor) -> Outcome:
        nip = _digits(command.nip, 18, "NIP")
        nip_index = self._sealer.blind_index(nip, "nip")
        if self._nip_owner(session, nip_index) not in (None, command.user_id):
            return Refused("nip_taken")
        self._upsert_user(session, command.user_id)
        now = self._clock()
        values: dict[str, Any] = {
            "nip_kind": command.nip_kind,
            "full_name": command.full_name,
            "agency_code": command.agency_code,
            "phone_sealed": self._sealer.seal(command.phone_e164),
            "phone_masked": mask_phone(command.phone_e164),
            "updated_at": now,
        }
        sponsor = self._sponsor_of_user(session, command.user_id)
        if sponsor is None or sponsor.nip_index != nip_index:
            values |= {
                "nip_sealed": self._sealer.seal(nip),
                "nip_index": nip_index,
                "nip_masked": mask_nip(nip),
            }
        if sponsor is None:
            session.add(Sponsor(user_id=command.user_id, created_at=now, **values))
        else:
            for name, value in values.items():
                setattr(sponsor, name, value)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            # Another process registered this NIP between our check and our write.
            if self._nip_owner(session, nip_index) not in (None, command.user_id):
                return Refused("nip_taken")
            raise
        return Applied()

    def _submit_sponsorship(self, turn: _Turn, command: SubmitSponsorship) -> Outcome:
        session = turn.session
        # FOR UPDATE serializes one sponsor's concurrent submissions on PostgreSQL, so the limit
        # below holds across processes (SQLite already serializes writers with BEGIN IMMEDIATE).
        sponsor = session.scalars(
            select(Sponsor).where(col(Sponsor.user_id) == command.sponsor_user_id).with_for_update()
        ).first()
        if sponsor is None:
            return Refused("not_registered")
        sponsor_id = _id(sponsor)
        existing = self._by_idempotency_key(session, command.idempotency_key, sponsor_id)
        if existing is not None:
            return self._replayed_submission(turn, existing)
        if self._count_open(session, sponsor_id) >= self._max_open:
            return Refused("limit_reached")
        consent_hash = self._hash(turn, command.consent)
        worker = command.worker
        nik = _digits(worker.nik, 16, "NIK")
        nik_index = self._sealer.blind_index(nik, "nik")
        now = self._clock()
        for _attempt in range(REFERENCE_ATTEMPTS):
            reference = self._new_reference()
            row = Sponsorship(
                reference=reference,
                idempotency_key=command.idempotency_key,
                sponsor_id=sponsor_id,
                status="waiting_worker",
                worker_full_name=worker.full_name,
                worker_category=worker.category,
                worker_category_other=worker.category_other,
                nik_sealed=self._sealer.seal(nik),
                nik_index=nik_index,
                nik_masked=mask_nik(nik),
                active_nik_index=nik_index,
                nik_disagreement=worker.nik_disagreement,
                worker_phone_sealed=(
                    self._sealer.seal(worker.phone_e164) if worker.phone_e164 else None
                ),
                worker_phone_masked=mask_phone(worker.phone_e164) if worker.phone_e164 else None,
                district_code=worker.district_code,
                district_name=worker.district_name,
                village_code=worker.village_code,
                village_name=worker.village_name,
                programme_code=command.programme_code,
                monthly_amount=command.monthly_amount,
                payment_method=command.payment_method,
                created_at=now,
                updated_at=now,
            )
            try:
                # No look-up of the NIK first: the unique active_nik_index decides, so two
                # processes racing for one worker get exactly one success.
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:
                existing = self._by_idempotency_key(session, command.idempotency_key, sponsor_id)
                if existing is not None:
                    return self._replayed_submission(turn, existing)
                if self._nik_is_open(session, nik_index):
                    return Refused("nik_taken")
                if self._reference_exists(session, reference):
                    continue  # a one-in-a-billion collision: draw another reference
                raise
            consent = command.consent
            session.add(
                Consent(
                    sponsorship_id=_id(row),
                    subject="sponsor",
                    subject_user_id=command.sponsor_user_id,
                    kind="salary_deduction",
                    action="given",
                    channel="telegram",
                    recorded_by_user_id=command.sponsor_user_id,
                    text_key=consent.statement.key,
                    text_version=consent.text_version,
                    text_hash=consent_hash,
                    amount=consent.amount,
                    first_month=consent.first_month,
                    message_id=consent.message_id,
                    recorded_at=consent.given_at,
                )
            )
            token = self._create_invitation(session, _id(row), now)
            session.flush()
            return Applied(reference=reference, invitation_token=token)
        raise RuntimeError(f"no free sponsorship reference after {REFERENCE_ATTEMPTS} attempts")

    def _replayed_submission(self, turn: _Turn, row: Sponsorship) -> Outcome:
        """The same draft submitted again. The raw token is not stored, so while the worker has
        not decided, a new one replaces the unopened invitations: the sponsor gets a working
        link either way."""
        if row.status != "waiting_worker":
            return Applied(reference=row.reference)
        session = turn.session
        sponsorship_id = _id(row)
        session.execute(
            update(Invitation)
            .where(
                col(Invitation.sponsorship_id) == sponsorship_id,
                col(Invitation.opened_by_user_id).is_(None),
                col(Invitation.used_at).is_(None),
                col(Invitation.expires_at) > turn.now,
            )
            .values(expires_at=turn.now)
        )
        token = self._create_invitation(session, sponsorship_id, turn.now)
        return Applied(reference=row.reference, invitation_token=token)

    def _reissue_invitation(self, turn: _Turn, command: ReissueInvitation) -> Outcome:
        session = turn.session
        row = self._sponsorship(session, command.reference)
        if row is None:
            return Refused("unknown_reference")
        if self._sponsor_by_id(session, row.sponsor_id).user_id != command.user_id:
            return Refused("not_allowed")
        if row.status != "waiting_worker":
            return Refused("wrong_state")
        sponsorship_id = _id(row)
        session.execute(
            update(Invitation)
            .where(
                col(Invitation.sponsorship_id) == sponsorship_id,
                col(Invitation.used_at).is_(None),
                col(Invitation.expires_at) > turn.now,
            )
            .values(expires_at=turn.now)
        )
        token = self._create_invitation(session, sponsorship_id, turn.now)
        return Applied(reference=row.reference, invitation_token=token)

    def _create_invitation(self, session: Session, sponsorship_id: int, now: datetime) -> str:
        token = self._new_token()
        if not _TOKEN.match(token):
            raise ValueError("new_token must return 16-62 characters of A-Za-z0-9_-")
        session.add(
            Invitation(
                sponsorship_id=sponsorship_id,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=now + self._invitation_ttl,
            )
        )
        session.flush()
        return token

    # ---- the worker's side -------------------------------------------------------------------

    def _open_invitation(self, turn: _Turn, command: OpenInvitation) -> Outcome:
        session = turn.session
        invitation = session.scalars(
            select(Invitation)
            .where(col(Invitation.token_hash) == hash_token(command.token))
            .with_for_update()
        ).first()
        if invitation is None:
            return Refused("invitation_unknown")
        if invitation.locked_at is not None:
            return Refused("invitation_locked")
        if invitation.used_at is not None:
            return Refused("invitation_used")
        if turn.now >= invitation.expires_at:
            return Refused("invitation_expired")
        if invitation.opened_by_user_id not in (None, command.user_id):
            return Refused("invitation_used")
        row = session.get(Sponsorship, invitation.sponsorship_id, with_for_update=True)
        if row is None:
            raise RuntimeError("invitation without its sponsorship")
        sponsor = self._sponsor_by_id(session, row.sponsor_id)
        if sponsor.user_id == command.user_id:
            return Refused("own_invitation")
        if row.status != "waiting_worker" or row.nik_sealed is None:
            return Refused("invitation_used")
        if invitation.opened_by_user_id is None:
            invitation.opened_by_user_id = command.user_id
            session.flush()
        nik = self._sealer.open(row.nik_sealed)
        return InvitationOpened(
            InvitationDetails(
                reference=row.reference,
                sponsor_user_id=sponsor.user_id,
                sponsor_name=sponsor.full_name,
                agency_code=sponsor.agency_code,
                worker_name=row.worker_full_name or "",
                nik_masked=row.nik_masked or mask_nik(nik),
                nik_last4=nik[-4:],
                birth_date=_birth_date(nik, turn.now.date()),
                category=row.worker_category,
                category_other=row.worker_category_other,
                phone_masked=row.worker_phone_masked,
                district_name=row.district_name,
                village_name=row.village_name or "",
                programme_code=row.programme_code,
                monthly_amount=row.monthly_amount,
                status=row.status,
            )
        )

    def _worker_invitation(
        self, turn: _Turn, user_id: int, reference: str
    ) -> tuple[Sponsorship, Invitation] | Refused:
        """The sponsorship and the invitation the user opened, when both still allow a
        decision by the worker."""
        row = self._sponsorship(turn.session, reference)
        if row is None:
            return Refused("unknown_reference")
        invitation = turn.session.scalars(
            select(Invitation)
            .where(
                col(Invitation.sponsorship_id) == _id(row),
                col(Invitation.opened_by_user_id) == user_id,
            )
            .order_by(col(Invitation.id).desc())
            .with_for_update()
        ).first()
        if invitation is None:
            return Refused("not_allowed")
        if invitation.locked_at is not None:
            return Refused("invitation_locked")
        if invitation.used_at is not None:
            return Refused("invitation_used")
        if turn.now >= invitation.expires_at:
            return Refused("invitation_expired")
        if row.status != "waiting_worker":
            return Refused("wrong_state")
        return row, invitation

    def _fail_verification(self, turn: _Turn, command: FailVerification) -> Outcome | _Keep:
        found = self._worker_invitation(turn, command.user_id, command.reference)
        if isinstance(found, Refused):
            return found
        row, invitation = found
        invitation.failed_attempts += 1
        if invitation.failed_attempts < MAX_FAILED_VERIFICATIONS:
            turn.session.flush()
            return Applied(
                reference=row.reference,
                attempts_left=MAX_FAILED_VERIFICATIONS - invitation.failed_attempts,
            )
        invitation.locked_at = turn.now
        self._enqueue(
            turn,
            f"invitation_locked:{_id(invitation)}",
            self._sponsor_by_id(turn.session, row.sponsor_id).user_id,
            notifications.invitation_locked(row.worker_full_name or "", row.reference),
            _id(row),
        )
        return _Keep(Refused("invitation_locked"))

    def _worker_consents(self, turn: _Turn, command: WorkerConsents) -> Outcome:
        found = self._worker_invitation(turn, command.user_id, command.reference)
        if isinstance(found, Refused):
            return found
        row, _invitation = found
        text_hash = self._hash(turn, command)
        row.status = "confirmed"
        row.worker_user_id = command.user_id
        row.updated_at = turn.now
        self._use_invitations(turn, _id(row))
        self._add_consent(
            turn,
            row,
            subject="worker",
            subject_user_id=command.user_id,
            kind="worker_data",
            action="given",
            channel="telegram",
            recorded_by=command.user_id,
            text_key=command.statement.key,
            text_version=command.text_version,
            text_hash=text_hash,
            first_month=None,
            message_id=command.message_id,
            at=command.given_at,
        )
        self._enqueue(
            turn,
            f"worker_confirmed:{row.reference}",
            self._sponsor_by_id(turn.session, row.sponsor_id).user_id,
            notifications.worker_confirmed(row.worker_full_name or "", row.reference),
            _id(row),
        )
        return Applied(reference=row.reference)

    def _worker_declines(self, turn: _Turn, command: WorkerDeclines) -> Outcome:
        found = self._worker_invitation(turn, command.user_id, command.reference)
        if isinstance(found, Refused):
            return found
        row, _invitation = found
        row.status = "declined"
        row.active_nik_index = None
        row.updated_at = turn.now
        self._use_invitations(turn, _id(row))
        self._add_consent(
            turn,
            row,
            subject="worker",
            subject_user_id=command.user_id,
            kind="worker_data",
            action="declined",
            channel="telegram",
            recorded_by=command.user_id,
            text_key="worker.decline",
            text_version="",
            text_hash=_EMPTY_HASH,
            first_month=None,
            message_id=command.message_id,
            at=command.at,
        )
        self._erase_worker(turn, row)
        self._enqueue(
            turn,
            f"worker_declined:{row.reference}",
            self._sponsor_by_id(turn.session, row.sponsor_id).user_id,
            notifications.worker_declined(row.reference),
            _id(row),
        )
        return Applied(reference=row.reference)

    def _request_correction(self, turn: _Turn, command: RequestCorrection) -> Outcome:
        session = turn.session
        row: Sponsorship | None = None
        already_open = session.scalar(
            select(func.count())
            .select_from(CorrectionRequest)
            .where(
                col(CorrectionRequest.requester_user_id) == command.user_id,
                col(CorrectionRequest.resolved_at).is_(None),
            )
        )
        if (already_open or 0) >= MAX_OPEN_REQUESTS:
            return Refused("too_many_requests")
        if command.subject == "worker":
            if command.reference is None:
                return Refused("unknown_reference")
            row = self._sponsorship(session, command.reference)
            if row is None:
                return Refused("unknown_reference")
            if row.worker_user_id == command.user_id and row.erased_at is not None:
                return Refused("wrong_state")  # nothing left to correct
            if row.worker_user_id is None or row.worker_user_id != command.user_id:
                # Not (yet) the linked worker: the invitation they opened must still be good,
                # and the request is their decision, which uses it up.
                found = self._worker_invitation(turn, command.user_id, command.reference)
                if isinstance(found, Refused):
                    return found
                row, _invitation = found
                self._use_invitations(turn, _id(row))
        elif command.reference is None:
            if self._sponsor_of_user(session, command.user_id) is None:
                return Refused("not_registered")
        else:
            row = self._sponsorship(session, command.reference)
            if row is None:
                return Refused("unknown_reference")
            if self._sponsor_by_id(session, row.sponsor_id).user_id != command.user_id:
                return Refused("not_allowed")
        request = CorrectionRequest(
            kind="correction",
            sponsorship_id=_id(row) if row is not None else None,
            requester_user_id=command.user_id,
            subject=command.subject,
            details_sealed=self._sealer.seal(command.details),
            created_at=command.at,
            due_at=command.at + REQUEST_DUE,
        )
        session.add(request)
        session.flush()
        reference = row.reference if row is not None else None
        message = notifications.correction_requested(reference, command.subject)
        sponsorship_id = _id(row) if row is not None else None
        if command.subject == "worker" and row is not None:
            sponsor_user = self._sponsor_by_id(session, row.sponsor_id).user_id
            self._enqueue(
                turn, f"correction:{_id(request)}:sponsor", sponsor_user, message, sponsorship_id
            )
        # The admins get one notice per hour however many requests come in (the queue has them
        # all): a notice per request would let one person flood every admin's chat.
        window = command.at.astimezone(UTC).strftime(ADMIN_PING_WINDOW)
        for admin_id in sorted(self._admin_ids):
            self._enqueue(
                turn,
                f"requests-waiting:{window}:admin:{admin_id}",
                admin_id,
                notifications.requests_waiting(),
                None,
            )
        return Applied(reference=reference)

    def _record_in_person_consent(self, turn: _Turn, command: RecordInPersonConsent) -> Outcome:
        row = self._sponsorship(turn.session, command.reference)
        if row is None:
            return Refused("unknown_reference")
        if self._sponsor_by_id(turn.session, row.sponsor_id).user_id != command.user_id:
            return Refused("not_allowed")
        if row.status != "waiting_worker":
            return Refused("wrong_state")
        text_hash = self._hash(turn, command)
        row.status = "confirmed"
        row.updated_at = turn.now
        self._use_invitations(turn, _id(row))
        self._add_consent(
            turn,
            row,
            subject="worker",
            subject_user_id=None,
            kind="worker_data",
            action="given",
            channel="in_person",
            recorded_by=command.user_id,
            text_key=command.statement.key,
            text_version=command.text_version,
            text_hash=text_hash,
            first_month=None,
            message_id=command.message_id,
            at=command.given_at,
        )
        return Applied(reference=row.reference)

    def _withdraw_consent(self, turn: _Turn, command: WithdrawConsent) -> Outcome:
        session = turn.session
        row = self._sponsorship(session, command.reference)
        if row is None:
            return Refused("unknown_reference")
        sponsor = self._sponsor_by_id(session, row.sponsor_id)
        if command.subject == "worker":
            if row.worker_user_id is None or row.worker_user_id != command.user_id:
                return Refused("not_allowed")
        elif sponsor.user_id != command.user_id:
            return Refused("not_allowed")
        if row.status not in OPEN_STATUSES:
            return Refused("wrong_state")
        kind = "worker_data" if command.subject == "worker" else "salary_deduction"
        withdrawn = self._latest_given(session, _id(row), command.subject, kind)
        row.status = "withdrawn"
        row.active_nik_index = None  # the worker may be sponsored again
        row.withdrawn_at = command.at
        row.withdrawn_by = command.subject
        row.withdrawal_effective_month = command.effective_month
        row.updated_at = turn.now
        self._add_consent(
            turn,
            row,
            subject=command.subject,
            subject_user_id=command.user_id,
            kind=kind,
            action="withdrawn",
            channel="telegram",
            recorded_by=command.user_id,
            text_key=f"{command.subject}.withdraw",
            # Which consent ends: the version and hash of the text that was agreed to.
            text_version=withdrawn.text_version if withdrawn is not None else "",
            text_hash=withdrawn.text_hash if withdrawn is not None else _EMPTY_HASH,
            first_month=command.effective_month if kind == "salary_deduction" else None,
            message_id=command.message_id,
            at=command.at,
        )
        if command.subject == "worker":
            self._erase_worker(turn, row)
            self._enqueue(
                turn,
                f"worker_withdrew:{row.reference}",
                sponsor.user_id,
                notifications.worker_withdrew(row.reference),
                _id(row),
            )
        elif row.worker_user_id is not None:
            self._enqueue(
                turn,
                f"sponsor_withdrew:{row.reference}",
                row.worker_user_id,
                notifications.sponsor_withdrew(sponsor.full_name, command.effective_month),
                _id(row),
            )
        return Applied(reference=row.reference)

    def _activate_coverage(self, turn: _Turn, command: ActivateCoverage) -> Outcome:
        if command.actor_user_id is not None and command.actor_user_id not in self._admin_ids:
            return Refused("not_allowed")
        kpj = _kpj(command.kpj_number)
        session = turn.session
        row = self._sponsorship(session, command.reference)
        if row is None:
            return Refused("unknown_reference")
        if row.status == "active":
            if row.kpj_sealed is not None and self._sealer.open(row.kpj_sealed) == kpj:
                return Applied(reference=row.reference)  # a repeated import: nothing new
            return Refused("wrong_state")
        if row.status != "confirmed":
            return Refused("wrong_state")
        row.status = "active"
        row.kpj_sealed = self._sealer.seal(kpj)
        row.kpj_masked = mask_kpj(kpj)
        row.coverage_start = command.coverage_start
        row.activated_at = turn.now
        row.activated_by_user_id = command.actor_user_id
        row.updated_at = turn.now
        sponsor = self._sponsor_by_id(session, row.sponsor_id)
        self._enqueue(
            turn,
            f"coverage:{row.reference}:sponsor",
            sponsor.user_id,
            notifications.coverage_active_for_sponsor(
                row.worker_full_name or "", kpj, command.coverage_start, row.programme_code
            ),
            _id(row),
        )
        if row.worker_user_id is not None:
            self._enqueue(
                turn,
                f"coverage:{row.reference}:worker",
                row.worker_user_id,
                notifications.coverage_active_for_worker(
                    sponsor.full_name, kpj, command.coverage_start, row.programme_code
                ),
                _id(row),
            )
        return Applied(reference=row.reference)

    def _resolve_request(self, turn: _Turn, command: ResolveRequest) -> Outcome:
        if command.user_id not in self._admin_ids:
            return Refused("not_allowed")
        request = turn.session.get(CorrectionRequest, command.request_id, with_for_update=True)
        if request is None:
            return Refused("unknown_reference")
        if request.resolved_at is not None:
            return Refused("wrong_state")
        request.resolved_at = command.at
        request.resolved_by_user_id = command.user_id
        reference = None
        if request.sponsorship_id is not None:
            row = turn.session.get(Sponsorship, request.sponsorship_id)
            reference = row.reference if row is not None else None
        turn.session.flush()
        return Applied(reference=reference)

    # ---- helpers -----------------------------------------------------------------------------

    def _hash(self, turn: _Turn, consent: ConsentStatement) -> str:
        if turn.text_hash is None:
            raise ValueError("consent_text_hash is needed to record a consent")
        value = turn.text_hash(consent)
        if not _SHA256_HEX.match(value):
            raise ValueError("consent_text_hash must return a lowercase sha256 hex digest")
        return value

    def _add_consent(
        self,
        turn: _Turn,
        row: Sponsorship,
        *,
        subject: str,
        subject_user_id: int | None,
        kind: str,
        action: str,
        channel: str,
        recorded_by: int,
        text_key: str,
        text_version: str,
        text_hash: str,
        first_month: date | None,
        message_id: int | None,
        at: datetime,
    ) -> None:
        turn.session.add(
            Consent(
                sponsorship_id=_id(row),
                subject=subject,
                subject_user_id=subject_user_id,
                kind=kind,
                action=action,
                channel=channel,
                recorded_by_user_id=recorded_by,
                text_key=text_key,
                text_version=text_version,
                text_hash=text_hash,
                amount=row.monthly_amount,
                first_month=first_month,
                message_id=message_id,
                recorded_at=at,
            )
        )
        turn.session.flush()

    @staticmethod
    def _latest_given(
        session: Session, sponsorship_id: int, subject: str, kind: str
    ) -> Consent | None:
        return session.scalars(
            select(Consent)
            .where(
                col(Consent.sponsorship_id) == sponsorship_id,
                col(Consent.subject) == subject,
                col(Consent.kind) == kind,
                col(Consent.action) == "given",
            )
            .order_by(col(Consent.id).desc())
        ).first()

    @staticmethod
    def _use_invitations(turn: _Turn, sponsorship_id: int) -> None:
        """The worker's decision (or the sponsor's in-person record) uses up every link."""
        turn.session.execute(
            update(Invitation)
            .where(
                col(Invitation.sponsorship_id) == sponsorship_id,
                col(Invitation.used_at).is_(None),
            )
            .values(used_at=turn.now)
        )

    def _erase_worker(self, turn: _Turn, row: Sponsorship) -> None:
        """Erase the worker's personal data; anonymous columns and consent records stay."""
        session = turn.session
        sponsorship_id = _id(row)
        row.worker_full_name = None
        row.nik_sealed = None
        row.nik_index = None
        row.nik_masked = None
        row.nik_disagreement = None
        row.worker_phone_sealed = None
        row.worker_phone_masked = None
        row.village_code = None
        row.village_name = None
        row.kpj_sealed = None
        row.kpj_masked = None
        # worker_user_id stays, like the consent records: the worker's /status still shows what
        # became of the sponsorship, and a second withdrawal is "wrong_state".
        row.erased_at = turn.now
        row.updated_at = turn.now
        session.flush()
        # Messages about the worker (their name, their KPJ number), sent or not.
        session.execute(
            delete(OutboxMessage).where(col(OutboxMessage.sponsorship_id) == sponsorship_id)
        )
        # Requests about the worker's data have nothing left to correct.
        about_worker = (
            col(CorrectionRequest.sponsorship_id) == sponsorship_id,
            col(CorrectionRequest.subject) == "worker",
        )
        session.execute(
            update(CorrectionRequest)
            .where(*about_worker, col(CorrectionRequest.resolved_at).is_(None))
            .values(resolved_at=turn.now)
        )
        session.execute(update(CorrectionRequest).where(*about_worker).values(details_sealed=None))
        turn.erased = True

    def _enqueue(
        self,
        turn: _Turn,
        dedupe_key: str,
        recipient_user_id: int,
        message: Text,
        sponsorship_id: int | None,
    ) -> None:
        """Add a notification unless one with this key exists (sent or not)."""
        session = turn.session
        document = json.dumps(to_json(message), ensure_ascii=False, separators=(",", ":"))
        insert = dialect_insert(session.get_bind().dialect.name)
        statement = (
            insert(OutboxMessage)
            .values(
                dedupe_key=dedupe_key,
                recipient_user_id=recipient_user_id,
                sponsorship_id=sponsorship_id,
                message=self._sealer.seal(document),
                created_at=turn.now,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        session.execute(statement)

    def _upsert_user(self, session: Session, user_id: int, **values: Any) -> None:
        """Insert or update a telegram_users row in one statement (no read-then-write race)."""
        now = self._clock()
        insert = dialect_insert(session.get_bind().dialect.name)
        statement = insert(TelegramUser).values(
            user_id=user_id, created_at=now, updated_at=now, **values
        )
        statement = statement.on_conflict_do_update(
            index_elements=["user_id"], set_={"updated_at": now, **values}
        )
        session.execute(statement)

    def _sponsorship_views(self, session: Session, user_id: int) -> list[SponsorshipView]:
        rows = session.scalars(
            select(Sponsorship)
            .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
            .where(col(Sponsor.user_id) == user_id)
            .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
        ).all()
        channels = self._consent_channels(session, [_id(row) for row in rows])
        return [
            SponsorshipView(
                reference=row.reference,
                worker_full_name=row.worker_full_name,
                nik_masked=row.nik_masked,
                worker_category=row.worker_category,
                worker_category_other=row.worker_category_other,
                programme_code=row.programme_code,
                monthly_amount=row.monthly_amount,
                payment_method=row.payment_method,
                status=row.status,
                created_at=row.created_at,
                worker_linked=row.worker_user_id is not None,
                kpj_masked=row.kpj_masked,
                coverage_start=row.coverage_start,
                consent_channel=channels.get(_id(row)),
                withdrawal_effective_month=row.withdrawal_effective_month,
            )
            for row in rows
        ]

    @staticmethod
    def _consent_channels(session: Session, sponsorship_ids: Iterable[int]) -> dict[int, str]:
        """How the worker gave consent, per sponsorship (the latest record wins)."""
        ids = list(sponsorship_ids)
        if not ids:
            return {}
        rows = session.execute(
            select(col(Consent.sponsorship_id), col(Consent.channel))
            .where(
                col(Consent.sponsorship_id).in_(ids),
                col(Consent.subject) == "worker",
                col(Consent.kind) == "worker_data",
                col(Consent.action) == "given",
            )
            .order_by(col(Consent.id))
        ).all()
        return {int(sponsorship_id): str(channel) for sponsorship_id, channel in rows}

    @staticmethod
    def _sponsorship(session: Session, reference: str) -> Sponsorship | None:
        """A sponsorship by reference, locked for the rest of the transaction (PostgreSQL)."""
        return session.scalars(
            select(Sponsorship).where(col(Sponsorship.reference) == reference).with_for_update()
        ).first()

    @staticmethod
    def _sponsor_by_id(session: Session, sponsor_id: int) -> Sponsor:
        sponsor = session.get(Sponsor, sponsor_id)
        if sponsor is None:
            raise RuntimeError("sponsorship without its sponsor")
        return sponsor

    @staticmethod
    def _sponsor_of_user(session: Session, user_id: int) -> Sponsor | None:
        return session.scalars(select(Sponsor).where(col(Sponsor.user_id) == user_id)).first()

    @staticmethod
    def _nip_owner(session: Session, nip_index: str) -> int | None:
        return session.scalars(
            select(col(Sponsor.user_id)).where(col(Sponsor.nip_index) == nip_index)
        ).first()

    @staticmethod
    def _count_open(session: Session, sponsor_id: int) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(Sponsorship)
                .where(
                    col(Sponsorship.sponsor_id) == sponsor_id,
                    col(Sponsorship.status).in_(OPEN_STATUSES),
                )
            )
            or 0
        )

    @staticmethod
    def _by_idempotency_key(session: Session, key: str, sponsor_id: int) -> Sponsorship | None:
        row = session.scalars(
            select(Sponsorship).where(col(Sponsorship.idempotency_key) == key)
        ).first()
        if row is None:
            return None
        if row.sponsor_id != sponsor_id:
            raise IdempotencyConflict("idempotency key reused across sponsors")
        return row

    @staticmethod
    def _nik_is_open(session: Session, nik_index: str) -> bool:
        return (
            session.scalars(
                select(col(Sponsorship.id)).where(col(Sponsorship.active_nik_index) == nik_index)
            ).first()
            is not None
        )

    @staticmethod
    def _reference_exists(session: Session, reference: str) -> bool:
        return (
            session.scalars(
                select(col(Sponsorship.id)).where(col(Sponsorship.reference) == reference)
            ).first()
            is not None
        )


def _command_user(command: Command) -> int | None:
    if isinstance(command, SubmitSponsorship):
        return command.sponsor_user_id
    if isinstance(command, ActivateCoverage):
        return command.actor_user_id
    return command.user_id


def _describe(outcome: Outcome) -> str:
    """An outcome for the log: no token (it is a credential) and no worker data."""
    if isinstance(outcome, InvitationOpened):
        return f"InvitationOpened({outcome.details.reference})"
    if isinstance(outcome, Applied):
        parts = [repr(outcome.reference)]
        if outcome.invitation_token is not None:
            parts.append("invitation_token=<issued>")
        if outcome.attempts_left is not None:
            parts.append(f"attempts_left={outcome.attempts_left}")
        return f"Applied({', '.join(parts)})"
    return repr(outcome)


def _digits(value: str, length: int, what: str) -> str:
    """Commands carry normalized identifiers; anything else is a bug upstream, not user input."""
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} must be exactly {length} digits")
    return value


def _kpj(value: str) -> str:
    """A KPJ (BPJS membership) number: digits only, 8 to 16 of them (usually 11)."""
    if not 8 <= len(value) <= 16 or not value.isascii() or not value.isdigit():
        raise ValueError("KPJ number must be 8 to 16 digits")
    return value


def _birth_date(nik: str, today: date) -> date:
    """The birth date the NIK encodes (its century judged from today)."""
    found = check_nik(nik, today).birth_date
    if found is None:
        # A clock earlier than the birth date (tests) or a date the NIK check rejected: take the
        # later century rather than fail the worker's verification by last four digits too.
        found = decode_birth_date(nik[6:12], date.max)[0]
    if found is None:
        logger.warning("a stored NIK encodes no valid birth date")
        return date.min
    return found


def _scrub_error(error: str) -> str:
    """Delivery errors may quote chat ids or numbers: blank long digit runs, keep it short."""
    return re.sub(r"\d{6,}", "#", " ".join(error.split()))[:_LAST_ERROR_LENGTH]


def _id(row: Sponsor | Sponsorship | Invitation | CorrectionRequest | OutboxMessage) -> int:
    if row.id is None:
        raise RuntimeError("row has no id: flush before reading it")
    return row.id


def _request_view(
    request: CorrectionRequest, reference: str | None, now: datetime, *, details: str | None
) -> RequestView:
    return RequestView(
        id=_id(request),
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
    )
