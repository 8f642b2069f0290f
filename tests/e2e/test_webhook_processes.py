"""WEBHOOK_PROCESSES: `peduli webhook` as several processes on one address (bot.processes).

A real parent process and its servers, the Bot API emulator delivering to the one webhook
address over as many connections as it needs (Telegram's max_connections), PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from bot.processes import several_processes_problem
from emulator.server import BotApiEmulator
from tests.e2e.harness import environment_for_subprocess, settings_for, sqlite_url, texts
from tests.e2e.test_processes import STARTUP, free_port, start_bot_process

ROOT = Path(__file__).resolve().parents[2]
SECRET = "several-Processes_1"
#: The access log's line of one webhook request, with the process that served it
#: (app.configure_logging names the process when there are several).
SERVED = re.compile(r"\[(\d+)\] aiohttp\.access: .*\"POST /telegram/webhook ")


def webhook_environment(settings_env: dict[str, str], port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in settings_env.items() if not k.startswith("WEBHOOK_")},
        "WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_PROCESSES": "2",
    }


def stores_environment(
    emulator: BotApiEmulator, postgres_url: str, redis_url: str, tmp_path: Path, port: int
) -> dict[str, str]:
    """Two processes on `port`, on the test's PostgreSQL schema and a Redis prefix of its own."""
    settings = settings_for(emulator.base_url, postgres_url, tmp_path, redis_url=redis_url)
    env = webhook_environment(environment_for_subprocess(settings), port)
    env["REDIS_PREFIX"] = f"t{uuid.uuid4().hex[:8]}:"
    return env


def test_several_processes_are_refused_without_postgresql_and_redis(tmp_path: Path) -> None:
    base = {"webhook_processes": 2}
    on_sqlite = settings_for("http://x", sqlite_url(tmp_path), tmp_path, **base)
    problem = several_processes_problem(on_sqlite)
    assert problem is not None and "needs PostgreSQL" in problem
    no_redis = settings_for("http://x", "postgresql+psycopg://h/db", tmp_path, **base)
    problem = several_processes_problem(no_redis)
    assert problem is not None and "needs Redis" in problem
    both = settings_for(
        "http://x", "postgresql+psycopg://h/db", tmp_path, redis_url="redis://h", **base
    )
    assert several_processes_problem(both) is None
    one = settings_for("http://x", sqlite_url(tmp_path), tmp_path)
    assert several_processes_problem(one) is None

    # The command says it and starts nothing. Its parent process (bot.processes.run_several)
    # only starts and stops the servers: it loads no framework, ORM or database driver.
    env = webhook_environment(environment_for_subprocess(on_sqlite), free_port())
    code = (
        "import sys; from bot.cli import main; status = main(['webhook']); "
        "print([m for m in sys.modules if m.split('.')[0] in HEAVY]); sys.exit(status)"
    ).replace("HEAVY", repr(("aiogram", "telegram", "sqlalchemy", "sqlmodel", "psycopg")))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "WEBHOOK_PROCESSES=2 needs PostgreSQL" in done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_processes_on_one_address_share_the_updates(
    emulator: BotApiEmulator, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = stores_environment(emulator, postgres_url, redis_url, tmp_path, port)
    env.update(LOG_LEVEL="DEBUG")
    log = tmp_path / "bot.log"
    parent = start_bot_process(env, log, "webhook")
    try:
        deadline = time.monotonic() + STARTUP
        while not emulator.webhook_url:
            assert parent.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        assert emulator.webhook_url == f"http://127.0.0.1:{port}/telegram/webhook"

        users = [emulator.user(8100 + n) for n in range(40)]
        marks = [user.mark() for user in users]
        # At once: the emulator delivers them over up to 40 connections, as Telegram does.
        await asyncio.gather(*(user.send_command("start") for user in users))
        for user, mark in zip(users, marks, strict=True):
            assert "Pilih bahasa" in texts(await user.replies_since(mark)), log.read_text()
    finally:
        os.killpg(parent.pid, signal.SIGTERM)
        code = await asyncio.to_thread(parent.wait, 60)
    printed = log.read_text()
    assert code == 0, printed
    served = Counter(SERVED.findall(printed))
    assert sum(served.values()) == 40, printed
    # Both processes served updates (the kernel gives each connection to one of them), and
    # neither is the parent, which only starts and stops them.
    assert len(served) == 2 and str(parent.pid) not in served, served
    assert printed.count("webhook registered") == 1
    assert "2 webhook processes on one address" in printed


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_process_that_cannot_start_stops_the_start_with_its_status(
    emulator: BotApiEmulator, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = stores_environment(emulator, postgres_url, redis_url, tmp_path, port)
    log = tmp_path / "bot.log"
    # The address is taken by a socket without SO_REUSEPORT: no process can listen there.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        parent = start_bot_process(env, log, "webhook")
        code = await asyncio.to_thread(parent.wait, STARTUP)
    printed = log.read_text()
    assert code not in (0, None), printed
    assert "a webhook process did not start; stopping the others" in printed
    assert not emulator.webhook_url  # nobody registered the webhook
