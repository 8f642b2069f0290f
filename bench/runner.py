"""One measured run of one configuration: start the bot process, drive it, measure, clean up.

Configurations: ``echo`` (bench/echo_aiogram.py, the bare framework), ``sqlite`` (`peduli
webhook` on a fresh SQLite file) and ``postgres`` (`peduli webhook` on a PostgreSQL database
created for the run and dropped after it, with Redis: a key prefix of its own, deleted after),
all on aiogram; ``postgres2`` two `peduli webhook` processes sharing one PostgreSQL database,
Redis and DATA_KEY, the generator's POSTs alternating between them; ``echo-ptb``
(bench/echo_ptb.py), ``sqlite-ptb`` and ``postgres-ptb`` (`peduli
webhook` with TRANSPORT=ptb) the same on python-telegram-bot. A bot configuration's TRANSPORT is
its own: the environment's is not passed on.
The bot runs in a process of its own, so its CPU time (/proc/<pid>/stat) and peak memory
(/proc/<pid>/status VmHWM) are its alone; the fake Bot API and the generator share this one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import pstats
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from bench.fake_api import FakeBotApi
from bench.integrity import Findings, check_conversation
from bench.load import (
    Conversation,
    LoadGenerator,
    Outcome,
    PhaseResult,
    Step,
    asn_conversation,
    echo_conversation,
    percentile,
)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-token"
CONFIGS = {
    "echo": "aiogram echo (handle_in_background)",
    "echo-calls": "aiogram echo making this bot's Bot API calls",
    "sqlite": "this bot, SQLite",
    "postgres": "this bot, PostgreSQL + Redis",
    "echo-ptb": "python-telegram-bot echo (process_update)",
    "sqlite-ptb": "this bot on python-telegram-bot, SQLite",
    "postgres-ptb": "this bot on python-telegram-bot, PostgreSQL + Redis",
    "postgres2": "this bot, 2 processes, PostgreSQL + Redis",
    "postgres-port": "this bot, WEBHOOK_PROCESSES=2 on one address, PostgreSQL + Redis",
}
#: The framework (the bot's TRANSPORT) of each configuration.
FRAMEWORKS = {
    "echo": "aiogram",
    "echo-calls": "aiogram",
    "sqlite": "aiogram",
    "postgres": "aiogram",
    "echo-ptb": "ptb",
    "sqlite-ptb": "ptb",
    "postgres-ptb": "ptb",
    "postgres2": "aiogram",
    "postgres-port": "aiogram",
}
#: Bot processes behind the one webhook address (the generator's POSTs take them in turn);
#: they share the configuration's database, Redis and DATA_KEY.
PROCESSES = {"postgres2": 2}
#: Each multi-process configuration is read against this one-process one from the same run.
SINGLE_OF = {"postgres2": "postgres", "postgres-port": "postgres"}
#: Configurations run as one `peduli webhook` with WEBHOOK_PROCESSES (bot.processes): its
#: processes share one address, the kernel gives each connection to one of them.
WEBHOOK_PROCESSES = {"postgres-port": 2}
#: How long the fake Bot API is watched after the last reply for a late, second one.
SETTLE_SECONDS = 1.0
#: The bare echo bot of each framework: the bot's figures are read against it.
ECHO_OF = {"aiogram": "echo", "ptb": "echo-ptb"}
ECHO_MODULES = {
    "echo": "bench.echo_aiogram",
    "echo-calls": "bench.echo_aiogram",
    "echo-ptb": "bench.echo_ptb",
}
#: Echo configurations' own flags: `echo-calls` makes the bot's calls at each step.
ECHO_FLAGS = {"echo-calls": ["--like-bot"]}
POSTGRES_CONFIGS = frozenset({"postgres", "postgres-ptb", "postgres2", "postgres-port"})


def is_echo(key: str) -> bool:
    return key in ECHO_MODULES


def baseline_of(key: str) -> str:
    """The echo configuration of the framework `key` runs on."""
    return ECHO_OF[FRAMEWORKS[key]]


#: How long a bot process may take from start to its setWebhook call.
START_TIMEOUT = 120.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Options:
    rounds: int = 2
    configs: tuple[str, ...] = ("echo", "sqlite", "postgres")
    users: int = 16
    conversations: int = 16
    paced_rates: tuple[float, ...] = (25.0, 100.0)
    #: At least this long a paced phase: at 100/s its window then holds about 1,300 updates, so
    #: its p99 is the 13th slowest (4 s gave 700, and p99s that moved 2 x between rounds).
    paced_seconds: float = 10.0
    warmup: int = 2
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    redis_url: str = "redis://127.0.0.1:6379/14"
    profile_dir: Path | None = None
    log_level: str = "INFO"


@dataclass
class Usage:
    """CPU seconds (user + system) of a process, and of this one (the generator + fake API)."""

    bot: float
    driver: float


@dataclass
class Measured:
    phase: PhaseResult
    bot_cpu: float
    driver_cpu: float

    def summary(self) -> dict[str, Any]:
        latencies = self.phase.latencies()
        steps = sorted({t.step for o in self.phase.outcomes for t in o.turns})
        per_step = {
            step: {
                "p50_ms": _ms(percentile(self.phase.latencies(step), 0.50)),
                "p99_ms": _ms(percentile(self.phase.latencies(step), 0.99)),
            }
            for step in steps
        }
        updates = self.phase.updates
        measured, window = len(self.phase.measured_turns()), self.phase.measured_seconds
        return {
            "mode": self.phase.mode,
            "target_rate": self.phase.rate,
            "seconds": round(self.phase.seconds, 3),
            "conversations": len(self.phase.outcomes),
            "completed": self.phase.completed,
            "updates": updates,
            "redeliveries": self.phase.redeliveries,
            "window_seconds": round(window, 3),
            "window_updates": measured,
            "updates_per_s": round(measured / window, 2) if window else 0,
            "conversations_per_s": round(self.phase.completed / self.phase.seconds, 3)
            if self.phase.seconds
            else 0,
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p99_ms": _ms(percentile(latencies, 0.99)),
            "bot_cpu_ms_per_update": round(1000 * self.bot_cpu / updates, 3) if updates else None,
            "bot_cpu_share": round(self.bot_cpu / self.phase.seconds, 3)
            if self.phase.seconds
            else None,
            "driver_cpu_share": round(self.driver_cpu / self.phase.seconds, 3)
            if self.phase.seconds
            else None,
            "steps": per_step,
            "errors": [o.error for o in self.phase.outcomes if o.error][:5],
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 2)


# ------------------------------------------------------------------------- the process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the peak resident set) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


@dataclass
class BotProcess:
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def ready(self, api: FakeBotApi) -> None:
        """Wait for the bot's setWebhook (its server listens by then)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not api.webhook_set.is_set():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the bot process exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot process did not start in time:\n{self.log_tail()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(api.webhook_set.wait(), 0.2)

    async def stop(self) -> None:
        """SIGINT (a clean stop: a profile is written), SIGKILL if it does not stop."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


# ------------------------------------------------------------------------------ storage


@dataclass
class Storage:
    """Where one run of the bot keeps its data, made for it and removed after."""

    database_url: str
    redis_url: str | None = None
    redis_prefix: str | None = None
    admin_url: str | None = None
    database_name: str | None = None
    _stats_start: dict[str, int] = field(default_factory=dict)

    def pg_stats(self) -> dict[str, int] | None:
        """xact_commit, xact_rollback and sessions of the run's PostgreSQL database."""
        if self.admin_url is None:
            return None
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                row = connection.execute(
                    text(
                        "SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database "
                        "WHERE datname = :name"
                    ),
                    {"name": self.database_name},
                ).one()
        finally:
            engine.dispose()
        return {"xact_commit": row[0], "xact_rollback": row[1], "sessions": row[2]}

    def sponsorships(self) -> dict[int, list[str]]:
        """The stored sponsorships' references by the sponsor's Telegram user id."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT sp.user_id, s.reference FROM sponsorships s "
                        "JOIN sponsors sp ON s.sponsor_id = sp.id"
                    )
                ).all()
        finally:
            engine.dispose()
        stored: dict[int, list[str]] = {}
        for user_id, reference in rows:
            stored.setdefault(int(user_id), []).append(str(reference))
        return stored


@contextlib.contextmanager
def storage_for(key: str, options: Options, workdir: Path) -> Iterator[Storage]:
    if key not in POSTGRES_CONFIGS:
        yield Storage(f"sqlite:///{workdir / 'bench.sqlite3'}")
        return
    admin = make_url(options.postgres_url)
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin_url = admin.render_as_string(hide_password=False)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"bench:{name}:"
    try:
        yield Storage(
            admin.set(database=name).render_as_string(hide_password=False),
            redis_url=options.redis_url,
            redis_prefix=prefix,
            admin_url=admin_url,
            database_name=name,
        )
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
        _delete_redis_keys(options.redis_url, prefix)


def _delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


# ----------------------------------------------------------------------------------- run


def _command(key: str, api_url: str, listen: str, secret: str, profile: Path | None) -> list[str]:
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "bench.profiled", str(profile)]
    if is_echo(key):
        return [
            *python,
            "-m",
            ECHO_MODULES[key],
            "--api",
            api_url,
            "--listen",
            listen,
            # One argument: a token_urlsafe secret may begin with "-", which argparse would
            # take for an option after a separate "--secret" (the echo bot then exits at start).
            f"--secret={secret}",
            "--token",
            TOKEN,
            *ECHO_FLAGS.get(key, []),
        ]
    return [*python, *([] if profile else ["-m"]), "bot", "webhook"]


def _environment(
    key: str, storage: Storage, api_url: str, listen: str, secret: str, options: Options
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("BOT_", "DATABASE_", "REDIS_", "WEBHOOK_", "DATA_KEY", "ADMIN_", "TRANSPORT")
        )
    }
    env.update(
        TRANSPORT=FRAMEWORKS[key],
        PYTHONPATH=str(ROOT),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=storage.database_url,
        DATA_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        WEBHOOK_URL=f"http://{listen}",
        WEBHOOK_SECRET=secret,
        WEBHOOK_LISTEN=listen,
        LOG_LEVEL=options.log_level,
    )
    if storage.redis_url:
        env["REDIS_URL"] = storage.redis_url
        env["REDIS_PREFIX"] = storage.redis_prefix or "bench:"
    if key in WEBHOOK_PROCESSES:
        env["WEBHOOK_PROCESSES"] = str(WEBHOOK_PROCESSES[key])
    return env


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a `peduli webhook` with WEBHOOK_PROCESSES starts its
    servers as children), from /proc/<pid>/task/<pid>/children."""
    found = [pid]
    for each in found:
        try:
            listed = Path(f"/proc/{each}/task/{each}/children").read_text()
        except OSError:
            continue
        found += [int(child) for child in listed.split()]
    return found


async def _measure(
    pids: list[int], play: Callable[[], Any]
) -> Measured:  # play: a coroutine function returning a PhaseResult
    """The phase, with the CPU seconds of the bot processes (summed) and of this one."""
    bot_before, driver_before = sum(map(cpu_seconds, pids)), own_cpu_seconds()
    phase: PhaseResult = await play()
    bot = sum(map(cpu_seconds, pids)) - bot_before
    return Measured(phase, bot, own_cpu_seconds() - driver_before)


async def run_config(key: str, options: Options, round_no: int) -> dict[str, Any]:
    """Start the configuration's process, warm it up, run the phases, check, stop, clean."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{key}-"))
    api = FakeBotApi()
    api_url = await api.start()
    listen = f"127.0.0.1:{free_port()}"
    secret = secrets.token_urlsafe(24)
    profile = None
    if options.profile_dir is not None and not is_echo(key):
        options.profile_dir.mkdir(parents=True, exist_ok=True)
        profile = options.profile_dir / f"{key}-round{round_no}.prof"
    make = echo_conversation if is_echo(key) else asn_conversation
    result: dict[str, Any] = {"config": key, "label": CONFIGS[key], "round": round_no}
    try:
        with storage_for(key, options, workdir) as storage:
            env = _environment(key, storage, api_url, listen, secret, options)
            processes = []
            for number in range(PROCESSES.get(key, 1)):
                # Every process: the same storage and DATA_KEY, a listening address of its own.
                mine = listen if number == 0 else f"127.0.0.1:{free_port()}"
                own = {**env, "WEBHOOK_URL": f"http://{mine}", "WEBHOOK_LISTEN": mine}
                processes.append(
                    BotProcess(
                        _command(key, api_url, mine, secret, profile if number == 0 else None),
                        own,
                        workdir,
                        workdir / f"bot{number or ''}.log",
                    )
                )
            started = time.monotonic()
            webhooks: list[str] = []
            try:
                # One after the other: each runs the migrations and sets the webhook at start.
                for each in processes:
                    api.webhook_set.clear()
                    each.start()
                    await each.ready(api)
                    webhooks.append(f"http://{api.webhook_url.removeprefix('http://')}")
                result["start_seconds"] = round(time.monotonic() - started, 2)
                result["processes"] = WEBHOOK_PROCESSES.get(key, len(processes))
                result.update(await _drive(key, api, processes, options, make, storage, webhooks))
                result["bot_api_calls"] = bot_api_calls(api.calls, result["updates_total"])
                tree = [pid for each in processes for pid in process_tree(each.pid)]
                rss = [peak_rss_mb(pid) or 0.0 for pid in tree]
                result["peak_rss_mb"] = round(sum(rss), 1)
                if len(rss) > 1:
                    result["peak_rss_mb_each"] = rss
            finally:
                for each in processes:
                    await each.stop()
            failures = [o for o in result.pop("_outcomes") if not o.completed]
            if failures or not result["check"].get("integrity_clean", True):
                result["bot_log_tail"] = "\n".join(each.log_tail(15) for each in processes)
            if storage.admin_url is not None:
                # Read after the process stopped: its backends report their counts on exit.
                end = storage.pg_stats()
                assert end is not None
                updates = result["updates_total"]
                result["pg"] = {
                    **end,
                    "commits_per_update": round(end["xact_commit"] / updates, 2),
                    "rollbacks_per_update": round(end["xact_rollback"] / updates, 2),
                    "note": "whole run: start-up (migrations) and warm-up included",
                }
    finally:
        await api.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if profile is not None and profile.exists():
        result["profile"] = {"file": str(profile), "top": hotspots(profile)}
    return result


#: Calls a bot makes once, at start, not per update.
START_CALLS = frozenset({"getMe", "setWebhook", "deleteWebhook", "getWebhookInfo", "setMyCommands"})


def bot_api_calls(calls: dict[str, int], updates: int) -> dict[str, Any]:
    """The Bot API calls of the run (start-up's left out) by method, and per update."""
    per_update = {m: n for m, n in sorted(calls.items()) if m not in START_CALLS}
    total = sum(per_update.values())
    return {
        "per_update": round(total / updates, 3) if updates else None,
        "by_method": per_update,
    }


async def _drive(
    key: str,
    api: FakeBotApi,
    processes: list[BotProcess],
    options: Options,
    make: Callable[[int, int], Conversation],
    storage: Storage,
    webhooks: list[str],
) -> dict[str, Any]:
    # Every process of the bot: a WEBHOOK_PROCESSES parent's servers are its children.
    pids = [pid for each in processes for pid in process_tree(each.pid)]
    base = 7_000_000_000 + secrets.randbelow(1_000_000) * 1000
    index = 0
    outcomes = []
    phases: dict[str, Any] = {}
    async with LoadGenerator(api, webhooks, api.webhook_secret) as generator:
        if options.warmup:
            warm = await generator.run(make, index, options.warmup, 2, user_base=base)
            outcomes += warm.outcomes
            index += options.warmup
        if options.profile_dir is not None and not is_echo(key):
            # bench/profiled.py forgets start-up and warm-up: the profile is of the load alone.
            os.kill(pids[0], signal.SIGUSR1)
            await asyncio.sleep(0.5)

        count = options.conversations
        users = options.users

        async def saturated() -> PhaseResult:
            return await generator.run(make, index, count, users, user_base=base)

        measured = await _measure(pids, saturated)
        phases["saturated"] = measured.summary()
        outcomes += measured.phase.outcomes
        index += count
        for rate in options.paced_rates:
            steps = len(make(0, 0).steps)
            # Each user sends at most every 250 ms when the bot answers at once. The users start
            # `stagger` apart (one conversation's worth of slots each), so the pool is spread
            # over the conversation; the figures are those of the window in which all of them
            # play, --paced-seconds long: the conversations started in it besides the pool's.
            pool = max(2, round(rate / 4))
            stagger = steps / rate
            paced_count = 2 * pool + math.ceil(rate * options.paced_seconds / steps)

            async def paced(
                rate: float = rate,
                first: int = index,
                n: int = paced_count,
                pool: int = pool,
                stagger: float = stagger,
            ) -> PhaseResult:
                return await generator.run(
                    make, first, n, pool, user_base=base, rate=rate, stagger=stagger
                )

            measured = await _measure(pids, paced)
            phases[f"paced_{rate:g}"] = measured.summary()
            outcomes += measured.phase.outcomes
            index += paced_count
    played = len(outcomes)
    completed = sum(o.completed for o in outcomes)
    check: dict[str, Any] = {"conversations": played, "completed": completed}
    integrity = None
    if not is_echo(key):
        await asyncio.sleep(SETTLE_SECONDS)  # a second reply to the last update would come now
        integrity = integrity_check(api, outcomes, make(0, 0).steps)
        check.update(stored_check(outcomes, storage.sponsorships()))
        check["integrity_clean"] = integrity["clean"]
    else:
        check["all_stored"] = completed == played
    return {
        "phases": phases,
        "check": check,
        **({"integrity": integrity} if integrity is not None else {}),
        "updates_total": sum(len(o.turns) for o in outcomes),
        "_outcomes": outcomes,
        "first_errors": [o.error for o in outcomes if o.error][:3],
    }


def stored_check(outcomes: list[Outcome], stored: dict[int, list[str]]) -> dict[str, Any]:
    """How many conversations ended with their sponsorship in the database: played to the end,
    and the reference the bot showed is stored for that sponsor."""
    confirmed = sum(1 for o in outcomes if o.completed and o.reference in stored.get(o.user_id, []))
    return {
        "stored_sponsorships": confirmed,
        "invitation_links": sum(1 for o in outcomes if o.invitation_link),
        "all_stored": confirmed == len(outcomes),
    }


def integrity_check(
    api: FakeBotApi, outcomes: list[Outcome], steps: tuple[Step, ...]
) -> dict[str, Any]:
    """Lost, twice-handled and out-of-order updates over every played conversation, from the
    fake Bot API's logs (bench/integrity.py)."""
    found = Findings()
    for outcome in outcomes:
        found.merge(
            check_conversation(
                outcome.user_id,
                steps,
                outcome.turns,
                api.chat(outcome.user_id).events,
                api.callback_answers,
                completed=outcome.completed,
            )
        )
    return found.summary()


#: Where threads wait rather than work: left out of the hotspots and of the total.
IDLE = (
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
    "<method 'get' of '_queue.SimpleQueue' objects>",
    "<method 'control' of 'select.kqueue' objects>",
)


def hotspots(profile: Path, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The top of a pstats file of every thread (bench/profiled.py): ``own``, the functions with
    the most time of their own (tottime; idle waits left out, ``share`` is of the rest), and
    ``project``, the bot's own functions (bot/, flows/) by cumulative time. Times are wall time
    per thread: a worker thread waiting on SQLite's lock or PostgreSQL's answer counts."""
    stats = pstats.Stats(str(profile))
    table: dict[Any, Any] = {
        key: entry
        for key, entry in stats.stats.items()  # type: ignore[attr-defined]
        if key[2] not in IDLE
    }
    total = sum(entry[2] for entry in table.values()) or 1.0

    def row(key: Any, entry: Any) -> dict[str, Any]:
        file, line, name = key
        where = f"{file.split('/site-packages/')[-1].removeprefix(str(ROOT) + '/')}:{line}"
        return {
            "function": f"{where}({name})",
            "tottime_s": round(entry[2], 3),
            "share": round(entry[2] / total, 3),
            "cumtime_s": round(entry[3], 3),
            "calls": entry[1],
        }

    own = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    project = [
        (key, entry)
        for key, entry in table.items()
        if key[0].startswith((str(ROOT / "bot"), str(ROOT / "flows")))
        and key[2] not in ("<module>", "main", "run_webhook", "_webhook", "serve_webhook")
    ]
    project.sort(key=lambda item: item[1][3], reverse=True)
    found = {
        "own": [row(k, e) for k, e in own],
        "project": [row(k, e) for k, e in project[:limit]],
    }
    found["packages"] = by_package(table, total)
    loop = Path(f"{profile}.loop")
    if loop.exists():
        in_loop = hotspots(loop, limit)
        found["loop"] = in_loop["own"]
        found["loop_packages"] = in_loop["packages"]
    return found


def by_package(table: dict[Any, Any], total: float) -> list[dict[str, Any]]:
    """Own time summed by where the code lives: a site-packages distribution, the bot's
    packages, the standard library, or builtins (C functions: socket, sqlite3, os.urandom...)."""
    sums: dict[str, float] = {}
    for (file, _, _), entry in table.items():
        if "/site-packages/" in file:
            place = file.split("/site-packages/")[1].split("/")[0].removesuffix(".py")
        elif file.startswith(str(ROOT)):
            place = file.removeprefix(str(ROOT) + "/").split("/")[0]
        elif file == "~":
            place = "builtins (C)"
        else:
            place = "standard library"
        sums[place] = sums.get(place, 0.0) + entry[2]
    ranked = sorted(sums.items(), key=lambda item: item[1], reverse=True)[:12]
    return [
        {"package": p, "tottime_s": round(t, 2), "share": round(t / total, 3)} for p, t in ranked
    ]
