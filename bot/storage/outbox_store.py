"""The outbox rows: written with the change they tell about, claimed with a lease, marked sent or
failed. The bot delivers them (bot.outbox) in each recipient's own language."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import SealedDataError, Sealer
from bot.storage.db import dialect_insert
from bot.storage.lookups import row_id
from bot.storage.models import OutboxMessage, TelegramUser
from bot.storage.views import OutboxItem
from flows.events import Notice
from flows.text import to_json

logger = logging.getLogger(__name__)

# An outbox claim. Short: the dispatcher claims one row right before sending it and marks it
# right after, so the lease only has to outlast one send (bot.outbox bounds a send well below it).
DEFAULT_LEASE: Final = timedelta(seconds=30)
_LAST_ERROR_LENGTH: Final = 200


def enqueue(session: Session, sealer: Sealer, notice: Notice, now: datetime) -> None:
    """Add a notification unless one with this key exists (sent or not)."""
    document = json.dumps(to_json(notice.message), ensure_ascii=False, separators=(",", ":"))
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = (
        insert(OutboxMessage)
        .values(
            dedupe_key=notice.dedupe_key,
            recipient_user_id=notice.recipient_user_id,
            sponsorship_id=notice.sponsorship_id,
            message=sealer.seal(document),
            created_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    session.execute(statement)


class OutboxStore:
    """Claiming and marking outbox rows; each call is its own short transaction."""

    def __init__(self, writer: Engine, sealer: Sealer, clock: Callable[[], datetime]) -> None:
        self._writer = writer
        self._sealer = sealer
        self._clock = clock

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
                col(OutboxMessage.kind) != "announcement",
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
                    id=row_id(message),
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
            if message.message is None:
                raise ValueError("no message")
            document = json.loads(self._sealer.open(message.message))
        except (SealedDataError, ValueError) as error:
            reason = "cannot be opened" if isinstance(error, SealedDataError) else "not JSON"
        else:
            if isinstance(document, dict):
                return document
            reason = "not a JSON object"
        logger.warning("outbox message %s %s: given up", message.id, reason)
        self.mark_notification_failed(row_id(message), f"message {reason}", give_up=True)
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


def _scrub_error(error: str) -> str:
    """Delivery errors may quote chat ids or numbers: blank long digit runs, keep it short."""
    return re.sub(r"\d{6,}", "#", " ".join(error.split()))[:_LAST_ERROR_LENGTH]
