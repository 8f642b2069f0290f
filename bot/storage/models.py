"""SQLModel tables. Alembic migrations in bot/storage/migrations must match these exactly
(tests/integration/test_migrations.py compares them).

Personal identifiers appear only as *_sealed (AES-GCM), *_index (HMAC blind index) and *_masked.
Timestamps are stored in UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from flows import statuses
from flows.access import GRANTED_ROLES
from flows.catalog import FUNDER_TYPES

# Named constraints: SQLite batch migrations can only alter constraints that have names, and
# stable names make migrations reproducible across SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The status values and their transitions live in flows.statuses; the constraints use the values.
OPEN_STATUSES: tuple[str, ...] = tuple(status.value for status in statuses.OPEN_STATUSES)
"""Statuses in which a sponsorship holds its worker's NIK (active_nik_index is set)."""
CLOSED_STATUSES: tuple[str, ...] = tuple(status.value for status in statuses.CLOSED_STATUSES)
ALL_STATUSES: tuple[str, ...] = tuple(status.value for status in statuses.SponsorshipStatus)
WITHDRAWN_BY: tuple[str, ...] = ("worker", "sponsor")
CONSENT_SUBJECTS: tuple[str, ...] = ("sponsor", "worker")
CONSENT_ACTIONS: tuple[str, ...] = ("given", "withdrawn", "declined")
CONSENT_KINDS: tuple[str, ...] = ("salary_deduction", "worker_data")
CONSENT_CHANNELS: tuple[str, ...] = ("telegram", "in_person")
REQUEST_KINDS: tuple[str, ...] = ("correction",)
REQUEST_SUBJECTS: tuple[str, ...] = ("worker", "sponsor")
STAFF_ROLES: tuple[str, ...] = tuple(role.value for role in GRANTED_ROLES)
AUDIT_CHANNELS: tuple[str, ...] = ("telegram", "cli")
OUTBOX_PENDING = "sent_at IS NULL AND gave_up_at IS NULL"
"""The outbox rows still to deliver (the condition of the partial index ix_outbox_pending)."""

# What an outbox row carries (issue 9: one delivery queue for everything sent to someone who is
# not the current speaker), and its priority: a lower number is sent first, so a person's own
# sponsorship news is never queued behind a 10,000-person announcement.
DELIVERY_KINDS = ("notification", "reminder", "announcement")
DELIVERY_PRIORITY = {"notification": 0, "reminder": 1, "announcement": 2}
# How a row ended. sent: Telegram accepted it (telegram_message_id). blocked: 403, the person
# blocked the bot or is deactivated (telegram_users.unreachable_at is set too). failed: refused
# (400) or out of retries. unknown: claimed when a process died and not marked since: it may or
# may not have arrived, and is not sent again (the announcement's report counts it). void: the
# reason for a reminder was gone before it was sent. cancelled: its announcement was cancelled.
# skipped: the person had opted out, or was already unreachable, when its turn came.
DELIVERY_OUTCOMES = ("sent", "blocked", "failed", "unknown", "void", "cancelled", "skipped")
ANNOUNCEMENT_AUDIENCES = (
    "all_asn",  # every signed-up ASN in scope
    "agency_asn",  # signed-up ASN of the chosen agencies (audience_agencies)
    "asn_without_worker",  # signed-up ASN with no sponsorship in progress or active
    "sponsors_unconfirmed",  # sponsors whose worker has not confirmed yet
    "confirmed_workers",  # workers who confirmed (in a chat with the bot)
    "everyone",  # all of the above in scope
)
ANNOUNCEMENT_STATUSES = (
    "draft",  # being composed; nothing queued
    "awaiting_approval",  # over the size limit: a second superadmin must approve
    "sending",  # rows queued; the delivery engine is sending
    "paused",  # rows queued, held back until resumed
    "cancelled",  # the rows not yet sent were cancelled
    "done",  # every row has an outcome
)
ANNOUNCEMENT_MEDIA = ("photo", "document")


SPONSOR_INDEX_INCLUDES: tuple[str, ...] = (
    "status",
    "coverage_start",
    "district_code",
    "village_code",
    "district_name",
    "village_name",
)
"""The columns ix_sponsorships_sponsor_id carries on PostgreSQL (what the statistics read)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zone type: SQLAlchemy would hand back naive values there and aware ones on
    PostgreSQL. This type refuses naive input (a naive time is a bug waiting for a time zone) and
    always returns aware UTC values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _created() -> Any:
    return Field(default_factory=utc_now, sa_column=Column(UTCDateTime(), nullable=False))


class TelegramUser(SQLModel, table=True):
    __tablename__ = "telegram_users"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    language: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()
    # Telegram answered 403 (blocked, deactivated): the delivery engine skips this person until
    # they write to the bot again (which clears it).
    unreachable_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # /berhenti: no announcements; /berhenti_pengingat: no optional reminders. Messages about
    # the person's own sponsorship (notifications) still reach them.
    announcements_off_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    reminders_off_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class Sponsor(SQLModel, table=True):
    """Whoever sponsors workers; one per Telegram account.

    An ASN (civil servant) has a NIP; a village, BAZNAS, a company and a non-ASN honorer
    (funder_type, issue 12) have none: their NIP columns are NULL, which the unique nip_index
    allows many times, so a NIP stays unique among ASN alone (check constraint "funder_nip").
    organisation_name: a village's or company's name; organisation_code: a village's Kemendagri
    code; position: the officer's position in it.
    """

    __tablename__ = "sponsors"
    __table_args__ = (
        CheckConstraint("nip_kind IN ('PNS', 'PPPK')", name="nip_kind"),
        CheckConstraint(f"funder_type IN ({_sql_list(FUNDER_TYPES)})", name="funder_type"),
        CheckConstraint(
            "(funder_type = 'asn' AND nip_sealed IS NOT NULL AND nip_index IS NOT NULL"
            " AND nip_masked IS NOT NULL AND nip_kind IS NOT NULL)"
            " OR (funder_type <> 'asn' AND nip_sealed IS NULL AND nip_index IS NULL"
            " AND nip_masked IS NULL AND nip_kind IS NULL)",
            name="funder_nip",
        ),
        # The statistics of one agency read its sponsors' ids from the index alone on
        # PostgreSQL (an index-only scan instead of a heap page per sponsor; bench/scale.py).
        Index("ix_sponsors_agency_code", "agency_code", postgresql_include=["id"]),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    user_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("telegram_users.user_id"), nullable=False, unique=True
        )
    )
    nip_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    nip_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    nip_masked: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    nip_kind: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    full_name: str = Field(sa_column=Column(String(200), nullable=False))
    agency_code: str = Field(sa_column=Column(String(64), nullable=False))
    phone_sealed: str = Field(sa_column=Column(Text, nullable=False))
    phone_masked: str = Field(sa_column=Column(String(32), nullable=False))
    funder_type: str = Field(
        default="asn",
        sa_column=Column(String(16), nullable=False, server_default="asn", index=True),
    )
    organisation_name: str | None = Field(
        default=None, sa_column=Column(String(200), nullable=True)
    )
    organisation_code: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    position: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Sponsorship(SQLModel, table=True):
    """One worker sponsored by one ASN.

    active_nik_index equals nik_index while the sponsorship is open and is NULL once it is closed.
    Its UNIQUE constraint is what lets exactly one of two ASN racing for the same worker win, on
    SQLite and PostgreSQL alike (both allow many NULLs in a unique column); the check constraint
    keeps the two columns from drifting apart.

    Erasure (the worker declines or withdraws, UU 27/2022): the worker's personal data (name, NIK
    sealed/index/masked, phone, village, KPJ, the NIK remark) become NULL and erased_at is set;
    relationship, job, district, programme, amount, status and timestamps stay for anonymous
    statistics.
    Only a closed sponsorship can be erased (check constraint "worker_data").
    """

    __tablename__ = "sponsorships"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(ALL_STATUSES)})", name="status"),
        CheckConstraint(
            f"(status IN ({_sql_list(OPEN_STATUSES)})"
            " AND active_nik_index IS NOT NULL AND active_nik_index = nik_index)"
            f" OR (status NOT IN ({_sql_list(OPEN_STATUSES)}) AND active_nik_index IS NULL)",
            name="active_nik_index",
        ),
        CheckConstraint("monthly_amount >= 0", name="monthly_amount"),
        CheckConstraint(
            f"status NOT IN ({_sql_list(OPEN_STATUSES)}) OR (worker_full_name IS NOT NULL"
            " AND nik_sealed IS NOT NULL AND nik_index IS NOT NULL AND nik_masked IS NOT NULL"
            " AND village_name IS NOT NULL AND erased_at IS NULL)",
            name="worker_data",
        ),
        CheckConstraint(
            f"withdrawn_by IS NULL OR withdrawn_by IN ({_sql_list(WITHDRAWN_BY)})",
            name="withdrawn_by",
        ),
        # A sponsor's sponsorships, and on PostgreSQL what the statistics count of each
        # (bot.storage.statistics), from the index alone: the statistics of one agency probe
        # it once per sponsor without reading the table (bench/scale.py, migration 0014_scale).
        Index(
            "ix_sponsorships_sponsor_id",
            "sponsor_id",
            postgresql_include=list(SPONSOR_INDEX_INCLUDES),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    reference: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    idempotency_key: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    sponsor_id: int = Field(sa_column=Column(Integer, ForeignKey("sponsors.id"), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False))
    worker_full_name: str | None = Field(sa_column=Column(String(200), nullable=True))
    # Who the worker is to the sponsor and what they do (catalog codes, issue 12). NULL: not
    # known, for sponsorships registered before the two questions (migration 0012_jobs).
    worker_relationship: str | None = Field(
        default=None, sa_column=Column(String(32), nullable=True)
    )
    worker_job: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    worker_job_other: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    nik_sealed: str | None = Field(sa_column=Column(Text, nullable=True))
    nik_index: str | None = Field(sa_column=Column(String(64), nullable=True, index=True))
    nik_masked: str | None = Field(sa_column=Column(String(32), nullable=True))
    active_nik_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    nik_disagreement: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    worker_phone_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    worker_phone_masked: str | None = Field(
        default=None, sa_column=Column(String(32), nullable=True)
    )
    district_code: str = Field(sa_column=Column(String(32), nullable=False))
    district_name: str = Field(sa_column=Column(String(200), nullable=False))
    village_code: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    village_name: str | None = Field(sa_column=Column(String(200), nullable=True))
    programme_code: str = Field(sa_column=Column(String(64), nullable=False))
    monthly_amount: int = Field(sa_column=Column(Integer, nullable=False))
    payment_method: str = Field(sa_column=Column(String(32), nullable=False))
    # The worker's own Telegram account, once they consented in their chat (issue 3).
    worker_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    kpj_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    kpj_masked: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    coverage_start: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    activated_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    activated_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    withdrawn_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    withdrawal_effective_month: date | None = Field(
        default=None, sa_column=Column(Date, nullable=True)
    )
    withdrawn_by: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()
    # The worker's language, chosen by the sponsor (flows.languages); NULL: Indonesian.
    worker_language: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))


class Consent(SQLModel, table=True):
    """Append-only proof of consent (UU 27/2022 asks the controller to be able to prove it).

    A withdrawal is a new row with action "withdrawn", never an update; the ORM refuses updates
    and deletes of this table (see the listeners below).

    kind "salary_deduction": the sponsor's consent to the deduction (amount, first_month).
    kind "worker_data": the worker's consent to the processing of their data, given in their own
    chat (channel "telegram") or recorded by the sponsor (channel "in_person"); also "declined".
    recorded_by_user_id is who pressed the button. The rows hold no personal data besides
    Telegram ids and hashes, so they survive the erasure of the worker's data.
    """

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(f"subject IN ({_sql_list(CONSENT_SUBJECTS)})", name="subject"),
        CheckConstraint(f"action IN ({_sql_list(CONSENT_ACTIONS)})", name="action"),
        CheckConstraint(f"kind IN ({_sql_list(CONSENT_KINDS)})", name="kind"),
        CheckConstraint(f"channel IN ({_sql_list(CONSENT_CHANNELS)})", name="channel"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    sponsorship_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sponsorships.id"), nullable=False, index=True)
    )
    subject: str = Field(sa_column=Column(String(16), nullable=False))
    subject_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    action: str = Field(sa_column=Column(String(16), nullable=False))
    text_key: str = Field(sa_column=Column(String(128), nullable=False))
    text_version: str = Field(sa_column=Column(String(32), nullable=False))
    text_hash: str = Field(sa_column=Column(String(64), nullable=False))
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    # The first month deducted (salary_deduction given) or the first month no longer deducted
    # (salary_deduction withdrawn); NULL for the worker's own consent.
    first_month: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    channel: str = Field(
        default="telegram",
        sa_column=Column(String(16), nullable=False, server_default="telegram"),
    )
    recorded_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class AppendOnlyViolation(RuntimeError):
    """Code tried to change or delete a consent record."""


@event.listens_for(Consent, "before_update")
def _refuse_consent_update(*_: object) -> None:
    raise AppendOnlyViolation("consents are append-only: record a withdrawal as a new row")


@event.listens_for(Consent, "before_delete")
def _refuse_consent_delete(*_: object) -> None:
    raise AppendOnlyViolation("consents are append-only: they are never deleted")


class Invitation(SQLModel, table=True):
    """A worker's single-use deep link. Only the sha256 of the token is stored: a leaked database
    gives no working link. Opening it claims nothing (anyone the link was forwarded to may open
    it: invitation_openers); the worker's decision (consent, decline, correction request), which
    the flow reaches only after the identity check, binds it to that account (opened_by_user_id)
    and uses it up; three failed verifications lock it.
    """

    __tablename__ = "invitations"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    sponsorship_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sponsorships.id"), nullable=False, index=True)
    )
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opened_by_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    failed_attempts: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    locked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class InvitationOpener(SQLModel, table=True):
    """Who opened an invitation link. Several people may (a forwarded link), and none claims it
    by opening (issue 6, item 10); a decision needs an opening by the same account."""

    __tablename__ = "invitation_openers"

    invitation_id: int = Field(
        sa_column=Column(Integer, ForeignKey("invitations.id"), primary_key=True)
    )
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CorrectionRequest(SQLModel, table=True):
    """The admin queue: requests an operator must handle within 3 x 24 hours (UU 27/2022)."""

    __tablename__ = "requests"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_sql_list(REQUEST_KINDS)})", name="kind"),
        CheckConstraint(f"subject IN ({_sql_list(REQUEST_SUBJECTS)})", name="subject"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    sponsorship_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("sponsorships.id"), nullable=True, index=True),
    )
    requester_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject: str = Field(sa_column=Column(String(16), nullable=False))
    # Free text that may contain personal data: sealed; NULL once the worker's data are erased.
    details_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _created()
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    resolved_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class OutboxMessage(SQLModel, table=True):
    """The delivery queue: one row per message to one person who is not the current speaker.

    kind notification: news about the person's own sponsorship, written in the same transaction
    as the change it tells about. kind reminder: written by the reminder planner when one falls
    due. kind announcement: one row per recipient of an announcement, which holds the text (the
    row's message is NULL). dedupe_key (unique) makes a repeated change, plan or send enqueue
    nothing. message is the JSON of flows.text.to_json, sealed (it can hold a KPJ number or a
    name). sponsorship_id lets the erasure of a worker's data delete the messages about them.
    not_before: not sent earlier (a reminder deferred past quiet hours). claims counts how often
    the row was claimed: more than one means a process died holding it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The rows still to deliver, in priority then id order: what a claim scans. Partial, so
        # it stays as small as the backlog however many rows were sent long ago; claimed_until
        # is left out of it, so a claim changes no indexed column (PostgreSQL HOT updates).
        Index(
            "ix_outbox_pending",
            "priority",
            "id",
            postgresql_where=text(OUTBOX_PENDING),
            sqlite_where=text(OUTBOX_PENDING),
        ),
        CheckConstraint(f"kind IN ({_sql_list(DELIVERY_KINDS)})", name="kind"),
        CheckConstraint(f"outcome IN ({_sql_list(DELIVERY_OUTCOMES)})", name="outcome"),
        CheckConstraint(
            "(kind = 'announcement') = (announcement_id IS NOT NULL)", name="announcement"
        ),
        CheckConstraint("message IS NOT NULL OR kind = 'announcement'", name="message"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    dedupe_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    recipient_user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    sponsorship_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("sponsorships.id"), nullable=True, index=True),
    )
    kind: str = Field(
        default="notification",
        sa_column=Column(String(16), nullable=False, server_default="notification"),
    )
    priority: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )
    announcement_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("announcements.id"), nullable=True, index=True),
    )
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _created()
    not_before: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    claims: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    gave_up_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    outcome: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    # The lease of the dispatcher that claimed the row: until then no other process sends it;
    # NULL when unclaimed or released after a failed attempt.
    claimed_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # The message_id Telegram gave the delivered message, set with sent_at.
    telegram_message_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class Announcement(SQLModel, table=True):
    """A message an admin or operator sends to an audience (/umumkan, peduli announce). The rows
    to send are outbox rows (kind announcement) written when it is confirmed or approved; this row
    holds the text once. scope is the author's Scope (flows.access) when composed: the audience
    never reaches past it. body is Telegram HTML. button: a flow the message's button opens (a
    key of flows, e.g. "sponsor"), or NULL. recipients: the audience's size when queued."""

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint(f"audience IN ({_sql_list(ANNOUNCEMENT_AUDIENCES)})", name="audience"),
        CheckConstraint(f"status IN ({_sql_list(ANNOUNCEMENT_STATUSES)})", name="status"),
        CheckConstraint(f"media_kind IN ({_sql_list(ANNOUNCEMENT_MEDIA)})", name="media_kind"),
        CheckConstraint("(media_kind IS NULL) = (media_file_id IS NULL)", name="media"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    author_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    channel: str = Field(sa_column=Column(String(16), nullable=False))  # telegram | cli
    scope: str = Field(sa_column=Column(String(400), nullable=False))
    audience: str = Field(sa_column=Column(String(32), nullable=False))
    audience_agencies: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    media_kind: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    media_file_id: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    button: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    paid_broadcast: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    status: str = Field(sa_column=Column(String(20), nullable=False))
    recipients: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    approved_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    created_at: datetime = _created()
    queued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # The progress message in the author's chat, edited every few seconds while sending.
    progress_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    progress_message_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class Campaign(SQLModel, table=True):
    """The campaign's deadline and the days before it on which an ASN without a sponsored worker
    is reminded (peduli campaign set). Append-only history: the newest row is in force."""

    __tablename__ = "campaigns"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    deadline: date = Field(sa_column=Column(Date, nullable=False))
    reminder_days: str = Field(sa_column=Column(String(64), nullable=False))  # e.g. "14,7,1"
    set_by_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    set_at: datetime = _created()


class UnfinishedFlow(SQLModel, table=True):
    """A sign-up or sponsorship left part-way: the flow and the step the person stopped at, so a
    reminder can offer to resume there. Written when a conversation leaves a flow's step mid-way
    and deleted when it finishes or is cancelled; the reminder planner reads only this table,
    whichever session store (SQL or Redis) holds the session itself."""

    __tablename__ = "unfinished_flows"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    flow: str = Field(sa_column=Column(String(32), nullable=False))
    step: str = Field(sa_column=Column(String(64), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


TURN_PENDING = "answer IS NOT NULL OR session IS NOT NULL"
"""Turns committed with something left to do: an answer to deliver or, with Redis sessions, a
session document to write there (the condition of ix_processed_updates_pending)."""


class ProcessedUpdate(SQLModel, table=True):
    """The turn journal (bot.storage.state.TurnJournal): one row per update whose turn committed,
    written in the turn's own transaction; pruned after two days.

    answer: the sealed answer to send, until it is delivered (then NULL).
    session: with Redis sessions, the sealed session document the turn produced, until it is
    written to Redis (then NULL). Both can hold personal data, so neither stays longer than needed.
    """

    __tablename__ = "processed_updates"
    __table_args__ = (
        Index(
            "ix_processed_updates_pending",
            "user_id",
            postgresql_where=text(TURN_PENDING),
            sqlite_where=text(TURN_PENDING),
        ),
    )

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    claimed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    session: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ConversationSession(SQLModel, table=True):
    """One conversation document per user (the SQL session store): JSON text, or a sealed token
    of that JSON when the store has a Sealer."""

    __tablename__ = "conversation_sessions"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    document: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class KeyCheck(SQLModel, table=True):
    """Which data key the sealed columns and blind indexes are under (bot.storage.keys): one row,
    id 1. check_value is bot.security.crypto.key_check_value of the key, never the key; key_id its
    fingerprint (the prefix of the tokens it seals). Recorded at the first start, replaced by
    `peduli keys rotate`; every start compares the configured DATA_KEY with it."""

    __tablename__ = "key_check"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    check_value: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class StaffRole(SQLModel, table=True):
    """A member of staff's role for one agency: an operator has a row per agency, a treasurer
    exactly one (bot.storage.staff keeps one role per person). Superadmins are not stored: they
    come from ADMIN_IDS."""

    __tablename__ = "staff_roles"
    __table_args__ = (CheckConstraint(f"role IN ({_sql_list(STAFF_ROLES)})", name="role"),)

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    agency_code: str = Field(sa_column=Column(String(64), primary_key=True))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    granted_at: datetime = _created()
    granted_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class AuditEntry(SQLModel, table=True):
    """Append-only log of what staff did: who (a Telegram id, or None with channel "cli"), when,
    what (action), within which scope ("*" or agency codes) and how many rows it touched. detail
    holds no personal data (a month, an agency, a reference), never a NIK or a phone."""

    __tablename__ = "audit_log"
    __table_args__ = (CheckConstraint(f"channel IN ({_sql_list(AUDIT_CHANNELS)})", name="channel"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    scope: str = Field(sa_column=Column(String(400), nullable=False))
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    row_count: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


@event.listens_for(AuditEntry, "before_update")
def _refuse_audit_update(*_: object) -> None:
    raise AppendOnlyViolation("the audit log is append-only")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_audit_delete(*_: object) -> None:
    raise AppendOnlyViolation("the audit log is append-only: entries are never deleted")


class Deduction(SQLModel, table=True):
    """The monthly ledger: one row per sponsorship per month whose salary is cut for it (month:
    the first day of that month). A row exists only for a month in which the sponsor's consent to
    the deduction is in force and the worker is covered (bot.storage.ledger opens a month, flows
    decides which months). agency_code is the sponsor's agency when the month was opened: the
    treasurer who cuts the salary. deducted_at is set when the treasurer marks it done."""

    __tablename__ = "deductions"
    __table_args__ = (
        UniqueConstraint("sponsorship_id", "month", name="uq_deductions_sponsorship_month"),
        Index("ix_deductions_month_agency", "month", "agency_code"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    sponsorship_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sponsorships.id"), nullable=False, index=True)
    )
    month: date = Field(sa_column=Column(Date, nullable=False))
    agency_code: str = Field(sa_column=Column(String(64), nullable=False))
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _created()
    deducted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    deducted_by_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class RosterEntry(SQLModel, table=True):
    """The civil servants of each agency (peduli roster import), to turn sign-up counts into
    participation. The NIP is kept like a sponsor's: sealed, its blind index (to match sponsors
    and re-imports) and its masked form."""

    __tablename__ = "roster"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    nip_sealed: str = Field(sa_column=Column(Text, nullable=False))
    nip_index: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    nip_masked: str = Field(sa_column=Column(String(32), nullable=False))
    full_name: str = Field(sa_column=Column(String(200), nullable=False))
    agency_code: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    imported_at: datetime = _created()


# ---- kept counts (bot.storage.counts): the statistics read these, not millions of rows ------

COUNT_KEY: tuple[str, ...] = ("agency_code", "kind", "k1", "k2", "k3", "k4", "day")
"""What a kept count is of: an agency, a kind of figure and its keys (bot.storage.counts)."""
COUNT_VALUES: tuple[str, ...] = (
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
"""The figures kept per key (bot.storage.counts says what each holds for each kind)."""


def _count_columns() -> list[Column[Any]]:
    keys: list[Column[Any]] = [
        Column("agency_code", String(64), nullable=False),
        Column("kind", String(2), nullable=False),
        *(Column(k, String(200), nullable=False, server_default="") for k in COUNT_KEY[2:6]),
        Column("day", String(10), nullable=False, server_default=""),
    ]
    values = [Column(v, BigInteger, nullable=False, server_default="0") for v in COUNT_VALUES]
    return keys + values


STATS_TOTALS = Table(
    "stats_totals",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    *_count_columns(),
    UniqueConstraint(*COUNT_KEY, name="uq_stats_totals_key"),
)
"""The statistics' counts folded so far, one row per key (bot.storage.counts.fold adds the
deltas in; migration 0015_stats and counts.rebuild fill it from the rows)."""

STATS_DELTAS = Table(
    "stats_deltas",
    SQLModel.metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    *_count_columns(),
)
"""Append-only changes of the counts, written in the transaction of the change itself
(bot.storage.counts): inserts only, so no two writers ever wait on one counter row."""


# The counts follow every flush that changes a sponsor, a sponsorship or a ledger row (imported
# last: bot.storage.counts reads the tables above).
from bot.storage import counts as _counts  # noqa: E402, F401  (it listens when imported)
