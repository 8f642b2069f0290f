"""examples/ptb_host.py, run as it is (its own process, real HTTP) against the Bot API
emulator: the host's /halo is answered by the host alone, and the flows answer /start and their
buttons in the same chat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from emulator.server import BotApiEmulator
from tests.e2e.harness import TOKEN, environment_for_subprocess, settings_for, sqlite_url, texts

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0  # importing python-telegram-bot and building the service, on a busy machine


def start_example(env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "ptb_host.py")],
        cwd=cwd,  # no .env of the checkout: the settings are the test's
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def test_the_host_keeps_its_command_and_the_flows_answer_theirs(tmp_path: Path) -> None:
    emulator = BotApiEmulator(TOKEN, per_chat_burst=20)
    await emulator.start()
    settings = settings_for(emulator.base_url or "", sqlite_url(tmp_path), tmp_path)
    log = tmp_path / "host.log"
    process = start_example(environment_for_subprocess(settings), log, tmp_path)
    try:
        user = emulator.user(7901)
        mark = user.mark()
        await user.send_command("halo")
        greeting = await user.replies_counted(mark, 1, timeout=STARTUP)
        assert texts(greeting) == "Halo! Ini perintah bot tuan rumah sendiri.", log.read_text()

        mark = user.mark()
        await user.send_command("start")
        assert "Pilih bahasa" in texts(await user.replies_counted(mark, 1))
        mark = user.mark()
        await user.press("🇮🇩 Bahasa Indonesia")
        assert "Ketik NIP" in texts(await user.replies_counted(mark, 4))

        # Updates are handled in order here: the flows' turns being over, /halo's is too, and
        # it had one answer, the host's (without the yield rule the flows would add "unknown
        # command" to it).
        start = next(m.message_id for m in user.history if m.text == "/start")
        before = [m.text for m in user.history if m.from_bot and m.message_id < start]
        assert before == ["Halo! Ini perintah bot tuan rumah sendiri."]
        assert emulator.rejections == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:  # the emulator (this event loop) answers the host's last calls meanwhile
            status = await asyncio.to_thread(process.wait, 20)
        finally:
            await emulator.stop()
    logged = log.read_text()
    assert status == 0, logged[-3000:]
    assert "Traceback" not in logged and " ERROR " not in logged, logged[-3000:]
