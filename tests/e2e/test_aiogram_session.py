"""The aiogram session the bot uses (bot.telegram_aiogram.session.PinnedSession), over real HTTP
against a recording Bot API: calls without files go as JSON, uploads as multipart, errors are
aiogram's own, and every answer of a method is validated by one pinned Response type."""

from __future__ import annotations

import gc
import json
import socket
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram_aiogram.adapter import AiogramTransport
from bot.telegram_aiogram.runner import create_bot
from bot.telegram_aiogram.session import PinnedSession
from bot.transport import Outgoing
from tests.e2e.harness import TOKEN
from tests.e2e.recording_api import MESSAGE, RecordingApi, recording_api

pytestmark = pytest.mark.transports("aiogram")


@pytest.fixture
async def api() -> AsyncIterator[tuple[RecordingApi, Bot]]:
    async with recording_api() as (recording, base_url):
        bot = create_bot(TOKEN, base_url)
        try:
            yield recording, bot
        finally:
            await bot.session.close()


async def test_a_call_without_files_goes_as_json_with_nested_objects(
    api: tuple[RecordingApi, Bot],
) -> None:
    recording, bot = api
    assert isinstance(bot.session, PinnedSession)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ya", callback_data="1:yes")]]
    )
    sent = await bot.send_message(
        chat_id=501, text="<b>halo</b>", parse_mode="HTML", reply_markup=markup
    )
    assert sent.message_id == 7
    [(method, content_type, params)] = recording.calls
    assert (method, content_type) == ("sendMessage", "application/json")
    assert params == {
        "chat_id": 501,
        "text": "<b>halo</b>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "Ya", "callback_data": "1:yes"}]]},
    }


async def test_false_and_zero_are_sent_as_aiogram_sends_them(
    api: tuple[RecordingApi, Bot],
) -> None:
    recording, bot = api
    await bot.send_message(chat_id=501, text="x", disable_notification=False, message_thread_id=0)
    [(_, _, params)] = recording.calls
    assert params["disable_notification"] is False and params["message_thread_id"] == 0


async def test_an_upload_goes_as_multipart(api: tuple[RecordingApi, Bot]) -> None:
    recording, bot = api
    photo = BufferedInputFile(b"\x89PNG fake", filename="undangan.png")
    await bot.send_photo(chat_id=501, photo=photo, caption="undangan")
    [(method, content_type, params)] = recording.calls
    assert (method, content_type) == ("sendPhoto", "multipart/form-data")
    assert params["chat_id"] == "501" and params["caption"] == "undangan"
    assert str(params["photo"]).startswith("attach://")


async def test_errors_are_aiograms_own(api: tuple[RecordingApi, Bot]) -> None:
    recording, bot = api
    recording.errors.append(
        {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
    )
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.send_message(chat_id=501, text="x")
    recording.errors.append(
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        }
    )
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(chat_id=501, text="x")
    assert raised.value.retry_after == 3


async def test_answers_of_a_method_share_one_pinned_response_type(
    api: tuple[RecordingApi, Bot],
) -> None:
    """pydantic keeps Response[Message] only weakly: without the pin the garbage collector
    takes it and the next answer builds it again (milliseconds of CPU on every call)."""
    _, bot = api
    method = SendMessage(chat_id=501, text="x")
    content = json.dumps({"ok": True, "result": MESSAGE})
    first = bot.session.check_response(bot, method, 200, content)
    used = weakref.ref(type(first))
    del first
    gc.collect()
    second = bot.session.check_response(bot, method, 200, content)
    assert used() is not None and type(second) is used()


def refusal(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


async def test_the_transports_calls_go_as_json_and_its_refusals_keep_their_meaning(
    api: tuple[RecordingApi, Bot],
) -> None:
    """AiogramTransport posts its calls without files as JSON itself (no aiogram method or
    result objects); what an answer means is what it meant through aiogram's methods."""
    recording, bot = api
    transport = AiogramTransport(bot)
    message = Outgoing("<b>Pilih</b>", inline_keyboard=((("Ya", "1:yes"),),))
    recording.errors.append(refusal(429, "Too Many Requests") | {"parameters": {"retry_after": 1}})
    assert await transport.send(501, message) == 7  # waited out the 429, then sent
    recording.errors.append(refusal(403, "Forbidden: bot was blocked by the user"))
    assert await transport.send(501, message) is None
    recording.errors.append(refusal(400, "Bad Request: message is not modified"))
    await transport.edit(501, 7, message)
    recording.errors.append(refusal(400, "Bad Request: chat not found"))
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await transport.retire(501, 7, None)
    await transport.retire(501, 7, "<b>Pilih</b>\n\n» <b>Ya</b>")
    await transport.answer_callback("q1", "Tersimpan")
    await transport.delete(501, 7)
    methods = [(method, content_type) for method, content_type, _ in recording.calls]
    assert methods == [
        ("sendMessage", "application/json"),
        ("sendMessage", "application/json"),
        ("sendMessage", "application/json"),
        ("editMessageText", "application/json"),
        ("editMessageReplyMarkup", "application/json"),
        ("editMessageText", "application/json"),
        ("answerCallbackQuery", "application/json"),
        ("deleteMessage", "application/json"),
    ]
    assert recording.calls[0][2] == {
        "chat_id": 501,
        "parse_mode": "HTML",
        "text": "<b>Pilih</b>",
        "link_preview_options": {"is_disabled": True},
        "reply_markup": {"inline_keyboard": [[{"text": "Ya", "callback_data": "1:yes"}]]},
    }
    assert recording.calls[-2][2] == {"callback_query_id": "q1", "text": "Tersimpan"}


async def test_an_unreachable_api_is_aiograms_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = create_bot(TOKEN, f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TelegramNetworkError):
            await AiogramTransport(bot).send(501, Outgoing("halo"))
    finally:
        await bot.session.close()
