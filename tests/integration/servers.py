"""Throwaway Redis and PostgreSQL servers that a test starts, kills, restarts, stops and resumes.

Signals go to the server and every process it started (PostgreSQL's backends leave the
postmaster's process group, so the tree is read from /proc): SIGKILL takes them all at once (a
restart then recovers like after a power cut) and SIGSTOP freezes them all (a hung server:
connections stay open, nothing answers). PostgreSQL refuses to run as
root, so when the tests run as root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

STARTUP = 60.0  # seconds to wait for a server to accept connections; reached only on failure


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tree(root: int) -> list[int]:
    """root and its descendants, parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _signal_tree(root: int, signum: int) -> None:
    for pid in _tree(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)  # polling a port for a server to start, not waiting for a bot turn
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


class Server:
    """A server process that can be killed, restarted, stopped and resumed."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def user(self) -> str | None:
        return None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self.user(),
        )
        self._ready()

    def _ready(self) -> None:
        assert self.process is not None
        _wait_for_port(self.port, self.process, self.log)

    def kill(self) -> None:
        """A crash: SIGKILL to the server and its children."""
        assert self.process is not None
        family = _tree(self.process.pid)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        for pid in family[1:]:  # not our children: wait until they are gone from /proc
            deadline = time.monotonic() + STARTUP
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)

    def restart(self) -> None:
        self.start()

    def freeze(self) -> None:
        """A hung server: SIGSTOP; connections stay open and nothing answers."""
        assert self.process is not None
        _signal_tree(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        _signal_tree(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.kill()


class RedisServer(Server):
    """redis-server with an append-only file synced on every write, so a restart after SIGKILL
    finds the conversations that were there (as a production Redis with persistence does)."""

    def command(self) -> list[str]:
        return [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("no PostgreSQL server binaries (postgres, initdb) on this machine")


class PostgresServer(Server):
    """A cluster of its own, in a temporary directory, trusting local connections."""

    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        self.data = directory / "data"
        self.bin = postgres_bin()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            record = pwd.getpwnam(self._user)
            os.chown(directory, record.pw_uid, record.pw_gid)
        subprocess.run(
            [
                str(self.bin / "initdb"),
                *("-D", str(self.data), "-A", "trust", "-U", "postgres"),
                *("--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            user=self._user,
        )

    def user(self) -> str | None:
        return self._user

    def command(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.directory),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=40",
        ]

    def _ready(self) -> None:
        super()._ready()
        assert self.process is not None
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:  # the port opens before recovery ends
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not become ready: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
