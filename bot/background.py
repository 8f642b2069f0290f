"""What a running bot does beside answering updates, whatever framework receives them: the
delivery engine (notifications, reminders, announcements), the ledger's upkeep, the reminder
rounds and the announcements' progress messages. Each transport hands over its Transport; the
work is the same on aiogram and python-telegram-bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from bot.announcements import ProgressReporter, render_announcement
from bot.delivery.budget import RateBudget, budget_key
from bot.delivery.contracts import AnnouncementRenderer, ReminderGate
from bot.delivery.engine import DeliveryEngine
from bot.ledger import LedgerKeeper, rounds_of
from bot.periodic import every
from bot.reminders import ReminderScheduler
from bot.service import ConversationService
from bot.storage.reminders import Zones
from bot.transport import Transport

logger = logging.getLogger(__name__)

COUNTS_INTERVAL = 60.0
"""Seconds between two folds of the statistics' kept counts (bot.storage.counts): the deltas a
read sums besides the totals stay a minute's worth."""


async def keep_counts(service: ConversationService, interval: float = COUNTS_INTERVAL) -> None:
    """Until cancelled: the statistics' deltas folded into their totals now and every
    `interval` seconds (Repository.fold_counts; several processes may: one folds at a time)."""

    async def fold() -> int:
        return await asyncio.to_thread(service.repository.fold_counts)

    await every(interval, fold, logger=logger, failure="folding the statistics' counts failed")


def ledger_keeper(service: ConversationService) -> LedgerKeeper:
    """The ledger's periodic upkeep (bot.ledger), beside the delivery engine: one round per
    time zone of the deployment, so each regency's month opens at its own midnight."""
    return LedgerKeeper(
        service.repository.ledger,
        service.clock,
        service.programme.timezone,
        ready=service.outbox_ready,
        rounds=rounds_of(service.programme),
    )


def reminder_scheduler(service: ConversationService) -> ReminderScheduler:
    """The reminder scheduler (bot.reminders), beside the ledger keeper; it wakes the outbox."""
    zones = Zones.of(service.programme.catalog, service.programme.timezone)
    return ReminderScheduler(
        service.repository.reminders(zones),
        service.clock,
        ready=service.outbox_ready,
        interval_seconds=service.reminder_interval,
    )


def announcement_progress(service: ConversationService, transport: Transport) -> ProgressReporter:
    """The announcements' progress messages (bot.announcements), beside the outbox."""
    return ProgressReporter(
        service.repository.announcements,
        transport,
        superadmins=service.admin_ids,
        rate=service.delivery_rate,  # the time left, at the engine's budget
    )


def delivery_engine(
    service: ConversationService,
    transport: Transport,
    *,
    token: str = "",
    renderer: AnnouncementRenderer = render_announcement,
    reminder_gate: ReminderGate | None = None,
) -> DeliveryEngine:
    """The one delivery engine (bot.delivery) on the service's rate budget: the outbox's
    notifications, reminders (each re-checked by the reminder gate right before it is sent)
    and announcements (worded as their authors previewed them)."""
    if reminder_gate is None:
        reminder_gate = service.repository.reminder_gate()
    budget = service.budget or RateBudget(budget_key(token), service.delivery_rate)
    return DeliveryEngine(
        service.repository.delivery,
        transport,
        service.outbox_ready,
        budget,
        renderer=renderer,
        reminder_gate=reminder_gate,
        paid_broadcast=service.paid_broadcast,
    )


class BackgroundWork:
    """The background loops of one bot process, started together and stopped together."""

    def __init__(self, service: ConversationService, transport: Transport) -> None:
        self.service = service
        self.transport = transport
        self._tasks: list[asyncio.Task[None]] = []

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        return [
            delivery_engine(self.service, self.transport).run(),
            ledger_keeper(self.service).run(),
            reminder_scheduler(self.service).run(),
            announcement_progress(self.service, self.transport).run(),
            keep_counts(self.service),
        ]

    def start(self) -> BackgroundWork:
        if not self._tasks:
            self._tasks = [asyncio.create_task(loop) for loop in self.loops()]
        return self

    async def stop(self) -> None:
        """Cancel the loops, the progress messages first and the delivery engine last (it lets
        its batches in flight finish: bot.delivery.engine)."""
        for task in reversed(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
