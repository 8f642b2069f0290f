"""The ledger's upkeep in the running bot: opens the current local month (flows.ledger decides
which sponsorships owe it) and lapses the sponsorships whose deductions stopped, at start and
then every hour. Both are idempotent and cheap when there is nothing to do, so several bot
processes may run them side by side (bot.storage.ledger explains why that is safe), and a month
that begins while the bot runs is opened within the hour without anybody's command.

Runs beside the outbox dispatcher; a lapse leaves notifications in the outbox, so the keeper
wakes the dispatcher (`ready`) when it lapsed something.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol

from bot.periodic import every
from flows.ledger import month_of

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


class LedgerStore(Protocol):
    """What the keeper needs of storage (bot.storage.ledger.Ledger)."""

    def open_month(self, month: date) -> int: ...

    def lapse_overdue(self, zone: tzinfo) -> int: ...


@dataclass(frozen=True)
class Upkeep:
    """What one round did."""

    opened: int
    lapsed: int


class LedgerKeeper:
    def __init__(
        self,
        ledger: LedgerStore,
        clock: Callable[[], datetime],
        zone: tzinfo,
        ready: asyncio.Event | None = None,
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.ledger = ledger
        self.clock = clock
        self.zone = zone
        self.ready = ready
        self.interval = interval_seconds

    async def run_once(self) -> Upkeep:
        """Open the current local month, then lapse what is overdue (in that order: the lapse
        rule reads the rows of the months before, which earlier rounds opened)."""
        month = month_of(self.clock().astimezone(self.zone).date())
        opened = await asyncio.to_thread(self.ledger.open_month, month)
        lapsed = await asyncio.to_thread(self.ledger.lapse_overdue, self.zone)
        if opened or lapsed:
            logger.info("ledger %s: %d rows opened, %d lapsed", month.isoformat(), opened, lapsed)
        if lapsed and self.ready is not None:
            self.ready.set()  # notifications are waiting in the outbox
        return Upkeep(opened, lapsed)

    async def run(self) -> None:
        """Until cancelled: a round now, then one every interval (bot.periodic.every)."""
        await every(
            self.interval,
            self.run_once,
            logger=logger,
            failure="ledger upkeep failed; retrying in an hour",
        )
