"""The delivery queue's storage (issue 9): the outbox rows the delivery engine (bot.delivery)
claims in small batches, in priority order, and marks in batches.

Claim: one transaction picks up to `limit` due rows (not sent, not given up, not_before passed,
unclaimed or their lease ended; announcement rows only while their announcement is 'sending'),
ordered by priority then id, and leases them (claimed_until = now + lease, claims + 1). On
PostgreSQL the pick locks its rows FOR UPDATE SKIP LOCKED, so concurrent claimers take the next
rows instead of waiting; on SQLite the transaction is BEGIN IMMEDIATE (one writer at a time).
In the same transaction, rows that must not be sent get their outcome instead of a lease:
- a row whose lease ended without a mark (claimed_until still set: the process that held it died
  or froze) is a reminder or an announcement: 'unknown', never sent again (it may have arrived;
  the announcement's report counts it). A notification is sent again: it is the person's own
  sponsorship news, and at-least-once beats a silent loss.
- the recipient is unreachable (403 before; cleared when they write to the bot again), has
  stopped announcements (announcement rows) or optional reminders (reminder rows): 'skipped'.
- no chat with the recipient, or a sealed message this process cannot open: 'failed'.

Marks: one transaction for many rows. A release (429, a transient error with retries left, a
slot that did not come in time) takes the claim back (claims - 1: the count stays "how often a
process died holding it" + 1), so a row is never mistaken for one whose process died.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import SealedDataError, Sealer
from bot.storage.db import immediate
from bot.storage.models import Announcement, OutboxMessage, TelegramUser

logger = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 5  # transient failures (5xx, timeouts) before a row is given up
BACKOFF_BASE: Final = timedelta(seconds=2)  # 2, 4, 8, 16 s between transient retries
BACKOFF_MAX: Final = timedelta(minutes=5)
_LAST_ERROR_LENGTH: Final = 200

Kind = Literal["notification", "reminder", "announcement"]
# What became of one send, as the engine reports it to mark().
Result = Literal["sent", "blocked", "refused", "transient", "release", "void"]


@dataclass(frozen=True)
class Delivery:
    """A claimed row to send. message: the notification's or reminder's document
    (flows.text.to_json), None for an announcement row (announcement_id says which)."""

    id: int
    kind: str
    dedupe_key: str
    recipient_user_id: int
    chat_id: int
    language: str | None
    message: dict[str, Any] | None
    announcement_id: int | None
    attempts: int


@dataclass(frozen=True)
class Mark:
    """The outcome of one claimed row. detail: a short reason, no personal data."""

    id: int
    result: Result
    message_id: int | None = None
    detail: str = ""
    attempts: int = 0  # the row's failed attempts before this one (for the transient bound)
    recipient_user_id: int | None = None  # for 'blocked': who becomes unreachable


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed ones (1, 2, ...)."""
    wait: timedelta = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    return min(wait, BACKOFF_MAX)


class DeliveryStore:
    """Claims and marks of the delivery queue; each call is one short transaction."""

    def __init__(self, writer: Engine, sealer: Sealer, clock: Callable[[], datetime]) -> None:
        self._writer = immediate(writer)  # SQLite: the claim's read and write under one lock
        self._sealer = sealer
        self._clock = clock

    def claim(self, limit: int, lease: timedelta) -> list[Delivery]:
        """Up to `limit` due rows to send now, highest priority first, leased for `lease`.
        Rows settled at the claim (unknown, skipped, failed: see the module) are not returned;
        when a whole batch settles that way, the next rows are claimed, so an empty list means
        nothing is due."""
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        if limit < 1:
            return []
        while True:
            deliveries, claimed = self._claim_batch(limit, lease)
            if deliveries or not claimed:  # each empty pass settled >= 1 row: this ends
                return deliveries

    def _claim_batch(self, limit: int, lease: timedelta) -> tuple[list[Delivery], int]:
        now = self._clock()
        # Core on the transaction's Connection, the SELECT built once: the engine claims after
        # every turn with commands, and most claims find nothing (building the statement and an
        # ORM session cost more than running it).
        with self._writer.begin() as connection:
            rows = connection.execute(_claim_statement(limit), {"now": now}).all()
            if not rows:
                return [], 0
            deliveries: list[Delivery] = []
            for row in rows:
                lapsed = row.claimed_until is not None  # leased, never marked nor released
                outcome: str | None = None
                if lapsed and row.kind != "notification":
                    outcome, detail = "unknown", "claimed by a process that stopped"
                elif row.unreachable_at is not None:
                    outcome, detail = "skipped", "unreachable"
                elif row.kind == "announcement" and row.announcements_off_at is not None:
                    outcome, detail = "skipped", "announcements stopped"
                elif row.kind == "reminder" and row.reminders_off_at is not None:
                    outcome, detail = "skipped", "reminders stopped"
                elif row.chat_id is None:
                    outcome, detail = "failed", "no chat with this user"
                document = None
                if outcome is None and row.kind != "announcement":
                    document, problem = self._open(row.id, row.message)
                    if document is None:
                        outcome, detail = "failed", problem
                if outcome is not None:
                    connection.execute(
                        update(OutboxMessage)
                        .where(col(OutboxMessage.id) == row.id)
                        .values(
                            outcome=outcome,
                            gave_up_at=now,
                            claimed_until=None,
                            last_error=_scrub(detail),
                            claims=col(OutboxMessage.claims) + 1,
                        )
                    )
                    continue
                deliveries.append(
                    Delivery(
                        id=row.id,
                        kind=row.kind,
                        dedupe_key=row.dedupe_key,
                        recipient_user_id=row.recipient_user_id,
                        chat_id=row.chat_id,
                        language=row.language,
                        message=document,
                        announcement_id=row.announcement_id,
                        attempts=row.attempts,
                    )
                )
            if deliveries:
                connection.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_([d.id for d in deliveries]))
                    .values(claimed_until=now + lease, claims=col(OutboxMessage.claims) + 1)
                )
        return deliveries, len(rows)

    def _open(self, row: int, sealed: str | None) -> tuple[dict[str, Any] | None, str]:
        """The row's document, or None and why (a key this process lacks, damage): retrying
        could never succeed, so the row fails instead of holding back the batch."""
        try:
            if sealed is None:
                raise ValueError("no message")
            document = json.loads(self._sealer.open(sealed))
        except (SealedDataError, ValueError) as error:
            reason = "cannot be opened" if isinstance(error, SealedDataError) else "not JSON"
        else:
            if isinstance(document, dict):
                return document, ""
            reason = "not a JSON object"
        logger.warning("outbox message %s %s: given up", row, reason)
        return None, f"message {reason}"

    def mark(self, marks: Sequence[Mark]) -> None:
        """Record the outcomes of claimed rows, all in one transaction."""
        if not marks:
            return
        now = self._clock()
        sent = [m for m in marks if m.result == "sent"]
        with Session(self._writer) as session, session.begin():
            if sent:
                # executemany: one round trip for the whole batch (the hot path).
                session.connection().execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id) == bindparam("row"))
                    .values(
                        sent_at=now,
                        outcome="sent",
                        attempts=col(OutboxMessage.attempts) + 1,
                        last_error=None,
                        claimed_until=None,
                        telegram_message_id=bindparam("message_id"),
                    ),
                    [{"row": m.id, "message_id": m.message_id} for m in sent],
                )
            for m in marks:
                values = _values(m, now)
                if values is not None:
                    session.execute(
                        update(OutboxMessage).where(col(OutboxMessage.id) == m.id).values(values)
                    )
            blocked = {m.recipient_user_id for m in marks if m.result == "blocked"}
            blocked.discard(None)
            if blocked:
                session.execute(
                    update(TelegramUser)
                    .where(col(TelegramUser.user_id).in_(blocked))
                    .values(unreachable_at=now)
                )

    def announcements(self, ids: Iterable[int]) -> dict[int, Announcement]:
        wanted = set(ids)
        if not wanted:
            return {}
        with Session(self._writer, expire_on_commit=False) as session:
            found = session.scalars(
                select(Announcement).where(col(Announcement.id).in_(wanted))
            ).all()
            for announcement in found:
                session.expunge(announcement)
        return {a.id: a for a in found if a.id is not None}


def _values(m: Mark, now: datetime) -> dict[str, Any] | None:
    """The UPDATE for one row's mark (None: 'sent', written in bulk)."""
    error = _scrub(m.detail) if m.detail else None
    given_up = {"gave_up_at": now, "claimed_until": None, "last_error": error}
    if m.result == "sent":
        return None
    if m.result == "blocked":
        return {**given_up, "outcome": "blocked", "attempts": col(OutboxMessage.attempts) + 1}
    if m.result == "refused":
        return {**given_up, "outcome": "failed", "attempts": col(OutboxMessage.attempts) + 1}
    if m.result == "void":
        return {**given_up, "outcome": "void"}
    released = {"claimed_until": None, "claims": col(OutboxMessage.claims) - 1}
    if m.result == "release":  # not tried (429, no slot in time): no attempt counted
        return released
    # transient: retried after a backoff, a bounded number of times
    attempts = m.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        return {**given_up, "outcome": "failed", "attempts": col(OutboxMessage.attempts) + 1}
    return {
        **released,
        "attempts": col(OutboxMessage.attempts) + 1,
        "last_error": error,
        "not_before": now + backoff(attempts),
    }


def _scrub(error: str) -> str:
    """Delivery errors may quote chat ids or numbers: blank long digit runs, keep it short."""
    return re.sub(r"\d{6,}", "#", " ".join(error.split()))[:_LAST_ERROR_LENGTH]


@functools.lru_cache(maxsize=8)
def _claim_statement(limit: int) -> Any:
    """The claim's SELECT, built once per batch size (`now` bound at each claim): up to
    `limit` due rows, highest priority first, with their recipients; on PostgreSQL the rows
    are locked, rows another process holds skipped."""
    now = bindparam("now", type_=OutboxMessage.__table__.c.claimed_until.type)  # type: ignore[attr-defined]
    sending = select(col(Announcement.id)).where(col(Announcement.status) == "sending")
    claimable = (
        select(col(OutboxMessage.id))
        .where(
            col(OutboxMessage.sent_at).is_(None),
            col(OutboxMessage.gave_up_at).is_(None),
            col(OutboxMessage.not_before).is_(None) | (col(OutboxMessage.not_before) <= now),
            col(OutboxMessage.claimed_until).is_(None) | (col(OutboxMessage.claimed_until) < now),
            # Paused, cancelled or unapproved announcements hold their rows back.
            col(OutboxMessage.announcement_id).is_(None)
            | col(OutboxMessage.announcement_id).in_(sending.scalar_subquery()),
        )
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)  # PostgreSQL only
    )
    return (
        select(
            col(OutboxMessage.id),
            col(OutboxMessage.kind),
            col(OutboxMessage.dedupe_key),
            col(OutboxMessage.recipient_user_id),
            col(OutboxMessage.message),
            col(OutboxMessage.announcement_id),
            col(OutboxMessage.attempts),
            col(OutboxMessage.claimed_until),
            col(TelegramUser.chat_id),
            col(TelegramUser.language),
            col(TelegramUser.unreachable_at),
            col(TelegramUser.announcements_off_at),
            col(TelegramUser.reminders_off_at),
        )
        .outerjoin(
            TelegramUser,
            col(TelegramUser.user_id) == col(OutboxMessage.recipient_user_id),
        )
        .where(col(OutboxMessage.id).in_(claimable.scalar_subquery()))
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
    )
