"""One fuzz example's world: the production service on its own SQLite database, the production
aiogram dispatcher and transport, and the Bot API emulator in the same process as Telegram.

Every call the bot makes goes through aiogram's own serialisation into ``BotApiEmulator.call``,
which validates it as Telegram would (the schema, 1-4096 characters after entity parsing, HTML
well-formed, callback data 1-64 bytes, non-empty button labels, edits of existing messages, one
answer per callback query...) and records every refusal in ``emulator.rejections``. Nothing goes
over the network, so a fuzz run processes hundreds of updates a second.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import BufferedInputFile, InputFile

from bot.app import Built, build_service
from bot.delivery.budget import RateBudget
from bot.delivery.engine import DeliveryEngine
from bot.i18n import Renderer
from bot.settings import Settings
from bot.storage.db import upgrade_database
from bot.telegram_aiogram.adapter import AiogramTransport
from bot.telegram_aiogram.runner import create_dispatcher, prepare
from emulator.models import ApiError, UploadedFile
from emulator.schema import BotApiSchema
from emulator.server import BotApiEmulator
from flows.text import t
from tests.clock import MovableClock

TOKEN = "123456:FUZZ-token"
ADMIN_ID = 990_001
#: Refusals the production transport tolerates on purpose (AiogramTransport._call).
TOLERATED = ("message is not modified",)
_RESPONSE_TYPES: dict[Any, Any] = {}
APOLOGIES = tuple(Renderer(language)(t("error.try_again")) for language in ("id", "en"))


class InProcessSession(BaseSession):
    """aiogram's side of the wire, in process: a method is serialised the way AiohttpSession
    builds its form (prepare_value), executed by the emulator, and its answer parsed by
    aiogram's own check_response, so errors become the same exceptions as over HTTP."""

    def __init__(self, emulator: BotApiEmulator) -> None:
        super().__init__()
        self.emulator = emulator

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        uploads: dict[str, UploadedFile] = {}
        for key, file in files.items():
            assert isinstance(file, BufferedInputFile), "the bot uploads bytes only"
            uploads[key] = UploadedFile(file.data, file.filename or key)
        try:
            result = await self.emulator.call(method.__api_method__, params, uploads)
            body, status = {"ok": True, "result": result}, 200
        except ApiError as error:
            body, status = error.payload(), error.error_code
        response = self.check_response(
            bot=bot, method=method, status_code=status, content=json.dumps(body)
        )
        return response.result  # type: ignore[return-value]

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        if status_code != 200:
            return super().check_response(bot, method, status_code, content)
        # aiogram builds Response[...] for every call; built once here (most of a call's time).
        returning = method.__returning__
        response_type = _RESPONSE_TYPES.get(returning)
        if response_type is None:
            response_type = _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return response_type.model_validate(json.loads(content), context={"bot": bot})

    async def close(self) -> None:
        return None

    def stream_content(  # pragma: no cover - the bot downloads no files
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError


class FailureLog(logging.Handler):
    """Exceptions the service caught and logged: a crash inside a turn, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        return "\n".join(
            f"{record.getMessage()}\n{self.format(record)}" for record in self.records[:3]
        )


def template_database(folder: Path) -> Path:
    """A migrated empty SQLite database, copied for every example (migrating takes seconds)."""
    path = folder / "template.sqlite3"
    if not path.exists():
        upgrade_database(f"sqlite:///{path}")
    return path


def _fresh_copy(folder: Path, template: Path) -> Path:
    database = folder / "fuzz.sqlite3"
    for stale in folder.glob("fuzz.sqlite3*"):
        stale.unlink()
    shutil.copyfile(template, database)
    return database


@dataclass
class World:
    """The production wiring for one example; ``feed`` hands it one raw update."""

    built: Built
    emulator: BotApiEmulator
    bot: Bot
    clock: MovableClock
    outbox: DeliveryEngine
    dispatcher: Any
    updates: int = 0
    tolerated: int = 0
    seen: list[str] = field(default_factory=list)

    @classmethod
    async def create(
        cls, folder: Path, template: Path, schema: BotApiSchema, now: datetime
    ) -> World:
        database = _fresh_copy(folder, template)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            bot_token=TOKEN,
            database_url=f"sqlite:///{database}",
            data_key=base64.b64encode(b"f" * 32).decode(),
            data_key_file=folder / "unused-key",
            redis_url=None,
            admin_ids=str(ADMIN_ID),
        )
        clock = MovableClock(now)
        built = build_service(settings, clock=clock, migrate=False)
        emulator = BotApiEmulator(TOKEN, per_chat_rate=None, global_rate=None, schema=schema)
        bot = Bot(TOKEN, session=InProcessSession(emulator), default=DefaultBotProperties())
        await prepare(built.service, bot)
        outbox = DeliveryEngine(
            built.service.repository.delivery,
            AiogramTransport(bot),
            built.service.outbox_ready,
            RateBudget("fuzz", 1000, per_chat=False),  # the emulator's limits are off too
        )
        return cls(built, emulator, bot, clock, outbox, create_dispatcher(built.service))

    async def feed(self, update: dict[str, Any]) -> None:
        """The dispatcher handles the update as polling would (an exception escapes here), then
        the outbox sends what the turn wrote."""
        self.updates += 1
        await self.dispatcher.feed_raw_update(self.bot, update)
        while await self.outbox.deliver_once():
            pass

    def violations(self) -> list[str]:
        """Refused calls (tolerated ones counted apart) and apologies sent."""
        found = []
        for rejection in self.emulator.rejections:
            if any(part in rejection.description for part in TOLERATED):
                continue
            found.append(f"{rejection.method} refused: {rejection.description} {rejection.params}")
        for call in self.emulator.calls:
            if call.ok and call.method == "sendMessage" and call.params.get("text") in APOLOGIES:
                found.append(f"apology sent to {call.params.get('chat_id')}")
        return found

    def tolerated_count(self) -> int:
        return sum(
            1 for r in self.emulator.rejections if any(p in r.description for p in TOLERATED)
        )

    async def close(self) -> None:
        await self.bot.session.close()
        await self.built.aclose()
