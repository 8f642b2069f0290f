"""The real bot (aiogram, service, database) talking over HTTP to our Bot API emulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import Built, build_service
from bot.emulator.users import FakeUser
from bot.settings import Settings

TOKEN = "123456:TEST-token"
WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=WIB)

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
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class BotUnderTest:
    """The production wiring (bot.app.build_service + the aiogram runner), long polling."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = lambda: NOW) -> None:
        self.settings = settings
        self.clock = clock
        self.built: Built | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> BotUnderTest:
        from bot.telegram_aiogram.runner import create_bot, create_dispatcher, run_polling

        self.built = await asyncio.to_thread(build_service, self.settings, clock=self.clock)
        assert self.settings.bot_token
        self.bot = create_bot(self.settings.bot_token, self.settings.telegram_api_url)
        self.dispatcher = create_dispatcher(self.built.service)
        self._task = asyncio.create_task(
            run_polling(
                self.built.service,
                self.bot,
                self.dispatcher,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=1,
            )
        )
        return self

    @property
    def repository(self) -> Any:
        assert self.built is not None
        return self.built.service.repository

    async def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        await self.bot.session.close()
        if self.built is not None:
            await self.built.aclose()


def texts(messages: list[Any]) -> str:
    """What the user reads in a turn: sent and edited messages, not deleted ones."""
    return "\n".join(m.text or "" for m in messages if m.event != "deleted")


async def sign_up(user: FakeUser, *, nip: str = VALID_NIP, name: str = "Dra. Siti Aminah") -> None:
    """The sign-up part of the journey, asserting what a person would see at each step."""
    assert "Pilih bahasa" in texts(await user.say("/start"))
    assert "Ketik NIP" in texts(await user.choose("🇮🇩 Bahasa Indonesia"))
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
    assert "Apa pekerjaan" in done


async def register_worker(
    user: FakeUser, *, nik: str = VALID_NIK, worker: str = "Ujang Suryana"
) -> str:
    """The sponsorship part up to the summary; returns the summary's text."""
    assert "Ketik nama lengkap pekerja" in texts(await user.choose("Asisten rumah tangga"))
    assert "Ketik NIK" in texts(await user.say(worker))
    turn = await user.say(nik)
    confirm = texts(turn)
    assert "menunjukkan" in confirm and nik not in confirm
    assert "Pesan berisi NIK sudah saya hapus" in confirm
    assert [m for m in turn if m.event == "deleted"], "the NIK message stays in the chat"
    assert "nomor HP" in texts(await user.choose("✅ Ya, benar"))
    assert "kecamatan" in texts(await user.choose("⏭️ Lewati"))
    await user.say("garut kota")
    assert "desa/kelurahan" in texts(await user.choose("Garut Kota"))
    assert "program" in texts(await user.choose("Kota Kulon"))
    assert "cara membayar" in texts(await user.choose("JKK + JKM — Rp16.800/bulan"))
    consent = texts(await user.choose("Potong gaji lewat bendahara"))
    assert "PERNYATAAN KESEDIAAN POTONG GAJI" in consent
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
    )
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env
