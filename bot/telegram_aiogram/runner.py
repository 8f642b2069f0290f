"""Runs the service on aiogram: the dispatcher, the command menus, long polling and the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    Message,
    TelegramObject,
    Update,
)

from bot.hosting import ALLOWED_UPDATES, HandledHook, command_menus
from bot.plain_updates import NotPlain, plain_incoming
from bot.service import ConversationService, Handled
from bot.telegram_aiogram.adapter import (
    AiogramTransport,
    entities_html,
    incoming_callback,
    incoming_message,
    message_input,
    should_answer_unhandled,
)
from bot.telegram_aiogram.session import PinnedSession
from bot.telegram_aiogram.updates import LenientDispatcher, parse_update
from flows import callbacks
from flows.inputs import CommandIssued
from flows.router import knows_command

logger = logging.getLogger(__name__)


def create_bot(token: str, api_url: str) -> Bot:
    session = PinnedSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    return Bot(token=token, session=session, default=DefaultBotProperties())


def flows_router(
    service: ConversationService, *, name: str = "peduli", standalone: bool = False
) -> Router:
    """The flows as an aiogram Router, to include in a host's own Dispatcher beside its own
    handlers (examples/aiogram_host.py; README "Embedding the flows in your bot").

    What the flows take, in private chats only (a group's updates are never theirs):
    - their own commands (flows.router.COMMANDS: /start with or without a deep link, /batal,
      /bantuan, ...; any other command falls through, even in the middle of a flow);
    - their own buttons: callback data in their format ("<seq>:<value>", flows.callbacks) on a
      message in a private chat; a host's own buttons must carry data that does not start
      with digits and a colon (aiogram's CallbackData prefixes never do);
    - any other message (free text, a contact, a photo) only while the user is in a
      conversation of theirs (a step or a question awaits an answer); decided under the user's
      lock, after a turn in flight settled (ConversationService.handle only_in_conversation).
    Everything else falls through to the handlers after the router (aiogram's SkipHandler or
    filters that do not match), so a host's router included after this one keeps its
    commands, its buttons and its free-text handlers. A host's handlers on the Dispatcher
    itself run before any included router and so come first: do not register the flows'
    commands (/start above all: deep links) there. A message the filters give the flows
    whose private chat is not its sender's (forged: Telegram never sends one) is dropped.

    `standalone`: the flows are the whole bot (create_dispatcher): they also answer what is
    not theirs: an unknown command or stray text with the menu, a foreign button as stale.
    Before the first update, `prepare` (getMe for the deep links; the command menus)."""
    router = Router(name=name)
    transports: list[AiogramTransport] = []  # the last bot's, reused (one per bot, not per update)

    def transport_for(bot: Bot) -> AiogramTransport:
        if not transports or transports[0].bot is not bot:
            transports[:] = [AiogramTransport(bot)]
        return transports[0]

    message_filters: tuple[Callable[..., bool], ...] = ()
    callback_filters: tuple[Callable[..., bool], ...] = ()
    if not standalone:
        message_filters = (is_flows_message,)
        callback_filters = (is_flows_button,)

    @router.message(*message_filters)
    async def on_message(message: Message, bot: Bot, event_update: Update) -> Handled | None:
        incoming = incoming_message(event_update.update_id, message)
        if incoming is None:
            return None
        # Free text and the like are the flows' only within a conversation (a command that
        # passed the filter is theirs in any case).
        confined = not standalone and not isinstance(incoming.input, CommandIssued)
        handled = await service.handle(incoming, transport_for(bot), only_in_conversation=confined)
        if handled is Handled.DECLINED:
            raise SkipHandler  # to the host's handlers after this router
        return handled

    @router.callback_query(*callback_filters)
    async def on_callback(
        callback: CallbackQuery, bot: Bot, event_update: Update
    ) -> Handled | None:
        incoming = incoming_callback(event_update.update_id, callback)
        if incoming is not None:
            return await service.handle(incoming, transport_for(bot))
        if should_answer_unhandled(callback):
            await callback.answer()
        return None

    return router


def is_flows_message(message: Message) -> bool:
    """A private-chat message that is not a command, or one of the flows' commands."""
    if message.chat.type != "private":
        return False
    given = message_input(message)
    return not isinstance(given, CommandIssued) or knows_command(given.name)


def is_flows_button(callback: CallbackQuery) -> bool:
    """A press of a button in the flows' callback data format, in a private chat."""
    message = callback.message
    if message is None or message.chat.type != "private":
        return False
    return callbacks.decode(callback.data or "") is not None


def create_dispatcher(
    service: ConversationService, *, on_handled: HandledHook | None = None
) -> Dispatcher:
    """Its polling skips an update that does not parse instead of stalling (see .updates)."""
    dispatcher = LenientDispatcher()
    dispatcher.include_router(flows_router(service, standalone=True))
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


async def set_command_menus(bot: Bot, host_commands: Sequence[BotCommand] = ()) -> None:
    """The command menu of private chats in Indonesian by default, and in each other language
    for its users: the flows' commands, then a host's own (`host_commands`, as given)."""
    scope = BotCommandScopeAllPrivateChats()
    for code, menu in command_menus():
        commands = [BotCommand(command=name, description=text) for name, text in menu]
        await bot.set_my_commands([*commands, *host_commands], scope=scope, language_code=code)


async def prepare(
    service: ConversationService,
    bot: Bot,
    *,
    menus: bool = True,
    host_commands: Sequence[BotCommand] = (),
) -> None:
    """What the bot learns from and tells Telegram before the first update: its username
    (getMe; the invitations' deep links need it), then the command menus.

    A host bot (flows_router) chooses what becomes of its own menu: `host_commands` are listed
    after the flows' in every language (the private-chat menus the flows set hide a menu the
    host set for the default scope, so a host's commands must be merged to stay listed), or
    `menus=False` leaves the menus to the host (the flows' commands then work but are not
    listed unless the host lists them)."""
    service.bot_username = (await bot.me()).username
    if menus:
        await set_command_menus(bot, host_commands)


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
        self._on_handled = on_handled
        #: Webhook updates read from their JSON (plain) and parsed by aiogram (for tests).
        self.plain_updates = 0
        self.parsed_updates = 0
        self._stopped = asyncio.Event()

    @property
    def transport(self) -> AiogramTransport:
        return self._transport

    async def prepare(self) -> None:
        await prepare(self.service, self.bot)

    async def poll(self, *, polling_timeout: int = 30) -> None:
        """After prepare(): long polling until stop_polling(), even one that came before the
        dispatcher was running (aiogram's own stop_polling refuses then, and polling would go
        on for ever: a stop right after a start hung the tests' bot)."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        if self._stopped.is_set():
            return
        logger.info("long polling started (aiogram)")
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                allowed_updates=ALLOWED_UPDATES,
                handle_signals=False,  # bot.app stops polling on SIGINT and SIGTERM
                close_bot_session=False,
                polling_timeout=polling_timeout,
            )
        )
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
            while not polling.done():  # until the dispatcher runs and takes the stop
                with contextlib.suppress(RuntimeError):  # "Polling is not started" yet
                    await self.dispatcher.stop_polling()
                await asyncio.wait({polling}, timeout=0.05)
            await polling
        finally:
            stopped.cancel()

    async def stop_polling(self) -> None:
        self._stopped.set()

    async def feed(self, raw: dict[str, Any]) -> Handled | None:
        """Handled here, not in a background task: the answer to Telegram depends on whether
        the turn was saved. A turn is bounded (the service's turn time limit), so Telegram's
        request does not wait long; Telegram keeps several webhook connections open at once.

        A plain update (bot.plain_updates: a private-chat text or contact, a press) goes to the
        service straight from its JSON, the same Incoming the dispatcher's handlers would build;
        any other goes through aiogram's Update and dispatcher."""
        plain = plain_incoming(raw, entities_html)
        if not isinstance(plain, NotPlain):
            self.plain_updates += 1
            try:
                if plain is None:
                    return None
                return await self.service.handle(plain, self._transport)
            finally:
                if self._on_handled is not None:
                    self._on_handled(raw["update_id"])
        self.parsed_updates += 1
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
