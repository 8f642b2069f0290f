"""Fuzz: hypothesis-generated streams of updates through the production service, dispatcher and
transport, on real storage, against the Bot API emulator's validation.

After every example: no exception escaped, no turn crashed (nothing logged at ERROR, no apology
sent), every call the bot made was valid Bot API (the emulator refused none), and the stored data
keep their invariants (tests/fuzz/integrity.py).

`make test` runs a few thousand updates; `make fuzz` at least 100,000 (FUZZ_UPDATES) and prints
the figures: updates processed, updates per second, distinct steps reached.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings

from emulator.schema import BotApiSchema
from tests.fuzz.driver import Act, Driver, streams
from tests.fuzz.integrity import integrity_problems
from tests.fuzz.world import FailureLog, World, template_database

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
#: Updates per run: a few thousand in the normal test run, at least 100,000 under `make fuzz`.
TARGET_UPDATES = int(os.environ.get("FUZZ_UPDATES", "2000"))
#: A first guess of the updates one example feeds (streams of 20 to 150 acts, some after the deep
#: prefix); later batches use the figure measured.
UPDATES_PER_EXAMPLE = 60


@dataclass
class Figures:
    updates: int = 0
    examples: int = 0
    seconds: float = 0.0
    tolerated: int = 0
    steps: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)

    def report(self) -> str:
        rate = self.updates / self.seconds if self.seconds else 0.0
        return (
            f"fuzz: {self.updates} updates in {self.examples} examples, {self.seconds:.1f} s, "
            f"{rate:.0f} updates/s, {len(self.steps)} distinct steps reached; "
            f"{self.tolerated} 'not modified' edits tolerated\n"
            f"steps: {sorted(self.steps)}\n"
            f"updates not fed because of a known bug (tests/fuzz/driver.py KNOWN_BUGS): "
            f"{dict(self.skipped) or 'none'}"
        )


@pytest.fixture
def failure_log() -> Iterator[FailureLog]:
    handler = FailureLog()
    watched = [logging.getLogger(name) for name in ("bot", "aiogram", "flows")]
    for logger in watched:
        logger.addHandler(handler)
    quiet = logging.getLogger("aiogram.event")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # one INFO line per update otherwise
    yield handler
    quiet.setLevel(level)
    for logger in watched:
        logger.removeHandler(handler)


@pytest.fixture
def fast_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder in memory when the machine has one (SQLite commits there cost no disk sync)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="peduli-fuzz-") as folder:
        yield Path(folder)


@pytest.mark.timeout(120 + TARGET_UPDATES // 10)  # at least 10 updates a second, even loaded
def test_update_streams_never_crash_store_valid_rows_and_make_valid_calls(
    fast_folder: Path, failure_log: FailureLog
) -> None:
    tmp_path = fast_folder
    template = template_database(tmp_path)
    schema = BotApiSchema.load()
    figures = Figures()
    loop = asyncio.new_event_loop()

    async def one_example(stream: list[Act]) -> None:
        failure_log.records.clear()
        world = await World.create(tmp_path, template, schema, NOW)
        driver = Driver(world)
        try:
            await driver.run(stream)
            problems = world.violations() + integrity_problems(world.built.engine)
            if failure_log.records:
                problems.append("logged: " + failure_log.describe())
            assert not problems, "\n".join(problems)
        finally:
            figures.updates += world.updates
            figures.tolerated += world.tolerated_count()
            figures.steps |= driver.steps
            figures.skipped.update(driver.skipped)
            figures.examples += 1
            await world.close()

    def run_examples(count: int) -> None:
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(streams())
        def example(stream: list[Act]) -> None:
            loop.run_until_complete(one_example(stream))

        example()

    started = time.perf_counter()
    try:
        while figures.updates < TARGET_UPDATES:
            # Batches sized by the updates an example has fed so far, so that a run stops near the
            # target instead of running a whole batch more than it needs (which doubled it).
            fed = figures.updates / figures.examples if figures.examples else UPDATES_PER_EXAMPLE
            run_examples(max(1, math.ceil((TARGET_UPDATES - figures.updates) / max(fed, 1.0))))
    finally:
        figures.seconds = time.perf_counter() - started
        loop.close()
        print("\n" + figures.report())
    assert figures.updates >= TARGET_UPDATES
    # The streams reach deep states, not only the first questions.
    for deep in ("sponsorship.summary", "worker.review", "signup.phone"):
        assert deep in figures.steps, f"the fuzz never reached {deep}: {sorted(figures.steps)}"
