"""Driving the service in process as one Telegram user, and a bot process that handles a single
update (`python -m tests.integration.turnkit SPEC`; the tests fork it from a process that has
imported the bot, `--serve`), for the crash and outage tests.

The child builds everything with build_service from the environment, as `peduli run` does, and
prints every Bot API call it makes as a JSON line the moment it makes it; PEDULI_FAULT_POINT makes
it die at a named point (bot.faults).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.service import ConversationService, Handled, Incoming
from bot.settings import Settings
from bot.transport import Outgoing
from flows.inputs import ChoicePicked, CommandIssued, ContactShared, Input, TextReceived

ROOT = Path(__file__).resolve().parents[2]
DATA_KEY = base64.b64encode(b"k" * 32).decode()
CHILD_TIMEOUT = 120.0  # importing on a loaded 2-core machine; never reached when all is well


@dataclass
class Call:
    """One Bot API call the bot made: kind is send, edit, retire, answer, delete or photo."""

    kind: str
    text: str = ""
    message_id: int | None = None
    buttons: list[tuple[str, str]] = field(default_factory=list)


class Recorder:
    """A Transport that records calls (and prints them when `echo`)."""

    def __init__(self, *, echo: bool = False) -> None:
        self.calls: list[Call] = []
        self.echo = echo

    def _add(self, call: Call) -> int:
        self.calls.append(call)
        if self.echo:
            print(json.dumps(call.__dict__), flush=True)
        return 1000 + len(self.calls)

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        buttons = [button for row in message.inline_keyboard for button in row]
        return self._add(Call("send", message.text, buttons=buttons))

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        buttons = [button for row in message.inline_keyboard for button in row]
        self._add(Call("edit", message.text, message_id, buttons))

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        self._add(Call("retire", html or "", message_id))

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        self._add(Call("answer", text or ""))

    async def delete(self, chat_id: int, message_id: int) -> None:
        self._add(Call("delete", "", message_id))

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        return self._add(Call("photo", caption))

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        return self._add(Call("document", caption))


def settings(
    database_url: str, tmp_path: Path, redis_url: str | None = None, **extra: Any
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123456:TEST",
        database_url=database_url,
        redis_url=redis_url,
        data_key=DATA_KEY,
        data_key_file=tmp_path / "unused",
        **extra,
    )


class Chat:
    """One user talking to a service in this process; update ids count up from `first_update`."""

    def __init__(self, service: ConversationService, user_id: int, first_update: int = 1) -> None:
        self.service = service
        self.user_id = user_id
        self.next_update = first_update
        self.transport = Recorder()
        self.last_handled: Handled | None = None

    def incoming(self, input: Input, *, callback: bool = False) -> Incoming:
        update_id = self.next_update
        self.next_update += 1
        message_id = input.message_id if isinstance(input, ChoicePicked) else None
        return Incoming(
            update_id,
            self.user_id,
            self.user_id,
            input,
            callback_query_id=f"cb{update_id}" if callback else None,
            callback_message_id=message_id,
        )

    async def handle(self, incoming: Incoming) -> list[Call]:
        mark = len(self.transport.calls)
        self.last_handled = await self.service.handle(incoming, self.transport)
        return self.transport.calls[mark:]

    def button(self, label: str) -> Incoming:
        """The press of the newest button with this label."""
        for call in reversed(self.transport.calls):
            for text, data in call.buttons:
                if text == label:
                    seq, _, value = data.partition(":")
                    return self.incoming(ChoicePicked(int(seq), value, 900), callback=True)
        raise AssertionError(f"no button {label!r} was shown")

    async def press(self, label: str) -> str:
        return texts(await self.handle(self.button(label)))

    async def say(self, text: str, message_id: int = 500) -> str:
        if text.startswith("/"):
            return texts(await self.handle(self.incoming(CommandIssued(text[1:]))))
        return texts(await self.handle(self.incoming(TextReceived(text, message_id))))

    async def share_contact(self, phone: str) -> str:
        return texts(await self.handle(self.incoming(ContactShared(phone, True, 501))))

    async def to_summary(self) -> None:
        """Sign up and register a worker, up to the summary with its Simpan button."""
        await self.to_nik()
        assert "menunjukkan" in await self.say("3205014501900001")
        await self.press("✅ Ya, benar")
        await self.press("⏭️ Lewati")
        await self.press("🇮🇩 Bahasa Indonesia")
        await self.say("garut kota")
        await self.press("Garut Kota")
        await self.press("Kota Kulon")
        await self.press("JKK + JKM — Rp16.800/bulan")
        await self.press("Potong gaji lewat bendahara")
        assert "Periksa data sebelum disimpan" in await self.press("✅ Setuju")

    async def to_nik(self) -> None:
        """Sign up and register a worker up to the question for the NIK."""
        assert "Pilih bahasa" in await self.say("/start")
        await self.press("🇮🇩 Bahasa Indonesia")
        await self.say("198503152010011001")
        await self.press("✅ Ya, benar")
        await self.say("Dra. Siti Aminah")
        await self.say("kesehatan")
        await self.press("Dinas Kesehatan")
        assert "Apa hubungan" in await self.share_contact("+6281234567890")
        assert "Apa pekerjaan" in await self.press("Bekerja di rumah tangga saya")
        await self.press("Asisten rumah tangga")
        assert "Ketik NIK" in await self.say("Ujang Suryana")


def texts(calls: list[Call]) -> str:
    """What the user reads, without the HTML tags."""
    shown = "\n".join(call.text for call in calls if call.kind in ("send", "edit", "photo"))
    return re.sub(r"<[^>]+>", "", shown)


# ---- the child process -------------------------------------------------------------------------


def spec_of(incoming: Incoming) -> dict[str, Any]:
    pressed = incoming.input
    spec: dict[str, Any] = {
        "update_id": incoming.update_id,
        "user_id": incoming.user_id,
        "callback_query_id": incoming.callback_query_id,
        "callback_message_id": incoming.callback_message_id,
    }
    if isinstance(pressed, ChoicePicked):
        spec.update(seq=pressed.seq, value=pressed.value, message_id=pressed.message_id)
    elif isinstance(pressed, TextReceived):
        spec.update(text=pressed.text, message_id=pressed.message_id)
    else:
        raise TypeError(type(pressed).__name__)
    return spec


def incoming_of(spec: dict[str, Any]) -> Incoming:
    pressed: Input = (
        ChoicePicked(spec["seq"], spec["value"], spec["message_id"])
        if "value" in spec
        else TextReceived(spec["text"], spec["message_id"])
    )
    return Incoming(
        spec["update_id"],
        spec["user_id"],
        spec["user_id"],
        pressed,
        callback_query_id=spec["callback_query_id"],
        callback_message_id=spec["callback_message_id"],
    )


@dataclass
class ChildRun:
    status: int
    calls: list[Call]
    output: str


def run_child(
    settings: Settings, incoming: Incoming, fault: str | None = None, prefix: str = ""
) -> ChildRun:
    """Handle one update in a fresh process (a redelivery after a crash), dying at `fault`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        BOT_TOKEN=settings.bot_token or "",
        DATABASE_URL=settings.database_url,
        DATA_KEY=settings.data_key or "",
        LOG_LEVEL="WARNING",
    )
    env.pop("PEDULI_FAULT_POINT", None)
    if settings.redis_url:
        env.update(REDIS_URL=settings.redis_url, REDIS_PREFIX=settings.redis_prefix)
    if fault:
        env["PEDULI_FAULT_POINT"] = fault
    return _forker().run(env, spec_of(incoming))


class _Forker:
    """A process that has imported the bot and forks a child for each update to handle (`python
    -m tests.integration.turnkit --serve`). Each child is a process of its own, made before
    anything was built (no engine, connection, session or event loop), with the environment it
    is given: what a process started afresh would be, without importing the bot again (over a
    second each time on a 2-core machine). It dies, or exits, on its own, as a fresh one would."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="peduli-turnkit-"))
        self.log = self.folder / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.turnkit", "--serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
            start_new_session=True,  # so that a timeout kills it and its child at once
        )
        self.count = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def run(self, env: dict[str, str], spec: dict[str, Any]) -> ChildRun:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.count += 1
        out, err = (self.folder / f"{self.count}.{name}" for name in ("out", "err"))
        request = {"env": env, "spec": spec, "stdout": str(out), "stderr": str(err)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            answered = selector.select(CHILD_TIMEOUT)
        line = self.process.stdout.readline() if answered else ""
        if not line:
            self.stop()
            raise RuntimeError(
                f"the turnkit server gave no answer: {self.log.read_text()[-2000:]}"
                + (out.read_text() + err.read_text() if out.exists() and err.exists() else "")
            )
        stdout, stderr = out.read_text(), err.read_text()
        out.unlink()
        err.unlink()
        calls = [Call(**json.loads(text)) for text in stdout.splitlines() if text.startswith("{")]
        return ChildRun(int(json.loads(line)["status"]), calls, stdout + stderr)


_server: _Forker | None = None


def _forker() -> _Forker:
    global _server
    if _server is None or not _server.alive():
        _server = _Forker()
        atexit.register(_server.stop)
    return _server


def _serve() -> None:
    """The forking server: one request (a JSON line) in, one child, its exit status out."""
    import bot.app  # noqa: F401  everything the child needs, imported once before any fork
    import tests.clock  # noqa: F401

    while line := sys.stdin.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _forked(request)  # never returns
        _, wait_status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(wait_status)}), flush=True)


def _forked(request: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    status = 0
    try:
        asyncio.run(_child(request["spec"]))
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


async def _child(spec: dict[str, Any]) -> None:
    from bot.app import build_service
    from tests.clock import NOW  # not tests.e2e.harness: that imports aiogram (seconds)

    built = build_service(Settings(), clock=lambda: NOW, migrate=False)
    try:
        handled = await built.service.handle(incoming_of(spec), Recorder(echo=True))
        print(f"handled: {handled.value}", flush=True)
    finally:
        await built.aclose()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    else:
        asyncio.run(_child(json.loads(sys.argv[1])))
