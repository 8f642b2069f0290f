"""The real aiogram against the emulator, over real HTTP: polling, webhook, errors.

This is the proof that the emulator speaks the Bot API the way aiogram expects (multipart forms,
JSON-encoded nested objects, attach:// uploads, webhook replies as multipart), and the template
the bot's end-to-end tests follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from emulator import BotApiEmulator, make_png
from tests.emulator.conftest import TOKEN


def make_bot(emulator: BotApiEmulator) -> Bot:
    assert emulator.base_url is not None
    return Bot(
        TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )


def make_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    seen: list[int] = []
    dp["seen"] = seen

    @dp.message(CommandStart())
    async def start(message: Message, seen: list[int]) -> None:
        seen.append(message.message_id)
        keyboard = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Bagikan nomor", request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
        await message.answer("Selamat datang, <b>Budi</b> &amp; kawan!", reply_markup=keyboard)

    @dp.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None
        own = message.contact.user_id == message.from_user.id  # type: ignore[union-attr]
        await message.answer(f"Nomor {'sendiri' if own else 'orang lain'} diterima")

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        buttons = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Setuju", callback_data="agree:1")]]
        )
        await message.answer(f"Anda menulis: {message.text}", reply_markup=buttons)
        await message.answer_photo(BufferedInputFile(make_png(5, 5), "kartu.png"), caption="Kartu")

    @dp.callback_query(F.data.startswith("agree:"))
    async def agree(query: CallbackQuery) -> None:
        await query.answer("Tercatat")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Anda setuju ✅")

    return dp


@pytest.fixture
async def polling_bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    bot = make_bot(emulator)
    dp = make_dispatcher()
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    yield bot
    await dp.stop_polling()  # cancels the pending long poll at once
    await asyncio.wait_for(task, 5)


async def test_conversation_through_polling(emulator: BotApiEmulator, polling_bot: Bot) -> None:
    # Five messages in about a second: beyond Telegram's 1/s per chat (burst 3). This toy bot has
    # no outbound limiter, so allow a bigger burst here; the limit itself is tested below.
    emulator.per_chat_burst = 10
    user = emulator.user(1001, "Budi")

    replies = await user.say("/start")
    assert [m.text for m in replies] == ["Selamat datang, Budi & kawan!"]
    assert replies[0].entities == [{"offset": 16, "length": 4, "type": "bold"}]
    assert user.reply_keyboard() == [["Bagikan nomor"]]

    mark = user.mark()
    await user.tap("Bagikan nomor")
    assert [m.text for m in await user.replies_since(mark)] == ["Nomor sendiri diterima"]

    replies = await user.say("halo", min_count=2)
    assert [m.text for m in replies] == ["Anda menulis: halo", "Kartu"]
    assert replies[1].photo is not None and replies[1].photo.startswith(b"\x89PNG")
    assert user.inline_buttons() == [[("Setuju", "agree:1")]]

    mark = user.mark()
    update = await user.press("Setuju")
    answer = await user.wait_callback_answer(update)
    edits = await user.replies_since(mark)
    assert answer.text == "Tercatat"
    assert [(m.event, m.text) for m in edits] == [("edited", "Anda setuju ✅")]
    assert user.messages[-2].text == "Anda setuju ✅" and user.messages[-2].buttons == []

    assert emulator.rejections == []


async def test_commands_and_errors_map_to_aiogram_exceptions(
    emulator: BotApiEmulator, polling_bot: Bot
) -> None:
    bot = polling_bot
    commands = [
        BotCommand(command="start", description="Mulai"),
        BotCommand(command="bantuan", description="Bantuan"),
    ]
    assert await bot.set_my_commands(commands, language_code="id")
    assert await bot.set_my_commands(commands[:1], scope=BotCommandScopeAllPrivateChats())
    assert emulator.commands(language_code="id") == [
        {"command": "start", "description": "Mulai"},
        {"command": "bantuan", "description": "Bantuan"},
    ]
    assert emulator.commands("all_private_chats") == [{"command": "start", "description": "Mulai"}]
    assert emulator.rejections == []

    user = emulator.user(1001)
    await user.say("/start")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user.id, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user.id, "<b>unclosed")
    emulator.per_chat_rate = 1.0
    emulator.reset_rate_limits()
    with pytest.raises(TelegramRetryAfter) as flood:
        for _ in range(4):
            await bot.send_message(user.id, "banjir")
    assert flood.value.retry_after == 1
    user.block()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(user.id, "halo?", allow_paid_broadcast=True)
    assert {r.error_code for r in emulator.rejections} == {400, 429, 403}


async def test_webhook_with_reply_in_response(emulator: BotApiEmulator) -> None:
    """aiogram's SimpleRequestHandler answers with a multipart method call; it is executed."""
    bot = make_bot(emulator)
    dp = Dispatcher()

    @dp.message(F.text)
    async def reply_fast(message: Message) -> Any:
        return SendMessage(chat_id=message.chat.id, text=f"<i>{message.text}</i>")

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="rahasia", handle_in_background=False).register(
        app, path="/webhook"
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/webhook", secret_token="rahasia")
        user = emulator.user(2002)
        replies = await user.say("cepat")
        assert [(m.text, m.entities) for m in replies] == [
            ("cepat", [{"offset": 0, "length": 5, "type": "italic"}])
        ]
        assert emulator.calls[-1].source == "webhook-response"
        # A wrong secret is refused by aiogram: Telegram (the emulator) retries, then gives up.
        emulator._webhook.secret_token = "salah"  # type: ignore[union-attr]
        await user.send_text("lagi")
        await emulator.wait_until(lambda: emulator.pending_update_count == 0, 5, "give up")
        assert emulator.webhook_deliveries[-1].status == 401
        assert emulator.rejections == []
    finally:
        await bot.session.close()
        await runner.cleanup()
