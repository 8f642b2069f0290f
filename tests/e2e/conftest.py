from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.server import BotApiEmulator
from tests.e2e.harness import TOKEN


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    """Telegram's limits, with a per-chat burst sized for a person's pace compressed into a test:
    a person answers every few seconds, a test every few milliseconds. The strict 1/s limit has
    its own test (test_rate_limits)."""
    emulator = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=40)
    await emulator.start()
    yield emulator
    await emulator.stop()
