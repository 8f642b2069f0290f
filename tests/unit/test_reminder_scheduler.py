"""bot.reminders.ReminderScheduler: a round plans at the clock's time, wakes the delivery engine
only when it queued something, survives a failed round and runs every interval until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest

from bot.reminders import ReminderScheduler

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self, *results: list[str] | Exception) -> None:
        self.results = list(results)
        self.calls: list[datetime] = []

    def run_round(self, now: datetime) -> list[str]:
        self.calls.append(now)
        result = self.results.pop(0) if self.results else []
        if isinstance(result, Exception):
            raise result
        return result


async def test_a_round_wakes_the_engine_only_when_it_queued() -> None:
    ready = asyncio.Event()
    store = FakeStore([], ["reminder:x"])
    scheduler = ReminderScheduler(store, lambda: NOW, ready)
    assert await scheduler.run_once() == []
    assert not ready.is_set()
    assert await scheduler.run_once() == ["reminder:x"]
    assert ready.is_set() and store.calls == [NOW, NOW]


async def test_the_loop_survives_a_failed_round_and_repeats() -> None:
    store = FakeStore(RuntimeError("database down"), ["reminder:y"])
    ready = asyncio.Event()
    scheduler = ReminderScheduler(store, lambda: NOW, ready, interval_seconds=0.01)
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(ready.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(store.calls) >= 2


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReminderScheduler(FakeStore(), lambda: NOW, interval_seconds=0)
