"""The baseline: a bare aiogram echo bot over webhook (handle_in_background), nothing else.

The same framework, HTTP server and Bot API client as the bot, without the bot: what is left
of the cost per update once the conversation, storage and rendering are taken away.

    python -m bench.echo_aiogram --api URL --listen 127.0.0.1:PORT --secret S --token T
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

PATH = "/telegram/webhook"


async def serve(api: str, listen: str, secret: str, token: str) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.rstrip("/")))
    bot = Bot(token=token, session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.api, args.listen, args.secret, args.token))


if __name__ == "__main__":
    main()
