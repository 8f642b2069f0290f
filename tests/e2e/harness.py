"""The real bot (aiogram, service, database) talking over HTTP to our Bot API emulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.app import Built, build_service, create_runtime, poll_until_stopped
from bot.hosting import HandledHook, Runtime
from bot.service import ConversationService
from bot.settings import Settings, TransportName
from bot.transport import Transport
from emulator.models import ChatMessage
from emulator.server import BotApiEmulator
from emulator.users import TURN_TIMEOUT, FakeUser
from tests.clock import NOW
from tests.migrated import migrate

TOKEN = "123456:TEST-token"
WIB = ZoneInfo("Asia/Jakarta")

#: The transport of the running test (tests/e2e/conftest.py parametrizes every test over both).
TRANSPORT_UNDER_TEST: TransportName = "aiogram"

#: The error type each runtime logs for an update its framework cannot parse (bad date, say),
#: and for an update of a kind it does not know.
PARSE_ERROR = {"aiogram": "ValidationError", "ptb": "TypeError"}
UNKNOWN_KIND_ERROR = {"aiogram": "UpdateTypeLookupError", "ptb": "UnknownUpdateKind"}

VALID_NIP = "198503152010011001"
VALID_NIK = "3205014501900001"


def settings_for(base_url: str, database_url: str, tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "telegram_api_url": base_url,
        "database_url": database_url,
        "data_key": base64.b64encode(b"k" * 32).decode(),
        "data_key_file": tmp_path / "unused-key",
        "redis_url": None,
        "transport": TRANSPORT_UNDER_TEST,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class _WatchedEvent(asyncio.Event):
    """The service's ``outbox_ready``, watched: the outbox dispatcher waits on it when it has
    nothing left to send, so "someone waits and it is not set" means the outbox is idle."""

    def __init__(self, changed: Callable[[], None]) -> None:
        super().__init__()
        self.waiters = 0
        self._changed = changed

    def set(self) -> None:
        super().set()
        self._changed()

    async def wait(self) -> Literal[True]:
        self.waiters += 1
        self._changed()
        try:
            return await super().wait()
        finally:
            self.waiters -= 1
            self._changed()

    @property
    def idle(self) -> bool:
        return self.waiters > 0 and not self.is_set()


class HandlingTracker:
    """Tells the emulator when the bot under test is idle, so FakeUser waits end on a signal
    rather than a quiet period (see BotApiEmulator.track_handling).

    An update is in flight from the moment it is queued until the runtime reports it handled
    (its `on_handled` hook: whether a handler ran, failed or ignored it); frameworks run
    handlers as tasks and acknowledge updates before they finish, so the emulator's own view
    cannot tell. The outbox is idle when its engine waits on ``service.outbox_ready`` and
    nothing set it: a turn sets it before its update is reported, so notifications a turn wrote
    are sent before the turn counts as over.
    """

    def __init__(self, emulator: BotApiEmulator, service: ConversationService) -> None:
        self.emulator = emulator
        self.outbox = _WatchedEvent(emulator.notify)
        if service.outbox_ready.is_set():
            self.outbox.set()
        # Before the delivery engine is created: it keeps the event it was given.
        service.outbox_ready = self.outbox

    def attach(self) -> HandledHook:
        """Start tracking; the hook to give the runtime (create_runtime's on_handled)."""
        self.emulator.track_handling(lambda: self.outbox.idle)
        return self.emulator.report_handled

    async def started(self) -> None:
        """Fail loudly (not by hanging tests) if the delivery engine stopped waiting on
        ``service.outbox_ready``: this tracker would then never see it idle."""
        await self.emulator.wait_until(
            lambda: self.outbox.waiters > 0,
            TURN_TIMEOUT,
            what="the delivery engine waiting on service.outbox_ready (HandlingTracker)",
        )

    def stop(self) -> None:
        self.emulator.untrack_handling()


class BotUnderTest:
    """The production wiring (bot.app.build_service + the runtime of `transport`), long
    polling, with its handling reported to the emulator (HandlingTracker)."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: NOW,
        *,
        emulator: BotApiEmulator,
        transport: TransportName | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.emulator = emulator
        self.transport: TransportName = transport or settings.transport
        self.built: Built | None = None
        self.tracker: HandlingTracker | None = None
        self.runtime: Runtime | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> BotUnderTest:
        # A copy of a migrated database (tests/migrated.py); build_service then finds it at head.
        await asyncio.to_thread(migrate, self.settings.database_url)
        self.built = await asyncio.to_thread(build_service, self.settings, clock=self.clock)
        assert self.settings.bot_token
        self.tracker = HandlingTracker(self.emulator, self.built.service)
        self.runtime = create_runtime(
            self.built.service,
            self.settings.bot_token,
            self.settings.telegram_api_url,
            transport=self.transport,
            on_handled=self.tracker.attach(),
        )
        self._task = asyncio.create_task(
            poll_until_stopped(self.runtime, polling_timeout=1, handle_signals=False)
        )
        await self.tracker.started()
        return self

    async def idle(self) -> None:
        """Wait until no update is in flight and the outbox has nothing to send."""
        await self.emulator.wait_until(self.emulator.bot_idle, TURN_TIMEOUT, what="an idle bot")

    @property
    def repository(self) -> Any:
        assert self.built is not None
        return self.built.service.repository

    @property
    def transport_client(self) -> Transport:
        """The runtime's Transport (its framework's Bot API client)."""
        assert self.runtime is not None
        return self.runtime.transport

    async def stop(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()
        if self._task is not None and self.runtime is not None:
            await self.runtime.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        if self.runtime is not None:
            await self.runtime.close()
        if self.built is not None:
            await self.built.aclose()


def texts(messages: list[Any]) -> str:
    """What the user reads in a turn: sent and edited messages, not deleted ones."""
    return "\n".join(m.text or "" for m in messages if m.event != "deleted")


async def sign_up(user: FakeUser, *, nip: str = VALID_NIP, name: str = "Dra. Siti Aminah") -> None:
    """The sign-up part of the journey, asserting what a person would see at each step."""
    assert "Pilih bahasa" in texts(await user.say("/start"))
    started = texts(await user.choose("🇮🇩 Bahasa Indonesia"))
    assert "Ketik NIP" in started and "Pengendali data" in started  # the short privacy notice
    shown = texts(await user.say(nip))
    assert "NIP ini menunjukkan" in shown
    assert "Ketik nama lengkap" in texts(await user.choose("✅ Ya, benar"))
    assert "Pilih instansi" in texts(await user.say(name))
    found = await user.say("kesehatan")
    assert "Dinas Kesehatan" in found[-1].button_labels
    await user.choose("Dinas Kesehatan")
    assert user.reply_keyboard() == [["📱 Kirim nomor HP saya"]]
    mark = user.mark()
    await user.tap("📱 Kirim nomor HP saya")
    done = texts(await user.replies_since(mark, min_count=3))
    assert "Nomor HP diterima" in done and "Anda terdaftar sebagai ASN" in done
    assert "Apa hubungan Anda dengan pekerja" in done


# The sponsorship's first two questions (issue 12): who the worker is to the sponsor, then the job.
RELATIONSHIP = "Bekerja di rumah tangga saya"
JOB = "Asisten rumah tangga"


async def choose_job(
    user: FakeUser, *, relationship: str = RELATIONSHIP, job: str = JOB
) -> list[ChatMessage]:
    """Answer the relationship and the job (both buttons' labels); returns the turn after the
    job, which asks the worker's name (or, for "Lainnya", the work in the sponsor's words)."""
    assert "Apa pekerjaan" in texts(await user.choose(relationship))
    return await user.choose(job)


async def register_worker(
    user: FakeUser,
    *,
    nik: str = VALID_NIK,
    worker: str = "Ujang Suryana",
    worker_language: str = "🇮🇩 Bahasa Indonesia",
) -> str:
    """The sponsorship part up to the summary (the worker's language is the button's label);
    returns the summary's text."""
    assert "Ketik nama lengkap pekerja" in texts(await choose_job(user))
    return await register_worker_rest(user, nik=nik, worker=worker, worker_language=worker_language)


async def register_worker_rest(
    user: FakeUser,
    *,
    nik: str = VALID_NIK,
    worker: str = "Ujang Suryana",
    worker_language: str = "🇮🇩 Bahasa Indonesia",
) -> str:
    """register_worker from the worker's name on (the relationship and the job answered)."""
    assert "Ketik NIK" in texts(await user.say(worker))
    turn = await user.say(nik)
    confirm = texts(turn)
    assert "menunjukkan" in confirm and nik not in confirm
    assert "Pesan Anda tadi sudah saya hapus" in confirm
    assert [m for m in turn if m.event == "deleted"], "the NIK message stays in the chat"
    assert "nomor HP" in texts(await user.choose("✅ Ya, benar"))
    assert "Dalam bahasa apa" in texts(await user.choose("⏭️ Lewati"))
    assert "kecamatan" in texts(await user.choose(worker_language))
    await user.say("garut kota")
    assert "desa/kelurahan" in texts(await user.choose("Garut Kota"))
    assert "program" in texts(await user.choose("Kota Kulon"))
    assert "cara membayar" in texts(await user.choose("JKK + JKM — Rp16.800/bulan"))
    consent = texts(await user.choose("Potong gaji lewat bendahara"))
    assert "SURAT PERNYATAAN KESEDIAAN PEMOTONGAN GAJI" in consent and "NIP: " in consent
    assert "Rp16.800 per bulan" in consent and "Desember 2026" in consent
    summary = texts(await user.choose("✅ Setuju"))
    assert "Periksa data sebelum disimpan" in summary
    return summary


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'peduli.sqlite3'}"


def environment_for_subprocess(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "REDIS_"))}
    env.update(
        BOT_TOKEN=settings.bot_token or "",
        TELEGRAM_API_URL=settings.telegram_api_url,
        DATABASE_URL=settings.database_url,
        DATA_KEY=settings.data_key or "",
        LOG_LEVEL="INFO",
        TRANSPORT=settings.transport,
    )
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env
