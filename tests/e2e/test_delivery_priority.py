"""The delivery engine with the real aiogram against the emulator enforcing Telegram's limits on
the real clock (30/s per bot, 1/s per chat): an announcement in progress never delays a reply
to the person talking to the bot, and the engine stays within its budget (no 429)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.db import create_db_engine, upgrade_database
from emulator.server import BotApiEmulator
from tests.e2e.harness import TOKEN, BotUnderTest, settings_for, sqlite_url
from tests.integration.delivery_kit import add_announcement, add_users, enqueue, set_status

ANNOUNCED = range(8001, 8301)  # 300 people: 15 s of the budget at 20/s
SPEAKER = 9001
BODY = "Pengumuman: pendaftaran ditutup akhir bulan"


@pytest.fixture
async def strict_emulator() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=3)  # real clock
    await emulator.start()
    yield emulator
    await emulator.stop()


def announcement_sends(emulator: BotApiEmulator) -> int:
    return sum(
        1
        for call in emulator.calls
        if call.method == "sendMessage" and call.ok and BODY in str(call.params.get("text"))
    )


@pytest.mark.slow
async def test_a_reply_goes_out_while_an_announcement_is_being_sent(
    strict_emulator: BotApiEmulator, tmp_path: Path
) -> None:
    emulator = strict_emulator
    # 20/s, not the default 25: the emulator counts sends as they arrive, and on a loaded 2-core
    # CI machine a batch sent late arrives beside the next one (6 over 30 in one second, seen
    # once on each transport). What this test is about is the reply's priority; the limits
    # themselves are measured by bench/broadcast.py.
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, broadcast_rate=20)
    upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    emulator.open_chats(ANNOUNCED)
    add_users(engine, ANNOUNCED)

    bot = BotUnderTest(settings, emulator=emulator)
    try:
        await bot.start()  # idle: the engine waits for work
        # Queued as /umumkan does: the rows first, then 'sending' (the bot's progress loop would
        # call a 'sending' announcement without rows done).
        announcement = add_announcement(engine, BODY, status="draft")
        enqueue(engine, "announcement", ANNOUNCED, announcement=announcement)
        set_status(engine, announcement, "sending")
        assert bot.built is not None
        bot.built.service.outbox_ready.set()  # as /umumkan does when it queues the rows
        await emulator.wait_until(
            lambda: announcement_sends(emulator) >= 50, 30, what="the announcement under way"
        )
        speaker = emulator.user(SPEAKER)
        await speaker.send_command("start")
        before = announcement_sends(emulator)
        await emulator.wait_until(lambda: bool(speaker.messages), 30, what="the reply")
        during = announcement_sends(emulator) - before
        # The reply did not queue behind the announcement: most of it was still to be sent,
        # and it came within about a second of the budget (20 messages), not after 250.
        assert announcement_sends(emulator) < len(ANNOUNCED) - 100
        assert during <= 30, during
        await emulator.wait_until(
            lambda: announcement_sends(emulator) == len(ANNOUNCED), 60, what="the announcement"
        )
        await asyncio.sleep(0.5)  # nothing more arrives
    finally:
        await bot.stop()
        engine.dispose()
    received = Counter(
        call.params["chat_id"]
        for call in emulator.calls
        if call.method == "sendMessage" and call.ok and BODY in str(call.params.get("text"))
    )
    assert received == dict.fromkeys(ANNOUNCED, 1)  # each person once
    assert emulator.flood_refusals == 0  # within Telegram's limits throughout
