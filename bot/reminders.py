"""The reminder scheduler in the running bot: every minute (settable) it plans what is due
(flows.reminders) and queues it in the outbox in one transaction (bot.storage.reminders), then
wakes the delivery engine. Queuing is idempotent (dedupe keys) and rounds are serialized across
processes, so every bot process may run it: none sends a reminder twice, a restart loses none
(what is due is read from the database, not remembered). Modelled on bot.ledger.LedgerKeeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.periodic import every

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0


class RoundStore(Protocol):
    """What the scheduler needs of storage (bot.storage.reminders.ReminderStore)."""

    def run_round(self, now: datetime) -> list[str]: ...


class ReminderScheduler:
    def __init__(
        self,
        store: RoundStore,
        clock: Callable[[], datetime],
        ready: asyncio.Event | None = None,
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.store = store
        self.clock = clock
        self.ready = ready
        self.interval = interval_seconds

    async def run_once(self) -> list[str]:
        """One round: the dedupe keys of the reminders queued now."""
        queued = await asyncio.to_thread(self.store.run_round, self.clock())
        if queued:
            logger.info("reminders: %d queued", len(queued))
            if self.ready is not None:
                self.ready.set()  # the delivery engine sends them (their not_before permitting)
        return queued

    async def run(self) -> None:
        """Until cancelled: a round now, then one every interval (bot.periodic.every)."""
        await every(
            self.interval,
            self.run_once,
            logger=logger,
            failure="reminder round failed; retrying next round",
        )
