"""The room below every command handler: the row look-ups and helpers they share.

Handlers (bot.storage.handlers.*) never import each other; what two of them need lives here
(sponsorship by reference, sponsor of a user, the open count, the invitation a worker opened,
consent recording, erasure, token hashing, upserting a user). Nothing here words a message: a
handler records domain events (flows.events) on the turn, and the unit of work has them worded.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage.db import dialect_insert
from bot.storage.models import (
    Consent,
    CorrectionRequest,
    Invitation,
    InvitationOpener,
    OutboxMessage,
    Sponsor,
    Sponsorship,
    TelegramUser,
)
from flows.catalog import ASN
from flows.commands import Refused
from flows.events import Event
from flows.statuses import OPEN_STATUSES, SponsorshipStatus, checked_transition
from flows.text import Text
from flows.validators import check_nik
from flows.validators.nik import decode_birth_date

logger = logging.getLogger(__name__)

REFERENCE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely
REFERENCE_ATTEMPTS: Final = 8
MAX_FAILED_VERIFICATIONS: Final = 3
REQUEST_DUE: Final = timedelta(hours=72)  # UU 27/2022: 3 x 24 hours
# Unresolved correction requests per person: one person cannot flood the admins' queue.
MAX_OPEN_REQUESTS: Final = 3
EMPTY_HASH: Final = hashlib.sha256(b"").hexdigest()
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# A Telegram start parameter is at most 64 of A-Za-z0-9_-; the bot prefixes "w_".
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,62}$")


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
class Keep:
    """A refusal whose writes must still commit (the third failed verification locks the link)."""

    outcome: Refused


@dataclass(frozen=True)
class Rules:
    """What the handlers are configured with (the Repository's constructor arguments)."""

    sealer: Sealer
    max_open: int
    new_reference: Callable[[], str]
    clock: Callable[[], datetime]
    invitation_ttl: timedelta
    admin_ids: frozenset[int]
    new_token: Callable[[], str]
    agency_codes: frozenset[str] = frozenset()  # the catalog's: staff are granted only these
    announcement_threshold: int = 1000  # audiences larger need a second superadmin's approval
    # Open sponsorships one sponsor may hold, by funder type (a village sponsors many); an ASN
    # not listed holds max_open, any other type not listed none.
    max_open_by_funder: Mapping[str, int] = field(default_factory=dict)
    # In a deployment of several regencies, each agency's regency's limits by funder type: a
    # sponsor is held to their own regency's (else max_open_by_funder's).
    max_open_by_agency: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def max_open_of(self, funder_type: str, agency_code: str) -> int:
        """How many open sponsorships a sponsor of this type and agency may have at a time."""
        regency = self.max_open_by_agency.get(agency_code, {})
        if funder_type in regency:
            return regency[funder_type]
        default = self.max_open if funder_type == ASN else 0
        return self.max_open_by_funder.get(funder_type, default)


@dataclass
class Turn:
    """One command's view of the unit of work: the open transaction, the configuration, the
    turn's time, and the domain events the command records (kept only if the command is)."""

    session: Session
    rules: Rules
    text_hash: ConsentTextHash | None
    now: datetime
    erased: bool = False
    events: list[Event] = field(default_factory=list)

    def record(self, event: Event) -> None:
        self.events.append(event)


def move(row: Sponsorship, new: SponsorshipStatus, now: datetime) -> None:
    """The row's new status, along flows.statuses.TRANSITIONS only (IllegalTransition if not)."""
    row.status = checked_transition(row.status, new).value
    row.updated_at = now


def row_id(row: Sponsor | Sponsorship | Invitation | CorrectionRequest | OutboxMessage) -> int:
    if row.id is None:
        raise RuntimeError("row has no id: flush before reading it")
    return row.id


def digits(value: str, length: int, what: str) -> str:
    """Commands carry normalized identifiers; anything else is a bug upstream, not user input."""
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} must be exactly {length} digits")
    return value


def birth_date(nik: str, today: date) -> date:
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


# ---- look-ups --------------------------------------------------------------------------------


def sponsorship(session: Session, reference: str) -> Sponsorship | None:
    """A sponsorship by reference, locked for the rest of the transaction (PostgreSQL)."""
    return session.scalars(
        select(Sponsorship).where(col(Sponsorship.reference) == reference).with_for_update()
    ).first()


def sponsor_by_id(session: Session, sponsor_id: int) -> Sponsor:
    sponsor = session.get(Sponsor, sponsor_id)
    if sponsor is None:
        raise RuntimeError("sponsorship without its sponsor")
    return sponsor


def sponsor_of_user(session: Session, user_id: int) -> Sponsor | None:
    return session.scalars(select(Sponsor).where(col(Sponsor.user_id) == user_id)).first()


def count_open(session: Session, sponsor_id: int) -> int:
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


def invitation_refusal(turn: Turn, invitation: Invitation) -> Refused | None:
    """Why an invitation no longer allows anything (locked, used, expired), or None."""
    if invitation.locked_at is not None:
        return Refused("invitation_locked")
    if invitation.used_at is not None:
        return Refused("invitation_used")
    if turn.now >= invitation.expires_at:
        return Refused("invitation_expired")
    return None


def worker_invitation(
    turn: Turn, user_id: int, reference: str, *, bind: bool = False
) -> tuple[Sponsorship, Invitation] | Refused:
    """The sponsorship and the newest invitation this user opened, when both still allow a
    decision by the worker.

    bind: the user's decision (consent, decline, a correction request), which the flow reaches
    only after this account passed the identity check: the invitation becomes theirs. Opening a
    link or failing the check binds nothing (issue 6, item 10)."""
    row = sponsorship(turn.session, reference)
    if row is None:
        return Refused("unknown_reference")
    opened = select(col(InvitationOpener.invitation_id)).where(
        col(InvitationOpener.user_id) == user_id
    )
    invitation = turn.session.scalars(
        select(Invitation)
        .where(
            col(Invitation.sponsorship_id) == row_id(row),
            col(Invitation.id).in_(opened),
            col(Invitation.opened_by_user_id).is_(None)
            | (col(Invitation.opened_by_user_id) == user_id),
        )
        .order_by(col(Invitation.id).desc())
        .with_for_update()
    ).first()
    if invitation is None:
        return Refused("not_allowed")
    refused = invitation_refusal(turn, invitation)
    if refused is not None:
        return refused
    if row.status != SponsorshipStatus.WAITING_WORKER:
        return Refused("wrong_state")
    if bind and invitation.opened_by_user_id is None:
        invitation.opened_by_user_id = user_id
        turn.session.flush()
    return row, invitation


# ---- writes every handler may need -----------------------------------------------------------


def consent_hash(turn: Turn, consent: ConsentStatement) -> str:
    if turn.text_hash is None:
        raise ValueError("consent_text_hash is needed to record a consent")
    value = turn.text_hash(consent)
    if not _SHA256_HEX.match(value):
        raise ValueError("consent_text_hash must return a lowercase sha256 hex digest")
    return value


@dataclass(frozen=True)
class ConsentRecord:
    """One row of the append-only consent record, as a handler asks for it."""

    subject: str
    subject_user_id: int | None
    kind: str
    action: str
    channel: str
    recorded_by: int
    text_key: str
    text_version: str
    text_hash: str
    message_id: int | None
    at: datetime
    first_month: date | None = None
    amount: int | None = None  # None: the sponsorship's monthly amount


def add_consent(turn: Turn, row: Sponsorship, record: ConsentRecord) -> None:
    turn.session.add(
        Consent(
            sponsorship_id=row_id(row),
            subject=record.subject,
            subject_user_id=record.subject_user_id,
            kind=record.kind,
            action=record.action,
            channel=record.channel,
            recorded_by_user_id=record.recorded_by,
            text_key=record.text_key,
            text_version=record.text_version,
            text_hash=record.text_hash,
            amount=record.amount if record.amount is not None else row.monthly_amount,
            first_month=record.first_month,
            message_id=record.message_id,
            recorded_at=record.at,
        )
    )
    turn.session.flush()


def latest_given(session: Session, sponsorship_id: int, subject: str, kind: str) -> Consent | None:
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


def use_invitations(turn: Turn, sponsorship_id: int) -> None:
    """The worker's decision (or the sponsor's in-person record) uses up every link."""
    turn.session.execute(
        update(Invitation)
        .where(
            col(Invitation.sponsorship_id) == sponsorship_id,
            col(Invitation.used_at).is_(None),
        )
        .values(used_at=turn.now)
    )


def create_invitation(turn: Turn, sponsorship_id: int, now: datetime) -> str:
    token = turn.rules.new_token()
    if not _TOKEN.match(token):
        raise ValueError("new_token must return 16-62 characters of A-Za-z0-9_-")
    turn.session.add(
        Invitation(
            sponsorship_id=sponsorship_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + turn.rules.invitation_ttl,
        )
    )
    turn.session.flush()
    return token


def erase_worker(turn: Turn, row: Sponsorship) -> None:
    """Erase the worker's personal data; anonymous columns and consent records stay."""
    session = turn.session
    sponsorship_id = row_id(row)
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
    # A job "lainnya" in the sponsor's words may point at the worker; the job's code stays.
    row.worker_job_other = None
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


def upsert_user(session: Session, user_id: int, now: datetime, **values: Any) -> None:
    """Insert or update a telegram_users row in one statement (no read-then-write race).
    Objects waiting in the session are flushed first, then the upsert, built once per dialect
    and set of columns, runs on the transaction's Connection (through the ORM it took the
    ORM's bulk path, built anew every time)."""
    session.flush()
    connection = session.connection()
    statement = _user_upsert(connection.dialect.name, tuple(sorted(values)))
    connection.execute(statement, {"user_id": user_id, "now": now, **values})


@functools.cache
def _user_upsert(dialect_name: str, columns: tuple[str, ...]) -> Any:
    table = TelegramUser.__table__  # type: ignore[attr-defined]
    now = bindparam("now", type_=table.c.updated_at.type)
    given = {name: bindparam(name, type_=table.c[name].type) for name in columns}
    insert = dialect_insert(dialect_name)(table).values(
        user_id=bindparam("user_id", type_=table.c.user_id.type),
        created_at=now,
        updated_at=now,
        **given,
    )
    return insert.on_conflict_do_update(
        index_elements=["user_id"],
        set_={name: insert.excluded[name] for name in ("updated_at", *columns)},
    )
