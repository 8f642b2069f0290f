"""PtbTransport.deliver, the delivery engine's one send, over real HTTP against the Bot API
emulator: each answer Telegram can give becomes the SendResult the engine acts on, and what
arrives is what python-telegram-bot's own send_message / send_photo would have sent."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import NetworkError

from bot.bot_api import reply_markup_json
from bot.telegram_ptb.adapter import PtbTransport, reply_markup
from bot.telegram_ptb.request import AiohttpRequest
from bot.telegram_ptb.runner import create_application
from bot.transport import Media, Outgoing, SendStatus
from emulator import BotApiEmulator, make_png
from tests.e2e.harness import TOKEN
from tests.e2e.recording_api import recording_api

pytestmark = pytest.mark.transports("ptb")

BUTTONS = Outgoing(
    "<b>Daftar</b> sebelum 30 September",
    inline_keyboard=((("➕ Daftarkan pekerja", "menu:sponsor"), ("🔕 Berhenti", "act:annoff")),),
)


async def ptb_bot(base_url: str) -> Bot:
    application, polling = create_application(TOKEN, base_url)
    await polling.shutdown()
    bot: Bot = application.bot
    await bot.request.initialize()
    return bot


@pytest.fixture
async def api() -> AsyncIterator[tuple[BotApiEmulator, PtbTransport]]:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=1, global_rate=None)
    base_url = await emulator.start()
    bot = await ptb_bot(base_url)
    transport = PtbTransport(bot)
    try:
        yield emulator, transport
    finally:
        await transport.close()
        await bot.request.shutdown()
        await emulator.stop()


async def test_a_message_arrives_with_its_formatting_and_buttons(
    api: tuple[BotApiEmulator, PtbTransport],
) -> None:
    emulator, transport = api
    emulator.open_chats([501])
    result = await transport.deliver(501, BUTTONS)
    assert result.status == SendStatus.SENT and result.message_id is not None
    [arrived] = emulator.user(501).messages
    assert arrived.message_id == result.message_id
    assert arrived.text == "Daftar sebelum 30 September"
    assert arrived.entities == [{"type": "bold", "offset": 0, "length": 6}]
    assert arrived.buttons == [
        [("➕ Daftarkan pekerja", "menu:sponsor"), ("🔕 Berhenti", "act:annoff")]
    ]
    assert emulator.calls[-1].params["link_preview_options"] == {"is_disabled": True}
    assert emulator.rejections == []


async def test_a_photo_by_file_id_carries_the_text_as_its_caption(
    api: tuple[BotApiEmulator, PtbTransport],
) -> None:
    emulator, transport = api
    emulator.open_chats([502])
    photo = emulator._store_file(make_png(), "a.png", "image/png", "photo")
    result = await transport.deliver(
        502, BUTTONS, media=Media("photo", photo.file_id), paid_broadcast=True
    )
    assert result.status == SendStatus.SENT
    [arrived] = emulator.user(502).messages
    assert arrived.photo and arrived.raw["caption"] == "Daftar sebelum 30 September"
    assert [c.params.get("allow_paid_broadcast") for c in emulator.calls[-1:]] == [True]


async def test_each_refusal_is_the_result_the_engine_acts_on(
    api: tuple[BotApiEmulator, PtbTransport],
) -> None:
    emulator, transport = api
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


async def test_a_429_reaches_the_engine_and_the_other_calls_wait_it_out(
    api: tuple[BotApiEmulator, PtbTransport],
) -> None:
    """No rate limiter of python-telegram-bot's sits in between: deliver reports the 429
    (above); send, for a turn's replies, waits it out and sends."""
    emulator, transport = api
    emulator.open_chats([506])
    assert (await transport.deliver(506, Outgoing("satu"))).status == SendStatus.SENT
    assert await transport.send(506, Outgoing("dua")) is not None
    assert [c.error_code for c in emulator.calls_to("sendMessage")] == [None, 429, None]


async def test_an_unreachable_server_is_worth_a_retry() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = await ptb_bot(f"http://127.0.0.1:{port}")
    transport = PtbTransport(bot)
    try:
        result = await transport.deliver(1, Outgoing("halo"))
    finally:
        await transport.close()
        await bot.request.shutdown()
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
def test_the_markup_json_is_what_python_telegram_bot_would_send(message: Outgoing) -> None:
    markup = reply_markup(message)
    expected = None if markup is None else markup.to_dict()
    assert reply_markup_json(message) == expected


async def test_files_go_up_as_multipart_over_aiohttp(
    api: tuple[BotApiEmulator, PtbTransport],
) -> None:
    """The Bot's own calls go through bot.telegram_ptb.request (aiohttp, not httpx): a QR code
    and an export arrive whole, named, with their HTML captions."""
    emulator, transport = api
    assert isinstance(transport.bot.request, AiohttpRequest)
    emulator.open_chats([507, 508])
    png = make_png()
    assert await transport.send_photo(507, png, "<b>Undangan</b>") is not None
    data = b"reference,kpj\nPR-ABCDEF,23012345678\n"
    assert await transport.send_document(508, data, "ekspor.csv", "<i>Ekspor</i>") is not None
    [photo] = emulator.user(507).messages
    assert photo.photo == png and photo.raw["caption"] == "Undangan"
    [document] = emulator.user(508).messages
    assert document.document is not None and document.document.data == data
    assert document.document.filename == "ekspor.csv" and document.raw["caption"] == "Ekspor"
    assert emulator.rejections == []


async def test_calls_without_files_go_as_json_uploads_as_multipart() -> None:
    """aiohttp wraps a dict in a FormData, whose multipart writer draws a uuid4 boundary from
    os.urandom on every call: a call without files goes as a JSON body instead, its nested
    objects as JSON objects."""
    async with recording_api() as (recording, base_url):
        bot = await ptb_bot(base_url)
        try:
            transport = PtbTransport(bot)
            await transport.send(501, BUTTONS)
            await transport.send_photo(501, make_png(), "<b>Undangan</b>")
        finally:
            await bot.request.shutdown()
    [(method, content_type, params), (photo_method, photo_type, photo)] = recording.calls
    assert (method, content_type) == ("sendMessage", "application/json")
    assert params["chat_id"] == 501 and params["text"] == BUTTONS.text
    assert params["reply_markup"] == reply_markup_json(BUTTONS)
    assert (photo_method, photo_type) == ("sendPhoto", "multipart/form-data")
    assert photo["chat_id"] == "501" and photo["caption"] == "<b>Undangan</b>"


async def test_an_unreachable_server_is_a_network_error_for_the_other_calls() -> None:
    """What PtbTransport._call and the polling loop expect of the request class: its failures
    are python-telegram-bot's NetworkError (TimedOut is one), never an aiohttp exception."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = await ptb_bot(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(NetworkError):
            await PtbTransport(bot).send(1, Outgoing("halo"))
    finally:
        await bot.request.shutdown()
