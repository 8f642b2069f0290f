"""The edges of a turn (issue 13): what the webhook endpoint, the transports and the background
work do per update besides the turn itself. Counted, never timed."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.web_log import AccessLogger

from bench.fake_api import FakeBotApi
from bot.app import ACCESS_LOGGER, configure_logging
from bot.service import Handled, Incoming
from tests.unit.test_plain_updates import message, press


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    touched = [logging.getLogger(name) for name in (ACCESS_LOGGER, "aiogram.event")]
    saved = (root.level, list(root.handlers), [each.level for each in touched])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for each, level in zip(touched, saved[2], strict=True):
        each.setLevel(level)


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize(
    ("level", "written"), [("INFO", False), ("WARNING", False), ("DEBUG", True)]
)
def test_the_webhook_writes_an_access_line_per_update_only_at_debug(
    level: str, written: bool
) -> None:
    """aiohttp formats and writes an access line per request (per update) whenever its logger
    is enabled for INFO; the bot's logging leaves it on at DEBUG only."""
    configure_logging(level)
    assert AccessLogger(logging.getLogger(ACCESS_LOGGER)).enabled is written


class RecordingService:
    """The service as a runtime sees it: what it was handed."""

    bot_username = "peduli_bot"

    def __init__(self) -> None:
        self.handled: list[Incoming] = []

    async def handle(
        self, incoming: Incoming, transport: object, *, only_in_conversation: bool = False
    ) -> Handled:
        self.handled.append(incoming)
        return Handled.ANSWERED


TEXT = {"update_id": 1, "message": message(text="Budi Santoso")}
PRESS = {"update_id": 2, "callback_query": press("Benar?")}
PHOTO = {
    "update_id": 3,
    "message": message(photo=[{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]),
}
FORGED = {"update_id": 4, "message": message(chat={"id": 77, "type": "private"}, text="/batal")}


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


async def feed_all(runtime: Any, counted: list[object]) -> None:
    assert await runtime.feed(copy.deepcopy(TEXT)) is Handled.ANSWERED
    assert await runtime.feed(copy.deepcopy(PRESS)) is Handled.ANSWERED
    assert counted == []  # the framework's Update was never built for them
    assert await runtime.feed(copy.deepcopy(FORGED)) is None  # refused, not handed on
    assert counted == []
    assert await runtime.feed(copy.deepcopy(PHOTO)) is Handled.ANSWERED
    assert len(counted) == 1  # a photo: the framework's path, parsed once


async def test_aiogram_reads_a_plain_webhook_update_without_building_its_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.telegram_aiogram import runner
    from bot.telegram_aiogram.updates import parse_update as real

    counted: list[object] = []

    def counting(raw: object, bot: Any) -> Any:
        counted.append(raw)
        return real(raw, bot)

    monkeypatch.setattr(runner, "parse_update", counting)
    told: list[int] = []
    service = RecordingService()
    runtime = runner.AiogramRuntime(
        service,  # type: ignore[arg-type]
        "123:abc",
        "http://127.0.0.1:9",
        on_handled=told.append,
    )
    try:
        await feed_all(runtime, counted)
    finally:
        await runtime.close()
    assert [i.update_id for i in service.handled] == [1, 2, 3]
    assert told == [1, 2, 4, 3]  # every update reported handled, the refused one too
    assert (runtime.plain_updates, runtime.parsed_updates) == (3, 1)
    assert service.handled[1].pressed_label == "✅ Ya"


async def test_python_telegram_bot_reads_a_plain_webhook_update_without_building_its_update(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeBotApi
) -> None:
    from bot.telegram_ptb import runner
    from bot.telegram_ptb.updates import parse_update as real

    counted: list[object] = []

    def counting(raw: object, bot: Any) -> Any:
        counted.append(raw)
        return real(raw, bot)

    monkeypatch.setattr(runner, "parse_update", counting)
    told: list[int] = []
    service = RecordingService()
    runtime = runner.PtbRuntime(
        service,  # type: ignore[arg-type]
        "123:abc",
        fake_api.base_url,
        on_handled=told.append,
    )
    try:
        await runtime.prepare()
        await feed_all(runtime, counted)
    finally:
        await runtime.close()
    assert [i.update_id for i in service.handled] == [1, 2, 3]
    assert told == [1, 2, 4, 3]
    assert (runtime.plain_updates, runtime.parsed_updates) == (3, 1)
    assert service.handled[1].pressed_label == "✅ Ya"


async def test_aiogram_handlers_share_one_transport_per_bot() -> None:
    """The dispatcher's handlers (polling, a host's bot) hand the service one transport per
    bot, not a new one per update (its URLs and timeout are built once)."""
    from bot.telegram_aiogram import runner
    from bot.telegram_aiogram.updates import parse_update

    service = RecordingService()
    seen: list[object] = []

    async def handle(incoming: Incoming, transport: object, **kwargs: Any) -> Handled:
        seen.append(transport)
        return Handled.ANSWERED

    service.handle = handle  # type: ignore[method-assign]
    runtime = runner.AiogramRuntime(service, "123:abc", "http://127.0.0.1:9")  # type: ignore[arg-type]
    try:
        for update_id in (1, 2):
            parsed = parse_update(copy.deepcopy(PHOTO) | {"update_id": update_id}, runtime.bot)
            assert parsed is not None
            await runtime.dispatcher.feed_update(runtime.bot, parsed)
    finally:
        await runtime.close()
    assert len(seen) == 2 and seen[0] is seen[1]


async def test_python_telegram_bot_sends_the_turns_calls_without_its_objects(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeBotApi
) -> None:
    """The turn's calls without files go as the Bot API's JSON through the Bot's request: no
    Message is built from an answer (as AiogramTransport._post on aiogram)."""
    from telegram import Message

    from bot.telegram_ptb.adapter import PtbTransport
    from bot.telegram_ptb.runner import create_application
    from bot.transport import Outgoing

    application, polling = create_application("123:abc", fake_api.base_url)
    await application.initialize()
    built: list[object] = []
    real = Message.de_json

    def counting(data: Any, bot: Any = None) -> Any:
        built.append(data)
        return real(data, bot)

    monkeypatch.setattr(Message, "de_json", counting)
    transport = PtbTransport(application.bot)
    try:
        shown = Outgoing(text="Pilih <b>bahasa</b>", inline_keyboard=[[("Ya", "3:ya")]])
        sent = await transport.send(5, shown)
        await transport.edit(5, 1, shown)
        await transport.retire(5, 1, None)
        await transport.retire(5, 1, "Pilih <b>bahasa</b>")
        await transport.answer_callback("q1", "Tersimpan")
        await transport.delete(5, 1)
    finally:
        await application.shutdown()
        await polling.shutdown()
    assert sent == 1
    assert built == []
    assert fake_api.calls == {
        "getMe": 1,
        "sendMessage": 1,
        "editMessageText": 2,
        "editMessageReplyMarkup": 1,
        "answerCallbackQuery": 1,
        "deleteMessage": 1,
    }
    assert fake_api.callback_answers == {"q1": 1}
