"""The baseline of python-telegram-bot: a bare echo bot over webhook, nothing else.

The framework as it comes, without the bot: python-telegram-bot's default Bot API client
(httpx). The bot on TRANSPORT=ptb sends over aiohttp instead (bot.telegram_ptb.request, about
3 ms of CPU less per call), so its ratio to this echo includes that choice.

Its webhook has the bot's shape (bot.hosting.webhook_application, written out here so the echo
imports nothing of the bot): an aiohttp route that checks the secret token (401), parses the
JSON, builds the Update and awaits Application.process_update before answering, python-telegram-
bot's documented custom-webhook pattern with process_update in place of the update queue so the
handling happens within the request, as the bot's does. Not python-telegram-bot's own webhook
server (Application.run_webhook): that needs tornado, which is not installed (the "webhooks"
extra), and would measure a different HTTP server than the bot's.

    python -m bench.echo_ptb --api URL --listen 127.0.0.1:PORT --secret S --token T
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(message.text or "?")


#: The application as built by Application.builder() (its default context and bot types).
EchoApplication = Application[Any, Any, Any, Any, Any, Any]


def webhook(application: EchoApplication, secret: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400)
        update = Update.de_json(raw, application.bot)
        await application.process_update(update)
        return web.json_response({})

    app = web.Application()
    app.router.add_post(PATH, receive)
    return app


async def serve(api: str, listen: str, secret: str, token: str) -> None:
    base = api.rstrip("/")
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .updater(None)  # updates come through the route above
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    runner = web.AppRunner(webhook(application, secret), access_log=None)
    async with application:  # initialize() and shutdown()
        await application.start()
        await runner.setup()
        host, _, port = listen.rpartition(":")
        await web.TCPSite(runner, host, int(port)).start()
        await application.bot.set_webhook(f"http://{listen}{PATH}", secret_token=secret)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await application.stop()


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
