"""The unit of work for domain commands: everything a turn asks for commits together, or not at all.

Synchronous on purpose: the bot calls it through asyncio.to_thread, and plain SQLAlchemy sessions
are simpler to reason about than async ones. Each call opens its own session, so one Repository
can be shared by threads.

Rules the database enforces (so they hold across processes, not just inside one):
- one sponsor row per Telegram account, one Telegram account per NIP (unique blind index);
- one open sponsorship per worker NIK (unique active_nik_index);
- one sponsorship per idempotency key (double press of "Simpan", replayed updates).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage.db import dialect_insert, immediate
from bot.storage.models import (
    OPEN_STATUSES,
    Consent,
    Sponsor,
    Sponsorship,
    TelegramUser,
    utc_now,
)
from flows.commands import (
    Applied,
    Command,
    ConsentGiven,
    Outcome,
    Refused,
    RegisterSponsor,
    SetLanguage,
    SubmitSponsorship,
)
from flows.validators.masking import mask_nik, mask_nip, mask_phone

logger = logging.getLogger(__name__)

REFERENCE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely
REFERENCE_ATTEMPTS: Final = 8
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def random_reference() -> str:
    """A short code a person can read over the phone, e.g. PR-7K3QX9 (31^6, about 887 million)."""
    return "PR-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class SponsorView:
    user_id: int
    full_name: str
    agency_code: str
    nip_masked: str
    nip_kind: str
    phone_masked: str


@dataclass(frozen=True)
class UserRecord:
    user_id: int
    language: str | None
    sponsor: SponsorView | None
    open_sponsorships: int


@dataclass(frozen=True)
class SponsorshipView:
    reference: str
    worker_full_name: str
    nik_masked: str
    worker_category: str
    worker_category_other: str | None
    programme_code: str
    monthly_amount: int
    payment_method: str
    status: str
    created_at: datetime


class IdempotencyConflict(RuntimeError):
    """An idempotency key already belongs to another sponsor's sponsorship: a bug in the caller
    (keys are per draft), never shown to users and never answered with the other's reference."""


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
    ) -> None:
        if max_sponsorships_per_sponsor < 1:
            raise ValueError("max_sponsorships_per_sponsor must be at least 1")
        self._engine = engine
        self._writer = immediate(engine)
        self._sealer = sealer
        self._max_open = max_sponsorships_per_sponsor
        self._new_reference = new_reference if new_reference is not None else random_reference
        self._clock = clock

    # ---- reads -------------------------------------------------------------------------------

    def user_record(self, user_id: int) -> UserRecord:
        with Session(self._engine) as session:
            user = session.get(TelegramUser, user_id)
            sponsor = session.scalars(
                select(Sponsor).where(col(Sponsor.user_id) == user_id)
            ).first()
            open_count = 0
            if sponsor is not None:
                open_count = self._count_open(session, _id(sponsor))
            return UserRecord(
                user_id=user_id,
                language=user.language if user is not None else None,
                sponsor=_sponsor_view(sponsor) if sponsor is not None else None,
                open_sponsorships=open_count,
            )

    def sponsorships_of(self, user_id: int) -> list[SponsorshipView]:
        """The user's sponsorships, newest first."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(Sponsorship)
                .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
                .where(col(Sponsor.user_id) == user_id)
                .order_by(col(Sponsorship.created_at).desc(), col(Sponsorship.id).desc())
            ).all()
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
                )
                for row in rows
            ]

    def reveal_nik(self, reference: str) -> str | None:
        """Decrypt a worker's NIK (for an administrator's duty, e.g. registering with BPJS)."""
        with Session(self._engine) as session:
            sealed = session.scalars(
                select(col(Sponsorship.nik_sealed)).where(col(Sponsorship.reference) == reference)
            ).first()
        return self._sealer.open(sealed) if sealed is not None else None

    # ---- writes ------------------------------------------------------------------------------

    def remember_chat(self, user_id: int, chat_id: int) -> None:
        with Session(self._writer) as session, session.begin():
            self._upsert_user(session, user_id, chat_id=chat_id)

    def apply(
        self,
        user_id: int,
        commands: Sequence[Command],
        *,
        consent_text_hash: Callable[[ConsentGiven], str],
    ) -> list[Outcome]:
        """Apply commands in order in ONE transaction; one outcome per command.

        Each command runs in its own savepoint, so a Refused one leaves no trace while the others
        still commit. Unexpected errors roll everything back and propagate.
        """
        for command in commands:
            if _command_user(command) != user_id:
                raise ValueError(f"{type(command).__name__} is for another user than {user_id}")
        if not commands:
            return []
        outcomes: list[Outcome] = []
        with Session(self._writer) as session, session.begin():
            for command in commands:
                savepoint = session.begin_nested()
                outcome = self._apply_one(session, command, consent_text_hash)
                if isinstance(outcome, Refused):
                    savepoint.rollback()
                else:
                    savepoint.commit()
                outcomes.append(outcome)
        for command, outcome in zip(commands, outcomes, strict=True):
            logger.info("user %s: %s -> %s", user_id, type(command).__name__, outcome)
        return outcomes

    def _apply_one(
        self, session: Session, command: Command, text_hash: Callable[[ConsentGiven], str]
    ) -> Outcome:
        if isinstance(command, SetLanguage):
            self._upsert_user(session, command.user_id, language=command.language)
            return Applied()
        if isinstance(command, RegisterSponsor):
            return self._register_sponsor(session, command)
        if isinstance(command, SubmitSponsorship):
            return self._submit_sponsorship(session, command, text_hash)
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
        sponsor = session.scalars(
            select(Sponsor).where(col(Sponsor.user_id) == command.user_id)
        ).first()
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

    def _submit_sponsorship(
        self,
        session: Session,
        command: SubmitSponsorship,
        text_hash: Callable[[ConsentGiven], str],
    ) -> Outcome:
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
            return Applied(reference=existing)
        if self._count_open(session, sponsor_id) >= self._max_open:
            return Refused("limit_reached")
        consent_hash = text_hash(command.consent)
        if not _SHA256_HEX.match(consent_hash):
            raise ValueError("consent_text_hash must return a lowercase sha256 hex digest")
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
                    return Applied(reference=existing)
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
                    text_key=consent.statement.key,
                    text_version=consent.text_version,
                    text_hash=consent_hash,
                    amount=consent.amount,
                    first_month=consent.first_month,
                    message_id=consent.message_id,
                    recorded_at=consent.given_at,
                )
            )
            session.flush()
            return Applied(reference=reference)
        raise RuntimeError(f"no free sponsorship reference after {REFERENCE_ATTEMPTS} attempts")

    # ---- helpers -----------------------------------------------------------------------------

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
    def _by_idempotency_key(session: Session, key: str, sponsor_id: int) -> str | None:
        row = session.execute(
            select(col(Sponsorship.reference), col(Sponsorship.sponsor_id)).where(
                col(Sponsorship.idempotency_key) == key
            )
        ).first()
        if row is None:
            return None
        if row.sponsor_id != sponsor_id:
            raise IdempotencyConflict("idempotency key reused across sponsors")
        return str(row.reference)

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


def _command_user(command: Command) -> int:
    if isinstance(command, SubmitSponsorship):
        return command.sponsor_user_id
    return command.user_id


def _digits(value: str, length: int, what: str) -> str:
    """Commands carry normalized identifiers; anything else is a bug upstream, not user input."""
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} must be exactly {length} digits")
    return value


def _id(row: Sponsor | Sponsorship) -> int:
    if row.id is None:
        raise RuntimeError("row has no id: flush before reading it")
    return row.id


def _sponsor_view(sponsor: Sponsor) -> SponsorView:
    return SponsorView(
        user_id=sponsor.user_id,
        full_name=sponsor.full_name,
        agency_code=sponsor.agency_code,
        nip_masked=sponsor.nip_masked,
        nip_kind=sponsor.nip_kind,
        phone_masked=sponsor.phone_masked,
    )
