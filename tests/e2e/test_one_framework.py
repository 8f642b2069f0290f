"""A bot process on one transport never imports the other framework (each costs seconds and a
hundred MB or more): `peduli run` on each transport, against the emulator, answers /start, and the
interpreter's own import log (python -X importtime) shows its framework and not the other."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bot.settings import TransportName
from emulator.server import BotApiEmulator
from tests.e2e.harness import environment_for_subprocess, settings_for, sqlite_url, texts
from tests.e2e.test_processes import STARTUP, start_bot_process

#: The top-level package of each transport's framework.
FRAMEWORK = {"aiogram": "aiogram", "ptb": "telegram"}


def imported_packages(log: str) -> set[str]:
    """Top-level packages in `python -X importtime`'s lines ("import time: 12 | 34 | a.b")."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


async def test_a_bot_process_loads_its_framework_only(
    emulator: BotApiEmulator, tmp_path: Path, transport: TransportName
) -> None:
    settings = settings_for(emulator.base_url or "", sqlite_url(tmp_path), tmp_path)
    env = environment_for_subprocess(settings) | {"PYTHONPROFILEIMPORTTIME": "1"}
    log = tmp_path / "bot.log"
    process = start_bot_process(env, log, "run", "--transport", transport)
    try:
        user = emulator.user(7801)
        mark = user.mark()
        await user.send_command("start")
        welcome = await user.replies_counted(mark, 1, timeout=STARTUP)
        assert "Pilih bahasa" in texts(welcome), log.read_text()[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)  # the emulator answers its last calls
    loaded = imported_packages(log.read_text())
    other = next(name for key, name in FRAMEWORK.items() if key != transport)
    assert FRAMEWORK[transport] in loaded  # the import log is read right
    assert other not in loaded
