"""Several webhook processes on one address (WEBHOOK_PROCESSES): the bot on every core.

One Python process runs its turns on one core at a time (the GIL). With WEBHOOK_PROCESSES=N,
`peduli webhook` migrates the database once, then starts N copies of itself (`peduli webhook
--serve-as K`), each listening on WEBHOOK_LISTEN with SO_REUSEPORT: the kernel gives each new
connection Telegram opens (up to setWebhook's max_connections, 40 by default) to one of them.
They share PostgreSQL and Redis, which already make two processes safe (the user's lock and the
turn journal are in them; bench `postgres2`); SQLite and the in-process locks do not, so more
than one process is refused without them.

The last process to start registers the webhook, once the others listen: connections Telegram
opens earlier would all reach the first. A process that ends stops the others; SIGINT and
SIGTERM are passed on to all. Linux, and any system with SO_REUSEPORT.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from bot.settings import Settings, TransportName, webhook_problem

logger = logging.getLogger(__name__)

#: How long a process may take to listen (imports, the data key's check) before the start fails.
START_SECONDS = 120.0
#: The variable naming the pipe a process writes one byte to once it listens.
READY_FD = "PEDULI_READY_FD"


def log_format(several_processes: bool) -> str:
    """The bot's log line; with several processes (they share the parent's stderr) each line
    names its process."""
    process = "[%(process)d] " if several_processes else ""
    return f"%(asctime)s %(levelname)s {process}%(name)s: %(message)s"


def several_processes_problem(settings: Settings) -> str | None:
    """Why WEBHOOK_PROCESSES > 1 cannot run with these settings, or None."""
    if settings.webhook_processes <= 1:
        return None
    if settings.database_url.startswith("sqlite"):
        return (
            f"WEBHOOK_PROCESSES={settings.webhook_processes} needs PostgreSQL (DATABASE_URL): the "
            "processes share one database, and SQLite takes one writer at a time.\n"
            "Set WEBHOOK_PROCESSES=1, or DATABASE_URL to a PostgreSQL database."
        )
    if not settings.redis_url:
        return (
            f"WEBHOOK_PROCESSES={settings.webhook_processes} needs Redis (REDIS_URL): a user's "
            "updates may reach any process, and only Redis keeps one turn per user at a time "
            "across them.\nSet WEBHOOK_PROCESSES=1, or REDIS_URL."
        )
    return None


def run_several(*, insecure_no_secret: bool, transport: TransportName | None) -> int | None:
    """`peduli webhook` with WEBHOOK_PROCESSES > 1: the checks, the migration (a `peduli db
    upgrade` of its own), then the servers (`supervise`); None when WEBHOOK_PROCESSES is 1.
    This parent imports no framework, database driver or ORM: it only starts and stops."""
    settings = Settings()
    if transport is not None:
        settings = settings.model_copy(update={"transport": transport})
    if settings.webhook_processes <= 1:
        return None
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=log_format(several_processes=True),
        stream=sys.stderr,
    )
    problem = webhook_problem(settings, insecure_no_secret=insecure_no_secret)
    problem = problem or several_processes_problem(settings)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    migrated = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], check=False)
    if migrated.returncode != 0:
        return migrated.returncode
    options = ["--insecure-no-secret"] if insecure_no_secret else []
    return supervise(settings.webhook_processes, [*options, "--transport", settings.transport])


def child_command(index: int, arguments: Sequence[str]) -> list[str]:
    """`peduli webhook` as process `index`, with the parent's own options."""
    return [sys.executable, "-m", "bot", "webhook", f"--serve-as={index}", *arguments]


def notify_ready() -> None:
    """Tell the parent this process listens (nothing when it was not started by one)."""
    fd = os.environ.get(READY_FD)
    if fd is None:
        return
    try:
        os.write(int(fd), b"1")
        os.close(int(fd))
    except OSError:  # the parent is gone: it stops this process anyway
        pass
    os.environ.pop(READY_FD, None)


def _wait_ready(read_fd: int, count: int, children: list[subprocess.Popen[bytes]]) -> bool:
    """True once `count` processes said they listen; False when one ended or time ran out."""
    deadline = time.monotonic() + START_SECONDS
    said = 0
    while said < count:
        left = deadline - time.monotonic()
        if left <= 0 or any(child.poll() is not None for child in children):
            return False
        readable, _, _ = select.select([read_fd], [], [], min(left, 0.5))
        if readable:
            said += len(os.read(read_fd, count - said))
    return True


def supervise(count: int, arguments: Sequence[str]) -> int:
    """Start `count` webhook processes, the registering one last; return when they end."""
    children: list[subprocess.Popen[bytes]] = []
    stopping: list[int] = []

    def stop(number: int, _frame: FrameType | None) -> None:
        stopping.append(number)
        for child in children:
            if child.poll() is None:
                child.send_signal(number)

    previous = {n: signal.signal(n, stop) for n in (signal.SIGINT, signal.SIGTERM)}
    read_fd, write_fd = os.pipe()
    try:
        env = {**os.environ, READY_FD: str(write_fd)}
        # Processes 1..N-1 first; process 0 registers the webhook once they listen.
        for index in range(1, count):
            children.append(
                subprocess.Popen(child_command(index, arguments), env=env, pass_fds=(write_fd,))
            )
        code = 0
        if not _wait_ready(read_fd, count - 1, children):
            if not stopping:  # not stopped by a signal: one failed (its status) or was too slow
                code = next((child.returncode for child in children if child.returncode), 1)
                logger.error("a webhook process did not start; stopping the others")
                stop(signal.SIGTERM, None)
        elif not stopping:
            children.append(subprocess.Popen(child_command(0, arguments)))
            logger.info("%d webhook processes on one address", count)
        while children:
            ended = next((child for child in children if child.poll() is not None), None)
            if ended is None:
                time.sleep(0.2)
                continue
            children.remove(ended)
            if not stopping:  # one ended by itself: the others stop too
                code = ended.returncode or 1
                logger.error("a webhook process ended (%s); stopping the others", ended.returncode)
                stop(signal.SIGTERM, None)
        return code
    finally:
        os.close(read_fd)
        os.close(write_fd)
        for number, handler in previous.items():
            signal.signal(number, handler)
