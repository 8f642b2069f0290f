from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.settings import TRANSPORT_NAMES, TransportName
from emulator.server import BotApiEmulator
from tests.e2e import harness
from tests.e2e.harness import TOKEN

#: How much of a person's time one action (a message sent, a button pressed) stands for.
SECONDS_PER_ACTION = 3.0


class PersonPacedClock:
    """The flood limits' clock in end-to-end tests: real time plus a few seconds for every update
    a user has sent. A person answers every few seconds; a test answers every few milliseconds,
    and on a fast machine a long conversation would otherwise run out of Telegram's per-chat
    allowance through no fault of the bot. The strict 1/s limit on the real clock has its own
    test (test_robustness)."""

    def __init__(self) -> None:
        self.emulator: BotApiEmulator | None = None

    def __call__(self) -> float:
        actions = len(self.emulator.updates) if self.emulator is not None else 0
        return time.monotonic() + SECONDS_PER_ACTION * actions


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    clock = PersonPacedClock()
    emulator = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=20, clock=clock)
    clock.emulator = emulator
    await emulator.start()
    yield emulator
    await emulator.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every end-to-end test runs on each transport (aiogram, python-telegram-bot), unless it is
    marked @pytest.mark.transports("aiogram") for what only one framework has."""
    if "transport" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("transports")
        names = marker.args if marker is not None else TRANSPORT_NAMES
        metafunc.parametrize("transport", names)


@pytest.fixture(autouse=True)
def transport_under_test(transport: TransportName) -> Iterator[TransportName]:
    """The test's transport: settings_for (and so BotUnderTest, serve_webhook and the bot
    processes' TRANSPORT) use it."""
    harness.TRANSPORT_UNDER_TEST = transport
    yield transport
    harness.TRANSPORT_UNDER_TEST = "aiogram"
