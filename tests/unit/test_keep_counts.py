"""The running bot folds the statistics' deltas into their totals (bot.background.keep_counts):
the reads sum a minute's deltas at most, not every change since the start."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot.background import COUNTS_INTERVAL, BackgroundWork, keep_counts


class Repository:
    def __init__(self) -> None:
        self.folds = 0

    def fold_counts(self) -> int:
        self.folds += 1
        return 0


async def test_the_loop_folds_now_and_then_every_interval() -> None:
    repository = Repository()
    task = asyncio.create_task(keep_counts(SimpleNamespace(repository=repository), 0.001))  # type: ignore[arg-type]
    for _ in range(2000):
        if repository.folds >= 3:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    assert repository.folds >= 3


def test_the_bot_runs_it_among_its_background_loops() -> None:
    assert "keep_counts" in BackgroundWork.loops.__code__.co_names
    assert 0 < COUNTS_INTERVAL <= 300  # a read sums at most a few minutes of deltas
