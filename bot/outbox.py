"""Delivers the outbox: notifications to other people (a sponsor told the worker decided, both
told the coverage is active), written by the repository in the same transaction as the change.

Each is sent once, in the recipient's current language, even when several bot processes share
the database: a dispatcher claims the row it is about to send for a short lease
(Repository.claim_notifications), and a failed attempt releases its row for a later retry. A
recipient who blocked the bot, or never opened a chat with it, cannot be messaged: the row is given
up, not retried forever.

Telegram has no idempotency key, so "sent" and "marked sent" cannot be one step. The window
between them is kept to one row: a row is claimed right before its send and marked (with the
message id Telegram gave it) right after, before the next row is claimed, and a send is cut off
well before its lease ends (SEND_TIMEOUT < LEASE), so no other process can take over a row that
is still being sent. What remains: a process killed (or frozen past the lease) after Telegram
accepted a message and before the mark commits sends that one notification again once its lease
ends. At most one row per dispatcher is ever in that state, so a crash duplicates at most one
notification, and none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from bot.i18n import Renderer
from bot.storage.repository import DEFAULT_LEASE, OutboxItem, Repository
from bot.transport import Outgoing, Transport
from flows.text import from_json

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = DEFAULT_LEASE  # 30 s: one row, one send
SEND_TIMEOUT = 20.0  # seconds; a send still running then is given up and retried later
SENT, RETRY, GIVEN_UP = "sent", "retry", "given up"  # what became of one row


class OutboxDispatcher:
    def __init__(
        self,
        repository: Repository,
        transport: Transport,
        ready: asyncio.Event,
        interval_seconds: float = 5.0,
        lease: timedelta = LEASE,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        if not 0 < send_timeout < lease.total_seconds():
            # A send outliving its lease could be claimed and sent again by another process.
            raise ValueError("send_timeout must be positive and shorter than the lease")
        self.repository = repository
        self.transport = transport
        self.ready = ready
        self.interval = interval_seconds
        self.lease = lease
        self.send_timeout = send_timeout

    async def run(self) -> None:
        """Until cancelled: deliver, then sleep until woken (a handled update) or the interval
        passes (rows written by another process, e.g. `peduli coverage import`)."""
        while True:
            try:
                await self.deliver_once()
            except Exception:  # the loop must outlive a database or network hiccup
                logger.exception("outbox delivery failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), self.interval)
            self.ready.clear()

    async def deliver_once(self, limit: int = 50) -> int:
        """Deliver up to `limit` notifications, one at a time: claim one row (a short lease;
        another process sharing the database skips it), send it, mark it, then the next. Claiming
        a batch up front would leave the rows at the end of a slow batch to lapse and be sent
        again by another process. A send that fails and may be retried ends the round (its row,
        released, would be claimed again at once); the next round retries it."""
        delivered = 0
        for _ in range(limit):
            claimed = await asyncio.to_thread(self.repository.claim_notifications, 1, self.lease)
            if not claimed:
                break
            outcome = await self._deliver(claimed[0])
            if outcome == RETRY:
                break
            delivered += outcome == SENT
        return delivered

    async def _deliver(self, item: OutboxItem) -> str:
        if item.chat_id is None:
            await self._failed(item.id, "no chat with this user", give_up=True)
            return GIVEN_UP
        text = Renderer(item.language)(from_json(item.message))
        try:
            message_id = await asyncio.wait_for(
                self.transport.send(item.chat_id, Outgoing(text)), self.send_timeout
            )
        except Exception as error:  # a network error or a timeout: try again later, a few times
            give_up = item.attempts + 1 >= MAX_ATTEMPTS
            await self._failed(item.id, type(error).__name__, give_up=give_up)
            return GIVEN_UP if give_up else RETRY
        if message_id is None:  # blocked by the user, or refused by Telegram
            await self._failed(item.id, "not delivered", give_up=True)
            return GIVEN_UP
        # Marked before anything else is sent: the only window for a duplicate is this row.
        await asyncio.to_thread(self.repository.mark_notification_sent, item.id, message_id)
        return SENT

    async def _failed(self, item_id: int, error: str, *, give_up: bool) -> None:
        await asyncio.to_thread(
            self.repository.mark_notification_failed, item_id, error, give_up=give_up
        )
