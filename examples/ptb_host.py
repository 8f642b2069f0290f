"""An existing python-telegram-bot bot that takes the Peduli Pekerja flows in beside its own
commands: the minimum a host needs.

The host keeps its Application, its /halo command and its own polling; it adds the flows as a
handler group (bot.telegram_ptb.runner.add_flows), builds the service from the usual settings
(bot.app.build_service: DATABASE_URL, DATA_KEY, REDIS_URL, ...) and runs the flows' background
work (reminders, the delivery engine) beside them. Run it with the settings of `peduli run`:

    BOT_TOKEN=123456:AA... DATABASE_URL=... DATA_KEY=... python examples/ptb_host.py

(TELEGRAM_API_URL points it at another Bot API server, the emulator for instance.)
"""

from __future__ import annotations

import asyncio
import signal

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.app import build_service, configure_logging
from bot.background import BackgroundWork
from bot.hosting import ALLOWED_UPDATES
from bot.settings import Settings
from bot.telegram_ptb.runner import add_flows


async def halo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The host's own command: the flows leave it alone."""
    if update.message is not None:
        await update.message.reply_text("Halo! Ini perintah bot tuan rumah sendiri.")


async def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    assert settings.bot_token, "BOT_TOKEN is not set"
    built = await asyncio.to_thread(build_service, settings)  # migrates the database first
    api = settings.telegram_api_url.rstrip("/")
    application = (
        Application.builder()
        .token(settings.bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("halo", halo))  # the host's, in group 0
    flows = add_flows(application, built.service, group=1)  # the flows yield /halo to it

    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(number, stopped.set)
    async with application:  # initialize (getMe) ... shutdown
        built.service.bot_username = application.bot.username  # for the flows' deep links
        background = BackgroundWork(built.service, flows.transport).start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await application.start()
        try:
            await stopped.wait()
        finally:
            await application.updater.stop()
            await application.stop()
            await background.stop()
            await flows.transport.close()
    await built.aclose()


if __name__ == "__main__":
    asyncio.run(main())
