"""How a Telegram framework hosts the service: the Runtime each transport implements
(bot.telegram_aiogram, bot.telegram_ptb), and the webhook endpoint they share.

The composition root (bot.app) picks a runtime by name (TRANSPORT, `--transport`), then drives
it the same way whichever framework it is: prepare, then poll or feed webhook updates, beside the
background work (bot.background). Tests drive both through the same calls.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, Renderer
from bot.service import ConversationService, Handled
from bot.transport import Transport
from flows.text import t

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
#: The commands in the menu beside the message box, each described in the user's language.
MENU_COMMANDS = (
    "start",
    "pekerja",
    "status",
    "data_saya",
    "klaim",
    "bahasa",
    "kembali",
    "batal",
    "bantuan",
)
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: The webhook's answer to an update taken: an empty JSON object (no Bot API call in it).
EMPTY_ANSWER = b"{}"


def command_menus() -> list[tuple[str | None, list[tuple[str, str]]]]:
    """The private chats' command menus, worded: (language_code, [(command, description)]) for
    each language, Indonesian as the default (None) and every other for its users. Each
    transport sets them with its framework's setMyCommands."""
    menus: list[tuple[str | None, list[tuple[str, str]]]] = []
    for language in LANGUAGES:
        render = Renderer(language)
        commands = [(name, render.plain(t(f"commands.{name}"))) for name in MENU_COMMANDS]
        menus.append((None if language == DEFAULT_LANGUAGE else language, commands))
    return menus


#: Told once an update's handling is over (handled, ignored, refused or failed), by update id:
#: the tests' emulator waits on it instead of a quiet period.
HandledHook = Callable[[int], None]


class Runtime(Protocol):
    """One framework running the service. Built with (service, token, api_url, on_handled=None).

    The service's turns are the same on every runtime; a runtime only maps the framework's
    updates to `Incoming` and the service's `Outgoing` to the framework's calls."""

    service: ConversationService

    @property
    def transport(self) -> Transport:
        """The framework's Bot API client as the service's Transport (background work too)."""
        ...

    async def prepare(self) -> None:
        """Before the first update: getMe (the service learns its username, for deep links)
        and the command menus in each language."""
        ...

    async def poll(self, *, polling_timeout: int = 30) -> None:
        """After prepare(): long polling (the webhook deleted first, pending updates kept) until
        stop_polling(), even one called before polling began; updates handled concurrently; an
        update that does not parse is skipped, not retried."""
        ...

    async def stop_polling(self) -> None: ...

    async def feed(self, raw: dict[str, Any]) -> Handled | None:
        """One webhook update, a JSON object: parsed by the framework, handled, awaited. None
        when it was not the service's to handle (unparseable, not a private chat, forged)."""
        ...

    async def register_webhook(self, url: str, secret: str | None) -> None:
        """prepare(), then setWebhook with the secret and the allowed updates."""
        ...

    async def close(self) -> None:
        """Close the framework's HTTP client."""
        ...


def webhook_application(
    feed: Callable[[dict[str, Any]], Awaitable[Handled | None]],
    secret: str | None,
    path: str = WEBHOOK_PATH,
) -> web.Application:
    """An aiohttp app receiving updates at `path` for a runtime's `feed`.

    - Without the right secret token (X-Telegram-Bot-Api-Secret-Token): 401. With `secret` None
      every request is taken (`peduli webhook --insecure-no-secret` only).
    - Not JSON, or JSON that is not an object: 400 and one log line. Telegram never sends that;
      whoever did gets told, and nothing reaches the framework.
    - A JSON object that is not a valid Update: 200, skipped, one log line. Telegram redelivers
      on any non-2xx answer, so a 400 for an update it did send (say, a new field a framework
      rejects) would be retried and would hold the webhook queue up behind it for every user.
    - The update is handled before Telegram is answered: 503 when the service was busy (a store
      failed or was too slow, nothing saved), so Telegram delivers it again later.
    """

    expected = secret.encode() if secret is not None else None

    async def receive(request: web.Request) -> web.Response:
        if expected is not None:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), expected):
                return web.Response(body="Unauthorized", status=401)
        try:
            raw = json.loads(await request.read())
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            logger.warning("webhook request refused: the body is not JSON")
            return web.Response(status=400, text="Bad Request: the body is not JSON")
        if not isinstance(raw, dict):
            logger.warning("webhook request refused: a JSON %s, not an object", type(raw).__name__)
            return web.Response(status=400, text="Bad Request: an update is a JSON object")
        try:
            handled = await feed(raw)
        except Exception as error:  # logged without the update: it may hold a NIK
            logger.error("update %s failed (%s)", raw.get("update_id"), type(error).__name__)
            handled = None
        if handled is Handled.BUSY:
            return web.Response(status=503, text="Service Unavailable: deliver this update again")
        return web.Response(body=EMPTY_ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post(path, receive)
    return app
