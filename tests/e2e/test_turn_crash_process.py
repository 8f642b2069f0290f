"""A real `peduli run` that dies right after saving (bot.faults: "turn.after_commit"), under long
polling: the restarted bot answers the saved turn once, and nothing is saved twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.faults import EXIT_STATUS, FAULT_ENV
from bot.storage.db import create_db_engine
from bot.storage.models import Sponsorship
from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    environment_for_subprocess,
    register_worker,
    settings_for,
    sqlite_url,
    texts,
)
from tests.e2e.test_processes import STARTUP, sign_up_rest, start_bot_process


@pytest.mark.slow
async def test_bot_dying_right_after_simpan_answers_it_once_after_restart(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    env = environment_for_subprocess(settings)
    log = tmp_path / "bot.log"
    process = start_bot_process(env, log)
    try:
        user = emulator.user(7601, phone_number="+6281234567890")
        mark = user.mark()
        await user.send_command("start")
        assert "Pilih bahasa" in texts(await user.replies_since(mark, timeout=STARTUP))
        await sign_up_rest(user)
        await register_worker(user)
        os.killpg(process.pid, signal.SIGTERM)
        await asyncio.to_thread(process.wait, STARTUP)

        process = start_bot_process({**env, FAULT_ENV: "turn.after_commit"}, log)
        pressed = user.mark()
        await user.press("💾 Simpan")  # the first update this process handles: it dies there
        assert await asyncio.to_thread(process.wait, STARTUP) == EXIT_STATUS, log.read_text()
        assert "Tersimpan" not in texts(await user.replies_since(pressed, min_count=0, timeout=1))

        process = start_bot_process(env, log)  # long polling: the press is not delivered again
        mark = user.mark()
        await user.send_command("status")
        status = texts(await user.replies_since(mark, min_count=2, timeout=STARTUP))
        assert "Ujang Suryana" in status, log.read_text()[-3000:]
        everything = texts(await user.replies_since(pressed, min_count=0, timeout=1))
        assert everything.count("Tersimpan") == 1, everything
        # The whole answer, once: the statement's PDF and the invitation after "Tersimpan" (with the
        # message to forward). Waited for before stopping the bot: a stop during an
        # upload left the python-telegram-bot process waiting (see the texts report).
        rest = await user.replies_since(pressed, min_count=6, timeout=STARTUP)
        assert [m.document.filename for m in rest if m.document is not None] == [
            f"pernyataan-potong-gaji-{reference_of(everything)}.pdf"
        ]
        assert sum((m.text or "").startswith("Halo Ujang Suryana") for m in rest) == 1
        assert everything.index("Tersimpan") < everything.index(
            "Ujang Suryana", everything.index("Tersimpan")
        )
        engine = create_db_engine(settings.database_url)
        try:
            with engine.connect() as connection:
                assert connection.scalar(select(func.count()).select_from(Sponsorship)) == 1
        finally:
            engine.dispose()
        assert emulator.rejections == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


def reference_of(shown: str) -> str:
    found = re.search(r"PR-[A-Z0-9]{6}", shown)
    assert found, shown
    return found.group(0)
