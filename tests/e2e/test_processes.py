"""Real processes: `peduli run` killed mid-conversation and started again; the webhook server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
import pytest

from bot.app import build_service, serve_webhook
from emulator.models import ChatMessage
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.e2e.harness import (
    JOB,
    NOW,
    RELATIONSHIP,
    VALID_NIK,
    HandlingTracker,
    choose_job,
    environment_for_subprocess,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0  # importing aiogram takes seconds on a 2-core machine


def start_bot_process(env: dict[str, str], log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *(arguments or ("run",))],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def answers_recorded_delivered(database: Path, deadline: float = STARTUP) -> None:
    """Until the turn journal holds no answer still to send (read from the database file)."""

    def pending() -> int:
        with sqlite3.connect(database) as connection:
            row = connection.execute(
                "SELECT count(*) FROM processed_updates WHERE answer IS NOT NULL"
            ).fetchone()
        return int(row[0])

    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while await asyncio.to_thread(pending):
        assert loop.time() < until, "the bot never recorded its answer as delivered"
        await asyncio.sleep(0.02)  # polling a database state, not waiting for a bot turn


@pytest.mark.slow
async def test_bot_killed_mid_conversation_continues_at_the_same_step(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    env = environment_for_subprocess(settings)
    log = tmp_path / "bot.log"
    process = start_bot_process(env, log)
    try:
        user = emulator.user(7001, phone_number="+6281234567890")
        mark = user.mark()
        await user.send_command("start")
        welcome = await user.replies_counted(mark, 1, timeout=STARTUP)
        assert "Pilih bahasa" in texts(welcome), log.read_text()[-3000:]
        await sign_up_rest(user)
        await turn(user, user.press(RELATIONSHIP), 2)
        await turn(user, user.press(JOB), 2)
        assert "Ketik NIK" in texts(await turn(user, user.send_text("Ujang Suryana"), 1))
        # The answer reached the chat; wait until the bot also recorded it delivered, or the
        # restarted bot rightly sends it once more (tests/e2e/test_turn_crash_process.py).
        await answers_recorded_delivered(tmp_path / "peduli.sqlite3")

        os.killpg(process.pid, signal.SIGKILL)  # no shutdown, no cleanup: a crash
        process.wait(timeout=10)
        process = start_bot_process(env, log)

        mark = user.mark()
        await user.send_text(VALID_NIK)
        # The NIK message deleted, then the masked NIK shown and its confirmation asked.
        resumed = texts(await user.replies_counted(mark, 3, timeout=STARTUP))
        assert "3205********0001 menunjukkan" in resumed, log.read_text()[-3000:]
        assert emulator.rejections == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
    bot_log = log.read_text()
    assert VALID_NIK not in bot_log and "198503152010011001" not in bot_log


async def turn(user: FakeUser, action: Awaitable[object], count: int) -> list[ChatMessage]:
    """One turn of a bot in another process: the action, then exactly ``count`` bot events
    (no in-process signal says when that bot is done, so the test knows each turn's size)."""
    mark = user.mark()
    await action
    return await user.replies_counted(mark, count)


async def sign_up_rest(user: FakeUser) -> None:
    """sign_up without its /start (already sent while waiting for the process). A button press
    edits the message it was on away from its buttons (the first event of those turns)."""
    await turn(user, user.press("🇮🇩 Bahasa Indonesia"), 4)  # with the privacy notice
    await turn(user, user.send_text("198503152010011001"), 1)
    await turn(user, user.press("✅ Ya, benar"), 2)
    await turn(user, user.send_text("Dra. Siti Aminah"), 1)
    await turn(user, user.send_text("kesehatan"), 1)
    await turn(user, user.press("Dinas Kesehatan"), 2)
    done = await turn(user, user.tap("📱 Kirim nomor HP saya"), 3)
    assert "Apa hubungan Anda dengan pekerja" in texts(done)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_serves_the_conversation_and_refuses_a_wrong_secret(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    port = free_port()
    settings = settings_for(
        emulator.base_url,
        sqlite_url(tmp_path),
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_secret="s3cret_Token-1",
        webhook_listen=f"127.0.0.1:{port}",
    )
    built = await asyncio.to_thread(build_service, settings, clock=lambda: NOW)
    tracker = HandlingTracker(emulator, built.service)
    server = await serve_webhook(settings, on_handled=tracker.attach(), built=built)
    try:
        assert emulator.webhook_url == f"http://127.0.0.1:{port}/telegram/webhook"
        user = emulator.user(7101, phone_number="+6281234567890")
        await sign_up(user)
        # Every delivery carried the secret (the server answers 401 otherwise, as checked below).
        assert emulator.webhook_deliveries
        assert {d.status for d in emulator.webhook_deliveries} == {200}

        update = {
            "update_id": 999001,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 7101, "type": "private", "first_name": "X"},
                "from": {"id": 7101, "is_bot": False, "first_name": "X"},
                "text": "/batal",
            },
        }
        async with aiohttp.ClientSession() as http:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
                async with http.post(emulator.webhook_url, json=update, headers=headers) as answer:
                    assert answer.status == 401
        # Refused before the dispatcher: nothing was in flight, nothing was answered.
        assert emulator.bot_idle() and emulator.unreported_updates == []
        assert await user.replies_since(user.mark(), min_count=0) == []
        # The conversation was not cancelled by the forged /batal: the next answer continues it.
        assert "Ketik nama lengkap pekerja" in texts(await choose_job(user))
    finally:
        await server.stop()


@pytest.mark.slow
async def test_playground_runs_the_bot_without_a_token(tmp_path: Path) -> None:
    """`make run` without BOT_TOKEN: the bot and the emulator in one process, a chat page."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env["PLAYGROUND_DATABASE_URL"] = sqlite_url(tmp_path)
    env["DATA_KEY_FILE"] = str(tmp_path / "key")
    log = tmp_path / "playground.log"
    process = start_bot_process(env, log, "playground", "--port", str(port))
    base = f"http://127.0.0.1:{port}/_emulator"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(int(STARTUP * 4)):
                try:
                    async with http.get(base + "/") as page:
                        if page.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.25)
            async with http.post(base + "/users/501/command", json={"command": "start"}) as sent:
                assert sent.status == 200, await sent.text()
            # The page's own long poll: answers once the bot replied (the welcome).
            query = {"since": "0", "min_count": "1", "timeout": str(STARTUP)}
            async with http.get(base + "/users/501/replies", params=query) as answer:
                assert answer.status == 200, log.read_text()[-2000:]
                replies = (await answer.json())["replies"]
            welcome = " ".join(m["text"] or "" for m in replies)
            assert "Gerakan 1 ASN 1 Pekerja Rentan" in welcome, log.read_text()[-2000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
