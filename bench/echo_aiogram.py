"""The baseline: a bare aiogram echo bot over webhook (handle_in_background), nothing else.

The same framework, HTTP server and Bot API client as the bot, without the bot: what is left
of the cost per update once the conversation, storage and rendering are taken away.

    python -m bench.echo_aiogram --api URL --listen 127.0.0.1:PORT --secret S --token T [--like-bot]

`--like-bot` (the `echo-calls` configuration): each update is answered with the Bot API calls
the bot makes at the same step of its conversation (BOT_CALLS), in the same order and with the
same concurrency, and nothing else: what the bot's calls alone cost on aiogram, its floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

PATH = "/telegram/webhook"

#: The bot's Bot API calls at each step of bench.load.asn_conversation, in order (counted with a
#: recording transport: 59 calls for 22 updates, 2.68 per update, as the fake Bot API counts
#: under the benchmark). answer and retire go together (ConversationService._send_effects).
BOT_CALLS: tuple[tuple[str, ...], ...] = (
    ("send",),  # /start
    ("answer", "retire", "send", "send", "send"),  # the language, then the welcome
    ("send",),  # the NIP
    ("answer", "retire", "send"),
    ("send",),  # the name
    ("send",),  # the agency's search
    ("answer", "retire", "send"),
    ("send", "send", "send"),  # the contact
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("send",),  # the worker's name
    ("delete", "send", "send"),  # the NIK: its message deleted
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("send",),  # the district's search
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("answer", "retire", "send"),
    ("answer", "retire", "send", "document", "photo", "send"),  # Simpan
)
#: A message of the bot's usual length, with two buttons.
FILLER = "<b>Langkah berikutnya.</b> " + "Silakan pilih salah satu tombol di bawah ini. " * 6
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="✅ Ya, benar", callback_data="1:yes")],
        [InlineKeyboardButton(text="✏️ Ubah", callback_data="1:edit")],
    ]
)
PDF = b"%PDF-1.4\n" + b"0" * 3000  # the statement's size
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 900  # the QR code's size


class LikeBot:
    """Answers each echo update with the calls the bot makes at that step (BOT_CALLS)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.last_sent: dict[int, int] = {}

    async def answer(self, message: Message) -> None:
        text = message.text or "?"
        step = int(text.rsplit(" ", 1)[-1]) % len(BOT_CALLS)
        calls = BOT_CALLS[step]
        chat = message.chat.id
        if calls[:2] == ("answer", "retire"):
            await asyncio.gather(
                self.bot.answer_callback_query(f"echo-{message.message_id}"),
                self.bot.edit_message_reply_markup(
                    chat_id=chat, message_id=self.last_sent.get(chat, message.message_id)
                ),
            )
            calls = calls[2:]
        last = len(calls) - 1 - calls[::-1].index("send")
        for index, call in enumerate(calls):
            if call == "send":
                # The last message carries the echo the load generator waits for.
                sent = await message.answer(
                    text if index == last else FILLER, parse_mode="HTML", reply_markup=KEYBOARD
                )
                self.last_sent[chat] = sent.message_id
            elif call == "delete":
                await self.bot.delete_message(chat, message.message_id)
            elif call == "document":
                pdf = BufferedInputFile(PDF, "surat-pernyataan.pdf")
                await self.bot.send_document(chat, pdf, caption=FILLER, parse_mode="HTML")
            elif call == "photo":
                png = BufferedInputFile(PNG, "qr.png")
                await self.bot.send_photo(chat, png, caption=FILLER, parse_mode="HTML")


async def serve(api: str, listen: str, secret: str, token: str, *, like_bot: bool = False) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.rstrip("/")))
    bot = Bot(token=token, session=session)
    dispatcher = Dispatcher()
    like = LikeBot(bot) if like_bot else None

    @dispatcher.message()
    async def echo(message: Message) -> None:
        if like is not None:
            await like.answer(message)
            return
        await message.answer(message.text or "?")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=secret, handle_in_background=True
    ).register(app, PATH)
    setup_application(app, dispatcher, bot=bot)
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(f"http://{listen}{PATH}", secret_token=secret)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await bot.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--like-bot", action="store_true", help="the bot's calls at each step")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.api, args.listen, args.secret, args.token, like_bot=args.like_bot))


if __name__ == "__main__":
    main()
