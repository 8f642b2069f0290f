"""An existing aiogram bot hosting the Peduli Pekerja flows beside its own handlers.

Run it from a checkout, with the bot's settings in the environment or in .env (BOT_TOKEN,
DATABASE_URL, DATA_KEY, ...: README "Configuration"):

    python examples/aiogram_host.py

The host keeps what it had: its /halo command (on the Dispatcher itself), its "👍 Suka" button and
its answer to any text nobody else took (in a router included after the flows). The flows answer
only their own commands (/start with its deep links, /pekerja, /batal, ...), their own buttons,
and free text while the user is in one of their conversations (flows_router; README "Embedding
the flows in your bot"). Beside polling run the flows' background work (notifications,
reminders, announcements: BackgroundWork), and before it their prepare step: getMe, without
which invitations have no deep link, and the command menus, here merged with the host's /halo.
tests/examples/test_aiogram_host.py runs this file against the Bot API emulator.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.app import build_service
from bot.background import BackgroundWork
from bot.service import ConversationService
from bot.settings import Settings
from bot.telegram_aiogram.adapter import AiogramTransport
from bot.telegram_aiogram.runner import flows_router, prepare

#: The host's own commands, listed after the flows' in the menu of private chats.
HOST_COMMANDS = [BotCommand(command="halo", description="Sapaan dari bot tuan rumah")]


class HostAction(CallbackData, prefix="host"):
    """The host's own buttons ("host:like"): a prefix that is not digits, so never the flows'."""

    name: str


def host_router() -> Router:
    """What the host handles after the flows: its button, and whatever the flows left."""
    router = Router(name="host")

    @router.callback_query(HostAction.filter(F.name == "like"))
    async def liked(callback: CallbackQuery) -> None:
        await callback.answer("Terima kasih!")
        if isinstance(callback.message, Message):
            await callback.message.answer("Tuan rumah mencatat: suka.")

    @router.message(F.text)
    async def anything_else(message: Message) -> None:
        await message.answer(f"Tuan rumah menerima: {message.text}")

    return router


def host_dispatcher(service: ConversationService) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message(Command("halo"))
    async def hello(message: Message) -> None:
        like = HostAction(name="like").pack()
        await message.answer(
            "Halo! Ini bot tuan rumah.",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="👍 Suka", callback_data=like)]]
            ),
        )

    dispatcher.include_router(flows_router(service))  # the flows' commands, buttons, conversations
    dispatcher.include_router(host_router())  # then the host's, for what the flows leave
    return dispatcher


async def main() -> None:
    settings = Settings()
    if not settings.bot_token:
        raise SystemExit("BOT_TOKEN is not set (README, 'Connecting a real bot').")
    built = await asyncio.to_thread(build_service, settings)  # migrates the database
    bot = Bot(
        token=settings.bot_token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url)),
    )
    dispatcher = host_dispatcher(built.service)
    background = BackgroundWork(built.service, AiogramTransport(bot))
    try:
        await prepare(built.service, bot, host_commands=HOST_COMMANDS)
        background.start()
        # Stops on SIGINT and SIGTERM (aiogram's handle_signals), then the loops below stop.
        await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())
    finally:
        await background.stop()
        await bot.session.close()
        await built.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main())
