"""AiogramTransport.deliver, the delivery engine's one send, over real HTTP against the Bot API
emulator: each answer Telegram can give becomes the SendResult the engine acts on, and what
arrives is what aiogram's own send_message / send_photo would have sent."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot

from bot.bot_api import reply_markup_json, send_result
from bot.telegram_aiogram.adapter import AiogramTransport, reply_markup
from bot.telegram_aiogram.runner import create_bot
from bot.transport import Media, Outgoing, SendStatus
from emulator import BotApiEmulator, make_png
from tests.e2e.harness import TOKEN

pytestmark = pytest.mark.transports("aiogram")

BUTTONS = Outgoing(
    "<b>Daftar</b> sebelum 30 September",
    inline_keyboard=((("➕ Daftarkan pekerja", "menu:sponsor"), ("🔕 Berhenti", "act:annoff")),),
)


@pytest.fixture
async def api() -> AsyncIterator[tuple[BotApiEmulator, Bot]]:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=1, global_rate=None)
    base_url = await emulator.start()
    bot = create_bot(TOKEN, base_url)
    try:
        yield emulator, bot
    finally:
        await bot.session.close()
        await emulator.stop()


async def test_a_message_arrives_with_its_formatting_and_buttons(
    api: tuple[BotApiEmulator, Bot],
) -> None:
    emulator, bot = api
    emulator.open_chats([501])
    result = await AiogramTransport(bot).deliver(501, BUTTONS)
    assert result.status == SendStatus.SENT and result.message_id is not None
    [arrived] = emulator.user(501).messages
    assert arrived.message_id == result.message_id
    assert arrived.text == "Daftar sebelum 30 September"
    assert arrived.entities == [{"type": "bold", "offset": 0, "length": 6}]
    assert arrived.buttons == [
        [("➕ Daftarkan pekerja", "menu:sponsor"), ("🔕 Berhenti", "act:annoff")]
    ]
    assert emulator.rejections == []


async def test_a_photo_by_file_id_carries_the_text_as_its_caption(
    api: tuple[BotApiEmulator, Bot],
) -> None:
    emulator, bot = api
    emulator.open_chats([502])
    photo = emulator._store_file(make_png(), "a.png", "image/png", "photo")
    result = await AiogramTransport(bot).deliver(
        502, BUTTONS, media=Media("photo", photo.file_id), paid_broadcast=True
    )
    assert result.status == SendStatus.SENT
    [arrived] = emulator.user(502).messages
    assert arrived.photo and arrived.raw["caption"] == "Daftar sebelum 30 September"
    assert [c.params.get("allow_paid_broadcast") for c in emulator.calls[-1:]] == [True]


async def test_each_refusal_is_the_result_the_engine_acts_on(
    api: tuple[BotApiEmulator, Bot],
) -> None:
    emulator, bot = api
    transport = AiogramTransport(bot)
    emulator.open_chats([503, 504])
    emulator.block(504, notify_bot=False)
    assert (await transport.deliver(503, Outgoing("satu"))).status == SendStatus.SENT
    limited = await transport.deliver(503, Outgoing("dua"))  # the chat's second is used up
    assert limited.status == SendStatus.RATE_LIMITED and (limited.retry_after or 0) >= 1
    blocked = await transport.deliver(504, Outgoing("halo"))
    assert blocked.status == SendStatus.BLOCKED and "blocked" in blocked.detail
    never = await transport.deliver(999, Outgoing("halo"))  # nobody: chat not found
    assert never.status == SendStatus.REFUSED
    emulator.open_chats([505])
    broken = await transport.deliver(505, Outgoing("<b>tidak ditutup"))
    assert broken.status == SendStatus.REFUSED and "parse" in broken.detail


async def test_an_unreachable_server_is_worth_a_retry() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = create_bot(TOKEN, f"http://127.0.0.1:{port}")
    try:
        result = await AiogramTransport(bot).deliver(1, Outgoing("halo"))
    finally:
        await bot.session.close()
    assert result.status == SendStatus.TRANSIENT


@pytest.mark.parametrize(
    "message",
    [
        BUTTONS,
        Outgoing("Nomor?", contact_button="📱 Bagikan nomor"),
        Outgoing("Terima kasih", remove_keyboard=True),
        Outgoing("Tanpa tombol"),
    ],
)
def test_the_markup_json_is_what_aiogram_would_send(message: Outgoing) -> None:
    markup = reply_markup(message)
    expected = None if markup is None else markup.model_dump(mode="json", exclude_none=True)
    assert reply_markup_json(message) == expected


@pytest.mark.parametrize(
    ("body", "status", "retry_after"),
    [
        ({"ok": True, "result": {"message_id": 7}}, SendStatus.SENT, None),
        ({"ok": True, "result": True}, SendStatus.TRANSIENT, None),
        ({"ok": False, "error_code": 429, "parameters": {"retry_after": 5}}, "rate", 5.0),
        ({"ok": False, "error_code": 429}, "rate", 1.0),
        ({"ok": False, "error_code": 403, "description": "Forbidden"}, SendStatus.BLOCKED, None),
        ({"ok": False, "error_code": 400, "description": "Bad"}, SendStatus.REFUSED, None),
        ({"ok": False, "error_code": 502, "description": "Bad Gateway"}, "transient", None),
        ({"ok": False, "error_code": 401}, SendStatus.TRANSIENT, None),
        (["not", "a", "dict"], SendStatus.TRANSIENT, None),
    ],
)
def test_every_bot_api_answer_maps_to_one_result(
    body: Any, status: str, retry_after: float | None
) -> None:
    expected = {"rate": SendStatus.RATE_LIMITED, "transient": SendStatus.TRANSIENT}.get(
        status, status
    )
    result = send_result(body)
    assert result.status == expected
    assert result.retry_after == retry_after
