"""Delivers the outbox: notifications to other people (a sponsor told the worker decided, both
told the coverage is active), written by the repository in the same transaction as the change.

Each is sent once, in the recipient's current language, even when several bot processes share
the database: a dispatcher claims the rows it sends for a while (Repository.claim_notifications),
and a failed attempt releases its row for a later retry. A recipient who blocked the bot, or never
opened a chat with it, cannot be messaged: the row is given up, not retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.i18n import Renderer
from bot.storage.repository import Repository
from bot.transport import Outgoing, Transport
from flows.text import from_json

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class OutboxDispatcher:
    def __init__(
        self,
        repository: Repository,
        transport: Transport,
        ready: asyncio.Event,
        interval_seconds: float = 5.0,
    ) -> None:
        self.repository = repository
        self.transport = transport
        self.ready = ready
        self.interval = interval_seconds

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
        # Claimed with a lease: another bot process sharing the database skips these rows, so
        # each notification is sent by one process only.
        items = await asyncio.to_thread(self.repository.claim_notifications, limit)
        delivered = 0
        for item in items:
            if item.chat_id is None:
                await self._failed(item.id, "no chat with this user", give_up=True)
                continue
            text = Renderer(item.language)(from_json(item.message))
            try:
                message_id = await self.transport.send(item.chat_id, Outgoing(text))
            except Exception as error:  # a network error: try again later, a few times
                attempts = item.attempts + 1
                await self._failed(item.id, type(error).__name__, give_up=attempts >= MAX_ATTEMPTS)
                continue
            if message_id is None:  # blocked by the user, or refused by Telegram
                await self._failed(item.id, "not delivered", give_up=True)
                continue
            await asyncio.to_thread(self.repository.mark_notification_sent, item.id)
            delivered += 1
        return delivered

    async def _failed(self, item_id: int, error: str, *, give_up: bool) -> None:
        await asyncio.to_thread(
            self.repository.mark_notification_failed, item_id, error, give_up=give_up
        )
