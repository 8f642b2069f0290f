"""The flows inside a host's python-telegram-bot Application (bot.telegram_ptb.runner.add_flows):
the host's handlers keep their commands and buttons wherever they sit (the flows' own group,
added after the flows, or an earlier group), a watcher in a later group still sees everything,
and the flows answer their own. In process, through the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram_ptb.runner import PtbRuntime, add_flows
from emulator.server import BotApiEmulator
from tests.e2e.harness import TOKEN, BotUnderTest, settings_for, sqlite_url, texts

pytestmark = pytest.mark.transports("ptb")

HALO = "Halo dari tuan rumah"


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    running = await BotUnderTest(
        settings_for(emulator.base_url or "", sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    yield running
    await running.stop()


async def test_the_host_keeps_its_commands_and_buttons_and_the_flows_answer_theirs(
    emulator: BotApiEmulator, bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert isinstance(bot.runtime, PtbRuntime)
    application = bot.runtime.application
    seen: list[int] = []

    async def halo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        ping = InlineKeyboardButton("Ping", callback_data="host:ping")
        await update.message.reply_text(HALO, reply_markup=InlineKeyboardMarkup([[ping]]))

    async def pong(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("pong")

    async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)

    # The flows are in group 0 already (PtbRuntime): /halo joins them there, AFTER them, which
    # python-telegram-bot alone would give to the flows (the first handler of a group that
    # takes an update gets it); the host's buttons are in an earlier group, its watcher later.
    application.add_handler(CommandHandler("halo", halo), group=0)
    application.add_handler(CallbackQueryHandler(pong, pattern="^host:"), group=-1)
    application.add_handler(TypeHandler(Update, watch), group=5)

    user = emulator.user(7601)
    assert texts(await user.say("/halo")) == HALO
    press = await user.press("Ping")
    await bot.idle()
    answer = emulator.callback_answer(press["callback_query"]["id"])
    assert answer is not None and answer.text == "pong"  # the host's, not the flows' "stale"
    assert [c.method for c in emulator.calls_to("answerCallbackQuery")] == ["answerCallbackQuery"]

    assert "Pilih bahasa" in texts(await user.say("/start"))
    assert "Ketik NIP" in texts(await user.choose("🇮🇩 Bahasa Indonesia"))
    assert len(seen) == 4  # /halo, Ping, /start, the language: the watcher saw every one
    bot_texts = [m.text for m in user.history if m.from_bot]
    assert bot_texts[0] == HALO and not any("/halo" in (t or "") for t in bot_texts)
    assert emulator.rejections == []
    # The libraries' loggers were quieted (add_flows): httpx logs every URL, the token in it,
    # and python-telegram-bot's Bot every message text, at DEBUG.
    library = [r.getMessage() for r in caplog.records if r.name.startswith(("telegram", "http"))]
    assert not [m for m in library if TOKEN in m or "Pilih bahasa" in m]


async def test_embedded_flows_take_only_their_commands_buttons_and_conversations(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    """add_flows without standalone (a host's Application): free text outside the flows'
    conversations, a host's command and a button in another format are not the flows'; the
    host's later-group handlers get them and the flows say nothing."""
    assert isinstance(bot.runtime, PtbRuntime)
    application = bot.runtime.application
    # The runtime's whole-bot flows out, the embedded ones in (the service and transport stay).
    application.remove_handler(bot.runtime.flows, 0)
    add_flows(application, bot.runtime.service, group=0)
    heard: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        heard.append(update.message.text)
        await update.message.reply_text(f"Tuan rumah: {update.message.text}")

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        button = InlineKeyboardButton("Suka", callback_data="like")
        await update.message.reply_text(
            "Menu tuan rumah", reply_markup=InlineKeyboardMarkup([[button]])
        )

    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo), group=1)
    application.add_handler(CommandHandler("cuaca", menu), group=1)

    user = emulator.user(7602)
    # Free text before any flow: the host's, and the flows stay silent.
    assert texts(await user.say("selamat pagi")) == "Tuan rumah: selamat pagi"
    # A host command: the host's, not "Perintah tidak dikenal" from the flows.
    assert texts(await user.say("/cuaca")) == "Menu tuan rumah"
    # A button in another format: not answered as stale by the flows (the host has no
    # handler for it here, so nobody answers it).
    press = await user.press("Suka")
    await bot.idle()
    assert emulator.callback_answer(press["callback_query"]["id"]) is None
    # The flows' own command and their conversation are theirs.
    assert "Pilih bahasa" in texts(await user.say("/start"))
    assert "Ketik NIP" in texts(await user.choose("🇮🇩 Bahasa Indonesia"))
    assert "NIP" in texts(await user.say("123"))  # a reply within the flow: the flows answer
    assert heard == ["selamat pagi", "123"]  # a later group still sees it (the library's rule)
    assert emulator.rejections == []


async def test_a_stop_does_not_wait_for_an_update_that_hangs(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    """An update whose handling hangs (a send to a stalled server, say) holds a stop for
    stop_grace seconds at most, then it is cancelled: a deploy is not held up."""
    assert isinstance(bot.runtime, PtbRuntime)
    bot.runtime.stop_grace = 0.5
    stuck = asyncio.Event()

    async def hang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        stuck.set()
        await asyncio.Event().wait()  # never set

    bot.runtime.application.add_handler(MessageHandler(filters.Regex("^macet$"), hang), group=-1)
    await emulator.user(7603).send_text("macet")
    await asyncio.wait_for(stuck.wait(), 10)
    await bot.runtime.stop_polling()
    assert bot._task is not None
    await asyncio.wait_for(bot._task, 5)  # without the grace: waits for ever
