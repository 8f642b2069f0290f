"""A stop that comes before polling began still stops it (a deploy's SIGTERM during start-up, a
test stopping the bot it just started): the runtime's poll returns at once, on each transport."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import build_service, create_runtime
from emulator.server import BotApiEmulator
from tests.e2e.harness import settings_for, sqlite_url
from tests.migrated import migrate


async def test_a_stop_before_polling_began_ends_it(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    await asyncio.to_thread(migrate, settings.database_url)
    built = await asyncio.to_thread(build_service, settings)
    assert settings.bot_token
    runtime = create_runtime(
        built.service, settings.bot_token, emulator.base_url, transport=settings.transport
    )
    try:
        await runtime.prepare()
        await runtime.stop_polling()  # before poll: aiogram's own stop_polling refuses then
        await asyncio.wait_for(runtime.poll(polling_timeout=1), 10)
    finally:
        await runtime.close()
        await built.aclose()
