"""`python -m bench.broadcast` (`make bench-broadcast`): an announcement to many people through
the project's Bot API emulator, which enforces Telegram's limits (30 messages a second per bot,
1 a second per chat, 429 beyond), sent by real `peduli run` processes on PostgreSQL + Redis.

Scenarios (each on a fresh database, the emulator in this process, the bots in their own):
  plain  one bot process: achieved rate, the limit, their ratio (goal >= 0.95)
  kill   the same, with a kill -9 of the bot in the middle and a restart: nothing lost, nothing
         repeated; the rows in flight at the kill are counted as unknown
  two    two bot processes sharing PostgreSQL and Redis: the ratio holds (not doubled)
  paid   PAID_BROADCAST=1 against the emulator's paid limit (1000/s): messages a second
Figures only, no pass/fail: duplicates and lost should be 0, 429s 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from emulator.server import BotApiEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-broadcast"
BODY = "<b>Pengumuman</b> kampanye Peduli Pekerja: daftarkan pekerja Anda sebelum akhir bulan."
FIRST_USER = 5_000_000
START_TIMEOUT = 120.0


@dataclass
class Options:
    recipients: int = 10_000
    scenarios: tuple[str, ...] = ("plain", "kill", "two", "paid")
    rate: float = 30.0  # the bot's budget for the free scenarios (BROADCAST_RATE)
    limit: float = 30.0  # the emulator's global limit
    paid_rate: float = 1000.0
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    redis_url: str = "redis://127.0.0.1:6379/14"
    profile: Path | None = None  # write the bot's cProfile here (bench.profiled)
    log: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "bench-broadcast.log")


@dataclass
class Sends:
    """What the emulator accepted: (time, chat) per announcement message."""

    times: list[float] = field(default_factory=list)
    chats: list[int] = field(default_factory=list)

    def rate(self, start: int = 0, end: int | None = None) -> float:
        times = self.times[start:end]
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


@contextlib.contextmanager
def database(options: Options) -> Iterator[str]:
    admin = make_url(options.postgres_url)
    name = f"bench_bc_{os.getpid()}_{secrets.token_hex(3)}"
    engine = create_engine(
        admin.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def prepare(url: str, recipients: range) -> None:
    """The people (who started the bot), an announcement being sent, one row each."""
    from bot.storage.db import create_db_engine, upgrade_database

    upgrade_database(url)
    engine = create_db_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        announcement = connection.execute(
            text(
                "INSERT INTO announcements (author_user_id, channel, scope, audience, body,"
                " status, paid_broadcast, created_at) VALUES (1, 'cli', 'all', 'everyone',"
                " :body, 'sending', false, :now) RETURNING id"
            ),
            {"body": BODY, "now": now},
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO telegram_users (user_id, chat_id, language, created_at, updated_at)"
                " VALUES (:u, :u, 'id', :now, :now)"
            ),
            [{"u": u, "now": now} for u in recipients],
        )
        connection.execute(
            text(
                "INSERT INTO outbox (dedupe_key, recipient_user_id, kind, priority,"
                " announcement_id, created_at, attempts, claims)"
                " VALUES (:key, :u, 'announcement', 2, :a, :now, 0, 0)"
            ),
            [{"key": f"bench:{u}", "u": u, "a": announcement, "now": now} for u in recipients],
        )
    engine.dispose()


def outcomes(url: str) -> Counter[str | None]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT outcome, count(*) FROM outbox GROUP BY 1"))
            return Counter({outcome: int(count) for outcome, count in found.all()})
    finally:
        engine.dispose()


def unknown_recipients(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT recipient_user_id FROM outbox WHERE outcome = 'unknown'")
            )
            return {int(user) for (user,) in found.all()}
    finally:
        engine.dispose()


def environment(url: str, api_url: str, options: Options, paid: bool) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_", "REDIS_", "WEBHOOK_", "DATA_KEY", "ADMIN_"))
        and k not in ("BROADCAST_RATE", "PAID_BROADCAST")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=url,
        DATA_KEY=base64.b64encode(b"b" * 32).decode(),
        REDIS_URL=options.redis_url,
        REDIS_PREFIX=f"bench-bc:{secrets.token_hex(3)}:",
        LOG_LEVEL="WARNING",
    )
    if paid:
        env["PAID_BROADCAST"] = "1"
    else:
        env["BROADCAST_RATE"] = f"{options.rate:g}"
    return env


def start_bot(
    env: dict[str, str], log: Path, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    profiled = ["-m", "bench.profiled", str(profile)] if profile else ["-m"]
    return subprocess.Popen(
        [sys.executable, *profiled, "bot", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def run_scenario(name: str, options: Options) -> dict[str, Any]:
    paid = name == "paid"
    recipients = range(FIRST_USER, FIRST_USER + options.recipients)
    emulator = BotApiEmulator(
        TOKEN,
        per_chat_rate=1.0,
        per_chat_burst=1,
        global_rate=options.limit,
        global_burst=int(options.limit),
        paid_rate=options.paid_rate,
        paid_burst=int(options.paid_rate),
    )
    sends = Sends()
    original = emulator._handlers["sendMessage"]

    async def send_message(params: dict[str, Any]) -> Any:
        result = await original(params)  # raises on 429/403: not counted
        sends.times.append(time.monotonic())
        sends.chats.append(int(params["chat_id"]))
        return result

    emulator._handlers["sendMessage"] = send_message
    # The emulator keeps every message: fine for the counts here, and what a test kit does.
    emulator.open_chats(recipients)
    api_url = await emulator.start()
    processes: list[subprocess.Popen[bytes]] = []
    kill_at: int | None = None
    restart_at: int | None = None
    cpu: dict[str, float] = {}
    try:
        with database(options) as url:
            await asyncio.to_thread(prepare, url, recipients)
            env = environment(url, api_url, options, paid)
            count = 2 if name == "two" else 1
            processes = [start_bot(env, options.log, options.profile) for _ in range(count)]
            started = time.monotonic()
            total = len(recipients)
            while True:
                await asyncio.sleep(0.2)
                if name == "kill" and kill_at is None and len(sends.times) >= total // 2:
                    for process in processes:
                        stop(process, signal.SIGKILL)
                    kill_at = len(sends.times)
                    processes = [start_bot(env, options.log)]
                    restart_at = len(sends.times)
                settled = await asyncio.to_thread(outcomes, url)
                if settled.get(None, 0) == 0:
                    break
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError(f"a bot process ended; see {options.log}")
                limit = START_TIMEOUT + 10 * total / (options.paid_rate if paid else options.rate)
                if time.monotonic() - started > limit:
                    raise RuntimeError(f"not finished in {limit:.0f} s; see {options.log}")
            for process in processes:
                cpu[str(process.pid)] = _cpu_seconds(process.pid)
                if options.profile:
                    stop(process, signal.SIGINT)  # bench.profiled writes its file
            final = await asyncio.to_thread(outcomes, url)
            in_doubt = await asyncio.to_thread(unknown_recipients, url)
    finally:
        for process in processes:
            stop(process)
        await emulator.stop()
    received = Counter(sends.chats)
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    # Lost: nobody received it and no outcome accounts for it (unknown rows are in doubt).
    lost = sum(1 for chat in recipients if chat not in received and chat not in in_doubt)
    limit = options.paid_rate if paid else options.limit
    segments = [(0, len(sends.times))]
    if kill_at is not None and restart_at is not None:
        segments = [(0, kill_at), (restart_at, len(sends.times))]
    sending = sum(sends.times[end - 1] - sends.times[start] for start, end in segments)
    rate = (sum(end - start for start, end in segments) - len(segments)) / sending
    return {
        "scenario": name,
        "recipients": total,
        "bot processes": 2 if name == "two" else 1,
        "budget": "PAID_BROADCAST=1" if paid else f"BROADCAST_RATE={options.rate:g}",
        "limit /s": limit,
        "achieved /s": round(rate, 1),
        "ratio": round(rate / limit, 3),
        "sent": final.get("sent", 0),
        "unknown": final.get("unknown", 0),
        "duplicates": duplicates,
        "lost": lost,
        "429s": emulator.flood_refusals,
        "seconds sending": round(sending, 1),
        "bot CPU s": {pid: round(s, 1) for pid, s in cpu.items()},
    }


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse(argv: list[str] | None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__)
    parser.add_argument("--recipients", type=int, default=defaults.recipients)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("plain", "kill", "two", "paid"),
        help="run only these (repeatable); default: all four",
    )
    parser.add_argument("--rate", type=float, default=defaults.rate, help="BROADCAST_RATE")
    parser.add_argument("--limit", type=float, default=defaults.limit, help="emulator's limit")
    parser.add_argument("--paid-rate", type=float, default=defaults.paid_rate)
    parser.add_argument("--postgres-url", default=defaults.postgres_url)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    parser.add_argument("--profile", type=Path, help="cProfile the bot process into this file")
    args = parser.parse_args(argv)
    return Options(
        recipients=args.recipients,
        scenarios=tuple(args.scenario or defaults.scenarios),
        rate=args.rate,
        limit=args.limit,
        paid_rate=args.paid_rate,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    # Two polling processes make the emulator refuse one's getUpdates (409) over and over:
    # expected here (production runs several processes on the webhook), not worth a line each.
    logging.getLogger("emulator").setLevel(logging.CRITICAL)
    print(f"bot logs: {options.log}", flush=True)
    for name in options.scenarios:
        result = asyncio.run(run_scenario(name, options))
        print(" | ".join(f"{key}: {value}" for key, value in result.items()), flush=True)
    if options.profile:
        import pstats

        stats = pstats.Stats(str(options.profile))
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
