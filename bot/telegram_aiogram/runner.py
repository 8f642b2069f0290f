"""Runs the service on aiogram: the dispatcher, the command menus, long polling and the webhook."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    Message,
    TelegramObject,
    Update,
)

from bot.hosting import ALLOWED_UPDATES, MENU_COMMANDS, HandledHook
from bot.i18n import LANGUAGES, Renderer
from bot.service import ConversationService, Handled
from bot.telegram_aiogram.adapter import (
    AiogramTransport,
    incoming_callback,
    incoming_message,
    should_answer_unhandled,
)
from bot.telegram_aiogram.updates import LenientDispatcher, parse_update
from flows.text import t

logger = logging.getLogger(__name__)


def create_bot(token: str, api_url: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    return Bot(token=token, session=session, default=DefaultBotProperties())


def flows_router(service: ConversationService, *, name: str = "peduli") -> Router:
    """The flows as an aiogram Router: include it in any Dispatcher (examples/aiogram_host.py).

    It takes private-chat messages and button presses; what the service does not handle (a group
    message, a forged update) is left unanswered, and a button that is not the flows' own is
    answered as stale. A host's own command handlers registered before it keep their commands."""
    router = Router(name=name)

    @router.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> Handled | None:
        incoming = incoming_message(event_update.update_id, message)
        if incoming is not None:
            return await service.handle(incoming, AiogramTransport(bot))
        return None

    @router.callback_query()
    async def on_callback(
        callback: CallbackQuery, bot: Bot, event_update: Update
    ) -> Handled | None:
        incoming = incoming_callback(event_update.update_id, callback)
        if incoming is not None:
            return await service.handle(incoming, AiogramTransport(bot))
        if should_answer_unhandled(callback):
            await callback.answer()
        return None

    return router


def create_dispatcher(
    service: ConversationService, *, on_handled: HandledHook | None = None
) -> Dispatcher:
    """Its polling skips an update that does not parse instead of stalling (see .updates)."""
    dispatcher = LenientDispatcher()
    dispatcher.include_router(flows_router(service))
    if on_handled is not None:
        report = on_handled

        async def reported(
            handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
            update: TelegramObject,
            data: dict[str, Any],
        ) -> Any:
            try:
                return await handler(update, data)
            finally:
                assert isinstance(update, Update)
                report(update.update_id)

        dispatcher.update.outer_middleware(reported)
    return dispatcher


async def set_command_menus(bot: Bot) -> None:
    """The command menu in Indonesian by default, and in each other language for its users."""
    scope = BotCommandScopeAllPrivateChats()
    for language in LANGUAGES:
        render = Renderer(language)
        commands = [
            BotCommand(command=name, description=render.plain(t(f"commands.{name}")))
            for name in MENU_COMMANDS
        ]
        code = None if language == "id" else language
        await bot.set_my_commands(commands, scope=scope, language_code=code)


async def prepare(service: ConversationService, bot: Bot) -> None:
    """What the bot learns from and tells Telegram before the first update."""
    service.bot_username = (await bot.me()).username
    await set_command_menus(bot)


class AiogramRuntime:
    """The service on aiogram (bot.hosting.Runtime)."""

    def __init__(
        self,
        service: ConversationService,
        token: str,
        api_url: str,
        *,
        on_handled: HandledHook | None = None,
    ) -> None:
        self.service = service
        self.bot = create_bot(token, api_url)
        self.dispatcher = create_dispatcher(service, on_handled=on_handled)
        self._transport = AiogramTransport(self.bot)

    @property
    def transport(self) -> AiogramTransport:
        return self._transport

    async def prepare(self) -> None:
        await prepare(self.service, self.bot)

    async def poll(self, *, polling_timeout: int = 30) -> None:
        await self.prepare()
        await self.bot.delete_webhook(drop_pending_updates=False)
        logger.info("long polling started (aiogram)")
        await self.dispatcher.start_polling(
            self.bot,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,  # bot.app stops polling on SIGINT and SIGTERM
            close_bot_session=False,
            polling_timeout=polling_timeout,
        )

    async def stop_polling(self) -> None:
        with contextlib.suppress(RuntimeError):  # "Polling is not started"
            await self.dispatcher.stop_polling()

    async def feed(self, raw: dict[str, Any]) -> Handled | None:
        """Handled here, not in a background task: the answer to Telegram depends on whether
        the turn was saved. A turn is bounded (the service's turn time limit), so Telegram's
        request does not wait long; Telegram keeps several webhook connections open at once."""
        update = parse_update(raw, self.bot)
        if update is None:
            return None
        result = await self.dispatcher.feed_update(self.bot, update)
        if isinstance(result, TelegramMethod):
            await self.dispatcher.silent_call_request(bot=self.bot, result=result)
        return result if isinstance(result, Handled) else None

    async def register_webhook(self, url: str, secret: str | None) -> None:
        await self.prepare()
        await self.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        logger.info("webhook registered (aiogram)")

    async def close(self) -> None:
        await self.bot.session.close()
