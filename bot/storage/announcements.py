"""Announcements in storage: audiences, drafts, queueing, pause/resume/cancel, progress, report.

An announcement's audience is a SQL query over sponsors, sponsorships and telegram_users, always
cut to the author's Scope (flows.access): an operator's audience never reaches past their
agencies, whatever they asked for. Only people in a chat with the bot who have not opted out
(/berhenti) nor blocked the bot are counted and queued; each person at most once.

Queueing writes the announcement's status, size and queued_at and one outbox row per recipient
in ONE transaction, with a single INSERT ... SELECT (10,000 rows in well under a second): the
delivery engine (bot.delivery) then sends them; it claims only rows of announcements whose status
is 'sending', so 'paused' holds them and 'cancelled' marks the rows not yet sent.

Every change (queued, approved, refused, paused, resumed, cancelled) writes its audit entry in the
same transaction. Nothing here words a message: refusals are AnnouncementError with a reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Engine,
    String,
    Table,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlmodel import col

from bot.storage import audit
from bot.storage.models import (
    ANNOUNCEMENT_AUDIENCES,
    DELIVERY_PRIORITY,
    Announcement,
    AuditEntry,
    OutboxMessage,
    Sponsor,
    Sponsorship,
    TelegramUser,
)
from flows.access import Role, Scope
from flows.statuses import OPEN_STATUSES, SponsorshipStatus

QUEUED = "announcement.queue"
AWAITING = "announcement.await_approval"
APPROVED = "announcement.approve"
REJECTED = "announcement.reject"
PAUSED = "announcement.pause"
RESUMED = "announcement.resume"
CANCELLED = "announcement.cancel"
ASKED = "announcement.ask_approval"  # the superadmins were asked to approve (audit action)

# Reasons of AnnouncementError
UNKNOWN = "unknown"  # no such announcement, or not the actor's to act on
WRONG_STATE = "wrong_state"  # e.g. resuming what is not paused
OWN_APPROVAL = "own_approval"  # the author cannot approve their own announcement
NOT_SUPERADMIN = "not_superadmin"  # only superadmins approve
EMPTY = "empty"  # the audience has nobody in it
BAD_AUDIENCE = "bad_audience"

OUTBOX_TABLE: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
CONFIRMED_STATUSES = (SponsorshipStatus.CONFIRMED.value, SponsorshipStatus.ACTIVE.value)


class AnnouncementError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Progress:
    """Where an announcement's sending stands: outcomes counted over its outbox rows."""

    id: int
    status: str
    recipients: int
    sent: int
    failed: int
    blocked: int
    skipped: int  # opted out, or unreachable when their turn came
    unknown: int
    cancelled: int
    pending: int

    @property
    def finished(self) -> int:
        return self.recipients - self.pending

    def counts(self) -> dict[str, int]:
        """The figures the progress message and the report word (their locale parameters)."""
        return {
            "id": self.id,
            "recipients": self.recipients,
            "sent": self.sent,
            "failed": self.failed,
            "blocked": self.blocked,
            "skipped": self.skipped,
            "unknown": self.unknown,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class Failure:
    """One row of the failure report: no NIK, no phone, a pseudonymous recipient."""

    row_id: int
    recipient: str
    outcome: str
    error: str


def _reachable(user_id_column: object) -> object:
    """The person has a chat with the bot, has not opted out and is not known to be blocked."""
    return exists(
        select(literal(1))
        .select_from(TelegramUser)
        .where(
            col(TelegramUser.user_id) == user_id_column,
            col(TelegramUser.chat_id).is_not(None),
            col(TelegramUser.announcements_off_at).is_(None),
            col(TelegramUser.unreachable_at).is_(None),
        )
    )


def _within(column: object, agencies: frozenset[str] | None) -> object:
    return literal(True) if agencies is None else col(column).in_(sorted(agencies))


def audience_agencies(
    scope: Scope, audience: str, chosen: Iterable[str] | None
) -> frozenset[str] | None:
    """The agencies an audience reaches: None for all (a superadmin's whole scope), else a set
    never wider than the scope. agency_asn reads the chosen agencies, cut to the scope."""
    if audience not in ANNOUNCEMENT_AUDIENCES:
        raise AnnouncementError(BAD_AUDIENCE)
    if audience == "agency_asn":
        return scope.restrict(list(chosen or ()))
    return scope.restrict(None)


def audience_query(audience: str, agencies: frozenset[str] | None) -> Select[tuple[int]]:
    """The distinct user ids of an audience within `agencies` (None: every agency)."""
    sponsor_ok = and_(
        _within(Sponsor.agency_code, agencies),  # type: ignore[arg-type]
        _reachable(col(Sponsor.user_id)),  # type: ignore[arg-type]
    )
    asn: Select[tuple[int]] = select(col(Sponsor.user_id).label("user_id")).where(sponsor_ok)
    if audience in ("all_asn", "agency_asn"):
        return asn.distinct()
    if audience == "asn_without_worker":
        open_ones = select(literal(1)).where(
            col(Sponsorship.sponsor_id) == col(Sponsor.id),
            col(Sponsorship.status).in_([status.value for status in OPEN_STATUSES]),
        )
        return asn.where(~exists(open_ones)).distinct()
    if audience == "sponsors_unconfirmed":
        waiting = select(literal(1)).where(
            col(Sponsorship.sponsor_id) == col(Sponsor.id),
            col(Sponsorship.status) == SponsorshipStatus.WAITING_WORKER.value,
        )
        return asn.where(exists(waiting)).distinct()
    workers: Select[tuple[int]] = (
        select(col(Sponsorship.worker_user_id).label("user_id"))
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(
            col(Sponsorship.worker_user_id).is_not(None),
            col(Sponsorship.status).in_(CONFIRMED_STATUSES),
            _within(Sponsor.agency_code, agencies),  # type: ignore[arg-type]
            _reachable(col(Sponsorship.worker_user_id)),  # type: ignore[arg-type]
        )
    )
    if audience == "confirmed_workers":
        return workers.distinct()
    if audience == "everyone":
        both = union(asn, workers).subquery()  # UNION removes the duplicates
        return select(both.c.user_id)
    raise AnnouncementError(BAD_AUDIENCE)


def audience_sizes(session: Session, scope: Scope) -> dict[str, int]:
    return {
        audience: count_audience(session, scope, audience)
        for audience in ANNOUNCEMENT_AUDIENCES
        if audience != "agency_asn"
    }


def count_audience(
    session: Session, scope: Scope, audience: str, chosen: Iterable[str] | None = None
) -> int:
    agencies = audience_agencies(scope, audience, chosen)
    if agencies is not None and not agencies:
        return 0
    query = audience_query(audience, agencies).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def create(
    session: Session,
    actor: audit.Actor,
    *,
    body: str,
    audience: str,
    agencies: Iterable[str] | None = None,
    media_kind: str | None = None,
    media_file_id: str | None = None,
    button: str | None = None,
    paid_broadcast: bool = False,
    now: datetime,
) -> Announcement:
    """A draft: nothing queued yet. The chosen agencies are kept already cut to the scope."""
    if actor.user_id is None and actor.channel != audit.CLI:
        raise AnnouncementError(UNKNOWN)
    reached = audience_agencies(actor.scope, audience, agencies)
    row = Announcement(
        author_user_id=actor.user_id or 0,
        channel=actor.channel,
        scope=actor.scope.label(),
        audience=audience,
        audience_agencies=None if audience != "agency_asn" else ",".join(sorted(reached or ())),
        body=body,
        media_kind=media_kind,
        media_file_id=media_file_id,
        button=button,
        paid_broadcast=paid_broadcast,
        status="draft",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def scope_of(row: Announcement) -> Scope:
    """The author's scope as stored when composed: the audience is built within it."""
    if row.scope == "*":
        return Scope.superadmin()
    return Scope(Role.OPERATOR, frozenset(code for code in row.scope.split(",") if code))


def _agencies(row: Announcement) -> frozenset[str] | None:
    chosen = (row.audience_agencies or "").split(",") if row.audience == "agency_asn" else None
    return audience_agencies(scope_of(row), row.audience, [c for c in chosen or () if c])


def count_for(session: Session, row: Announcement) -> int:
    agencies = _agencies(row)
    if agencies is not None and not agencies:
        return 0
    query = audience_query(row.audience, agencies).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def get(session: Session, announcement_id: int, *, lock: bool = False) -> Announcement:
    query = select(Announcement).where(col(Announcement.id) == announcement_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise AnnouncementError(UNKNOWN)
    return row


def needs_approval(recipients: int, threshold: int) -> bool:
    return recipients > threshold


def submit(
    session: Session,
    actor: audit.Actor,
    announcement_id: int,
    now: datetime,
    *,
    threshold: int,
) -> Announcement:
    """The author confirms: queued at once, or, over `threshold` recipients, held until a second
    superadmin approves (the CLI's operator is a superadmin but still needs the second one when
    the audience is that large: --yes does not skip approval)."""
    row = get(session, announcement_id, lock=True)
    if row.status != "draft" or not _is_author(row, actor):
        raise AnnouncementError(UNKNOWN if row.status == "draft" else WRONG_STATE)
    size = count_for(session, row)
    if size == 0:
        raise AnnouncementError(EMPTY)
    if needs_approval(size, threshold):
        row.status = "awaiting_approval"
        row.recipients = size
        audit.record(session, actor, AWAITING, now, detail=f"id={row.id}", row_count=size)
        return row
    _queue(session, row, now)
    audit.record(session, actor, QUEUED, now, detail=_detail(row), row_count=row.recipients)
    return row


def decide(
    session: Session,
    actor: audit.Actor,
    announcement_id: int,
    approve: bool,
    now: datetime,
    *,
    superadmins: frozenset[int],
) -> Announcement:
    """A second superadmin approves (queued now) or rejects (cancelled, nothing sent). The
    author is refused, however they press or type it."""
    row = get(session, announcement_id, lock=True)
    if actor.user_id is None or actor.user_id not in superadmins:
        raise AnnouncementError(NOT_SUPERADMIN)
    if row.status != "awaiting_approval":
        raise AnnouncementError(WRONG_STATE)
    if actor.user_id == row.author_user_id:
        raise AnnouncementError(OWN_APPROVAL)
    row.approved_by_user_id = actor.user_id
    if not approve:
        row.status = "cancelled"
        row.finished_at = now
        audit.record(session, actor, REJECTED, now, detail=f"id={row.id}", row_count=0)
        return row
    _queue(session, row, now)
    audit.record(session, actor, APPROVED, now, detail=_detail(row), row_count=row.recipients)
    return row


def _detail(row: Announcement) -> str:
    agencies = row.audience_agencies or "*"
    return f"id={row.id} audience={row.audience} agencies={agencies}"


def _queue(session: Session, row: Announcement, now: datetime) -> None:
    """One INSERT ... SELECT of the audience into the outbox, in the caller's transaction. The
    dedupe key makes the same person's row unique per announcement."""
    assert row.id is not None
    agencies = _agencies(row)
    if agencies is not None and not agencies:
        raise AnnouncementError(EMPTY)
    audience = audience_query(row.audience, agencies).subquery()
    user_id = audience.c.user_id
    prefix = f"announcement:{row.id}:"
    rows = select(
        (literal(prefix, String) + cast(user_id, String)).label("dedupe_key"),
        user_id.label("recipient_user_id"),
        literal("announcement", String).label("kind"),
        literal(DELIVERY_PRIORITY["announcement"]).label("priority"),
        literal(row.id).label("announcement_id"),
        bindparam("now", now, type_=OUTBOX_TABLE.c.created_at.type).label("created_at"),
        literal(0).label("attempts"),
        literal(0).label("claims"),
    )
    table = OUTBOX_TABLE
    statement = insert(table).from_select(
        [
            "dedupe_key",
            "recipient_user_id",
            "kind",
            "priority",
            "announcement_id",
            "created_at",
            "attempts",
            "claims",
        ],
        rows,
    )
    session.execute(statement)
    # Counted, not the statement's rowcount: drivers report -1 for INSERT ... SELECT.
    written = session.scalar(
        select(func.count()).where(col(OutboxMessage.announcement_id) == row.id)
    )
    if not written:
        raise AnnouncementError(EMPTY)
    row.status = "sending"
    row.recipients = int(written)
    row.queued_at = now


def _is_author(row: Announcement, actor: audit.Actor) -> bool:
    if actor.channel == audit.CLI:
        return row.channel == audit.CLI
    return actor.user_id is not None and row.author_user_id == actor.user_id


def _may_steer(row: Announcement, actor: audit.Actor) -> bool:
    """The author, any superadmin, or the CLI (a superadmin) may pause, resume or cancel."""
    return actor.scope.is_superadmin or _is_author(row, actor)


def set_paused(
    session: Session, actor: audit.Actor, announcement_id: int, paused: bool, now: datetime
) -> Announcement:
    row = get(session, announcement_id, lock=True)
    if not _may_steer(row, actor):
        raise AnnouncementError(UNKNOWN)
    expected = "sending" if paused else "paused"
    if row.status != expected:
        raise AnnouncementError(WRONG_STATE)
    row.status = "paused" if paused else "sending"
    audit.record(session, actor, PAUSED if paused else RESUMED, now, detail=f"id={row.id}")
    return row


def cancel(session: Session, actor: audit.Actor, announcement_id: int, now: datetime) -> int:
    """Cancel: every row without an outcome yet is marked 'cancelled' (never sent). Rows a
    process holds claimed right now may still go out: the engine marks them as it finishes.
    Returns the rows cancelled."""
    row = get(session, announcement_id, lock=True)
    if not _may_steer(row, actor):
        raise AnnouncementError(UNKNOWN)
    if row.status not in ("draft", "awaiting_approval", "sending", "paused"):
        raise AnnouncementError(WRONG_STATE)
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.announcement_id) == announcement_id,
            col(OutboxMessage.outcome).is_(None),
            col(OutboxMessage.sent_at).is_(None),
            or_(
                col(OutboxMessage.claimed_until).is_(None),
                col(OutboxMessage.claimed_until) < now,
            ),
        )
        .values(outcome="cancelled", gave_up_at=now, claimed_until=None)
    )
    row.status = "cancelled"
    row.finished_at = now
    cancelled = int(getattr(result, "rowcount", 0) or 0)
    audit.record(session, actor, CANCELLED, now, detail=f"id={row.id}", row_count=cancelled)
    return cancelled


def progress(session: Session, announcement_id: int) -> Progress:
    row = get(session, announcement_id)
    outcome = func.coalesce(col(OutboxMessage.outcome), "")
    counts = dict(
        session.execute(
            select(outcome, func.count())
            .where(col(OutboxMessage.announcement_id) == announcement_id)
            .group_by(outcome)
        ).all()
    )

    def n(key: str) -> int:
        return int(counts.get(key, 0))

    total = sum(int(value) for value in counts.values())
    return Progress(
        id=announcement_id,
        status=row.status,
        recipients=row.recipients if row.recipients is not None else total,
        sent=n("sent"),
        failed=n("failed"),
        blocked=n("blocked"),
        skipped=n("skipped") + n("void"),
        unknown=n("unknown"),
        cancelled=n("cancelled"),
        pending=n(""),
    )


def finish_if_done(session: Session, announcement_id: int, now: datetime) -> bool:
    """Status 'done' once every row of a sending announcement has an outcome."""
    row = get(session, announcement_id, lock=True)
    if row.status != "sending":
        return False
    left = session.scalar(
        select(func.count()).where(
            col(OutboxMessage.announcement_id) == announcement_id,
            col(OutboxMessage.outcome).is_(None),
        )
    )
    if left:
        return False
    row.status = "done"
    row.finished_at = now
    return True


def in_progress(session: Session) -> Sequence[Announcement]:
    """Announcements whose progress message is still to be edited: sending, paused, and those
    finished (done, cancelled) whose final report was not sent yet (progress_message_id set)."""
    return session.scalars(
        select(Announcement).where(
            col(Announcement.progress_message_id).is_not(None),
            col(Announcement.status).in_(("sending", "paused", "done", "cancelled")),
        )
    ).all()


def set_progress_message(
    session: Session, announcement_id: int, chat_id: int | None, message_id: int | None
) -> None:
    session.execute(
        update(Announcement)
        .where(col(Announcement.id) == announcement_id)
        .values(progress_chat_id=chat_id, progress_message_id=message_id)
    )


def failures(session: Session, announcement_id: int) -> list[Failure]:
    rows = session.execute(
        select(
            col(OutboxMessage.id),
            col(OutboxMessage.recipient_user_id),
            col(OutboxMessage.outcome),
            col(OutboxMessage.last_error),
        )
        .where(
            col(OutboxMessage.announcement_id) == announcement_id,
            col(OutboxMessage.outcome).in_(("failed", "blocked", "unknown", "skipped")),
        )
        .order_by(col(OutboxMessage.id))
    ).all()
    return [
        Failure(int(row_id or 0), pseudonym(user_id), outcome or "", (error or "")[:200])
        for row_id, user_id, outcome, error in rows
    ]


def pseudonym(user_id: int) -> str:
    """A recipient as the report shows them: the Telegram id masked (at most its last 3 digits,
    never more than a third of them), enough to tell rows apart without naming anyone; no NIK,
    no phone ever."""
    digits = str(user_id)
    keep = min(3, len(digits) // 3)
    return "*" * (len(digits) - keep) + digits[len(digits) - keep :]


def failures_csv(rows: Sequence[Failure]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "recipient", "outcome", "error"])
    for row in rows:
        writer.writerow([row.row_id, row.recipient, row.outcome, row.error])
    return buffer.getvalue().encode("utf-8")


def set_opt_out(session: Session, user_id: int, off: bool, now: datetime) -> bool:
    """/berhenti (off) or /mulai_pengumuman: returns whether the person is known to the bot."""
    result = session.execute(
        update(TelegramUser)
        .where(col(TelegramUser.user_id) == user_id)
        .values(announcements_off_at=now if off else None)
    )
    return bool(getattr(result, "rowcount", 0))


class AnnouncementStore:
    """The transactions the service, the progress loop and the CLI run on announcements."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def transaction(self) -> Session:
        return Session(self._engine)

    def get(self, announcement_id: int) -> Announcement:
        with Session(self._engine, expire_on_commit=False) as session:
            row = get(session, announcement_id)
            session.expunge(row)
            return row

    def audience_sizes(self, scope: Scope, within: Session | None = None) -> dict[str, int]:
        """How many people each audience but "ASN of chosen agencies" reaches within `scope`;
        `within`: read in that open transaction (a turn's: no second transaction beside it,
        which on SQLite would wait for the write lock the turn holds)."""
        if within is not None:
            return audience_sizes(within, scope)
        with Session(self._engine) as session:
            return audience_sizes(session, scope)

    def count(self, announcement_id: int) -> int:
        with Session(self._engine) as session:
            return count_for(session, get(session, announcement_id))

    def progress(self, announcement_id: int) -> Progress:
        with Session(self._engine) as session:
            return progress(session, announcement_id)

    def chat_of(self, user_id: int) -> int | None:
        with Session(self._engine) as session:
            return session.scalar(
                select(col(TelegramUser.chat_id)).where(col(TelegramUser.user_id) == user_id)
            )

    def set_progress_message(
        self, announcement_id: int, chat_id: int | None, message_id: int | None
    ) -> None:
        with Session(self._engine) as session, session.begin():
            set_progress_message(session, announcement_id, chat_id, message_id)

    def tracked(self) -> list[Announcement]:
        """Announcements with a progress message to edit (see in_progress)."""
        with Session(self._engine, expire_on_commit=False) as session:
            rows = list(in_progress(session))
            for row in rows:
                session.expunge(row)
            return rows

    def release_progress_message(self, announcement_id: int, message_id: int) -> bool:
        """Stop tracking a finished announcement's progress message; True for the one process
        that did it (so that, with several bot processes, one sends the final report)."""
        with Session(self._engine) as session, session.begin():
            result = session.execute(
                update(Announcement)
                .where(
                    col(Announcement.id) == announcement_id,
                    col(Announcement.progress_message_id) == message_id,
                )
                .values(progress_chat_id=None, progress_message_id=None)
            )
            return bool(getattr(result, "rowcount", 0))

    def finish_all(self) -> int:
        """Mark 'done' every sending announcement whose rows all have an outcome (those of the
        CLI too, which have no progress message)."""
        with Session(self._engine) as session:
            sending = list(
                session.scalars(
                    select(col(Announcement.id)).where(col(Announcement.status) == "sending")
                )
            )
        return sum(1 for found in sending if found is not None and self.finish_if_done(found))

    def finish_if_done(self, announcement_id: int) -> bool:
        with Session(self._engine) as session, session.begin():
            return finish_if_done(session, announcement_id, self._clock())

    def failures(self, announcement_id: int) -> list[Failure]:
        with Session(self._engine) as session:
            return failures(session, announcement_id)

    def other_superadmin_chats(self, superadmins: Iterable[int], author: int) -> list[int]:
        with Session(self._engine) as session:
            others = [user for user in superadmins if user != author]
            if not others:
                return []
            return [
                chat
                for chat in session.scalars(
                    select(col(TelegramUser.chat_id)).where(
                        col(TelegramUser.user_id).in_(others),
                        col(TelegramUser.chat_id).is_not(None),
                    )
                )
                if chat is not None
            ]

    def unasked_approvals(self) -> list[Announcement]:
        """Announcements waiting for approval whose approvers were not asked yet: those from
        the command line (which cannot message anyone), and those whose author's turn failed
        to ask (the turn records the ask only once its messages went out)."""
        with Session(self._engine, expire_on_commit=False) as session:
            asked = select(literal(1)).where(
                col(AuditEntry.action) == ASKED,
                col(AuditEntry.detail) == literal("id=", String) + cast(Announcement.id, String),
            )
            rows = list(
                session.scalars(
                    select(Announcement).where(
                        col(Announcement.status) == "awaiting_approval",
                        ~exists(asked),
                    )
                )
            )
            for row in rows:
                session.expunge(row)
            return rows

    def record_asked(self, announcement_id: int, asked: int, channel: str = audit.CLI) -> None:
        """The approvers were asked (`asked` chats), through `channel`: not asked again."""
        with Session(self._engine) as session, session.begin():
            actor = audit.Actor(Scope.superadmin(), None, channel)
            audit.record(
                session,
                actor,
                ASKED,
                self._clock(),
                detail=f"id={announcement_id}",
                row_count=asked,
            )
