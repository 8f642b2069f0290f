"""Runs the service on python-telegram-bot 22: the flows as a handler, the command menus, long
polling and the webhook (bot.hosting.Runtime); `add_flows` adds the flows to any Application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.ext import Application, ApplicationBuilder, BaseHandler, ContextTypes

from bot.hosting import ALLOWED_UPDATES, HandledHook, command_menus
from bot.plain_updates import NotPlain, plain_incoming
from bot.service import ConversationService, Handled, Incoming
from bot.telegram_ptb.adapter import (
    PtbTransport,
    entities_html,
    incoming_callback,
    incoming_message,
    should_answer_unhandled,
)
from bot.telegram_ptb.request import AiohttpRequest
from bot.telegram_ptb.updates import DEFAULT_BACKOFF, Backoff, parse_update, poll_updates
from flows import callbacks
from flows.inputs import ChoicePicked, CommandIssued
from flows.router import knows_command

logger = logging.getLogger(__name__)

#: How long a stopping bot lets the updates in hand finish before cancelling them.
STOP_GRACE = 5.0

#: Told the service's verdict on an update the flows handled (the webhook answers 503 on BUSY).
ResultHook = Callable[[int, Handled], None]


class _AnswerOnly:
    """check_update's result for a press the service does not take but the flows answer."""


ANSWER_ONLY = _AnswerOnly()


class FlowsHandler(BaseHandler[Update, Any, None]):
    """The flows as one python-telegram-bot handler: private-chat messages and button presses.

    Embedded (not `standalone`), it takes only what is the flows' own, as flows_router does on
    aiogram: their commands, their buttons, and other messages only within their conversations;
    and it yields to the host: an update that another handler of the same group, or of an
    earlier group, would take (its check_update) is left to that handler (see add_flows)."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        service: ConversationService,
        group: int,
        on_result: ResultHook | None = None,
        *,
        standalone: bool = False,
    ) -> None:
        super().__init__(self._handle, block=True)
        self.application = application
        self.service = service
        self.group = group
        self.on_result = on_result
        self.standalone = standalone
        #: The flows' Transport: the host runs its background work over it, and closes it.
        self.transport = PtbTransport(application.bot)

    def check_update(self, update: object) -> Incoming | _AnswerOnly | None:
        if not isinstance(update, Update):
            return None
        if update.message is None and update.callback_query is None:
            return None
        if self._host_takes(update):
            return None
        if update.message is not None:
            incoming = incoming_message(update.update_id, update.message)
            if incoming is None or self.standalone:
                return incoming
            given = incoming.input
            if isinstance(given, CommandIssued) and not knows_command(given.name):
                return None  # the host's command, even in the middle of a flow
            return incoming
        callback = update.callback_query
        assert callback is not None
        if not self.standalone and callbacks.decode(callback.data or "") is None:
            return None  # not the flows' button format: a host's button
        incoming = incoming_callback(update.update_id, callback)
        if incoming is not None:
            return incoming
        return ANSWER_ONLY if should_answer_unhandled(callback) else None

    def _host_takes(self, update: Update) -> bool:
        for group, handlers in self.application.handlers.items():
            if group > self.group:
                break
            for handler in handlers:
                if isinstance(handler, FlowsHandler):
                    continue
                check = handler.check_update(update)
                if check is not None and check is not False:
                    return True
        return False

    async def handle_update(
        self,
        update: Update,
        application: Application[Any, Any, Any, Any, Any, Any],
        check_result: object,
        context: Any,
    ) -> None:
        transport = self.transport
        if isinstance(check_result, Incoming):
            # Free text and the like are the flows' only within a conversation of theirs,
            # decided under the user's lock (a command or button that passed is theirs anyway).
            confined = not self.standalone and not isinstance(
                check_result.input, CommandIssued | ChoicePicked
            )
            handled = await self.service.handle(
                check_result, transport, only_in_conversation=confined
            )
            if self.on_result is not None:
                self.on_result(update.update_id, handled)
        elif check_result is ANSWER_ONLY and update.callback_query is not None:
            await transport.answer_callback(update.callback_query.id, None)

    async def _handle(self, update: Update, context: Any) -> None:  # pragma: no cover
        raise AssertionError("handle_update does the work")  # BaseHandler wants a callback


def add_flows(
    application: Application[Any, Any, Any, Any, Any, Any],
    service: ConversationService,
    *,
    group: int = 0,
    on_result: ResultHook | None = None,
    standalone: bool = False,
) -> FlowsHandler:
    """Add the flows to a python-telegram-bot Application, in handler group `group`; returns
    the handler (application.remove_handler(handler, group) takes the flows out again).

    What the flows take, in private chats only, as flows_router on aiogram (README "Embedding
    the flows in your bot"): their own commands (flows.router.knows_command; any other command
    is the host's, even in the middle of a flow); their own buttons (callback data in their
    format "<seq>:<value>": a host's callback data must not start with digits and a colon);
    any other message (free text, a contact) only while the user is in a conversation of
    theirs, decided under the user's lock (ConversationService.handle only_in_conversation).
    `standalone`: the flows are the whole bot (PtbRuntime): they also answer an unknown command
    or stray text with the menu, and a foreign button as stale.

    How it shares the Application with the host's own handlers: python-telegram-bot runs at most
    one handler per group, groups in ascending order. The flows take every private-chat message
    and button press, so on their own they would take the host's commands in their group, and
    answer them again (as unknown commands) from a later group. So the flows yield: an update
    that a handler of the host in the same group (added before or after the flows) or in an
    earlier group would take is left to the host. The host's commands and buttons stay the
    host's wherever its handlers are, except in a LATER group: a handler there still sees every
    update, the flows' own included (python-telegram-bot's rule), which suits one that only
    watches (a log) and not one that answers. A host handler that takes everything (a
    MessageHandler(filters.ALL) in an earlier group) leaves the flows nothing; and an update
    the flows do not take (a group chat, a forged sender) goes on to the host's other handlers.

    A text the flows decline outside their conversations is not passed on within the same
    group (python-telegram-bot's rule): a host's free-text handler belongs in the same group
    (the flows yield to it, see above) or a later one. The host runs the
    background work itself (bot.background.BackgroundWork over the returned handler's
    transport, which it closes at the end), and sets service.bot_username (deep links) once the
    bot is initialized: examples/ptb_host.py shows the whole of it. It also keeps the library
    loggers that would write message texts or the bot token quiet (QUIETED_LOGGERS).
    """
    quiet_library_logs()  # the flows' messages carry names and prompts: not in the log
    handler = FlowsHandler(application, service, group, on_result, standalone=standalone)
    application.add_handler(handler, group)
    return handler


async def set_command_menus(bot: Bot) -> None:
    """The command menu in Indonesian by default, and in each other language for its users."""
    scope = BotCommandScopeAllPrivateChats()
    for code, menu in command_menus():
        commands = [BotCommand(command=name, description=text) for name, text in menu]
        await bot.set_my_commands(commands, scope=scope, language_code=code)


async def prepare(
    service: ConversationService, application: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    """What the bot learns from and tells Telegram before the first update."""
    await application.initialize()  # getMe, once
    service.bot_username = application.bot.username
    await set_command_menus(application.bot)


class ReportingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that tells `on_handled` once each update's handling is over (handled,
    ignored or failed): the tests' emulator knows from it that the bot is idle."""

    def __init__(self, *, on_handled: HandledHook | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_handled = on_handled

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if self.on_handled is not None and isinstance(update, Update):
                self.on_handled(update.update_id)


async def log_failure(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler that failed, logged by update id and error type: never the update or a
    traceback's values (they may hold a NIK)."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed (%s)", update_id, type(context.error).__name__)


#: Library loggers that write what must not be in a log at DEBUG or even INFO: the Bot logs every
#: call's parameters and answer (message texts: names, NIK prompts), httpx every request's URL
#: (which holds the bot token), httpcore every byte exchanged.
QUIETED_LOGGERS = {
    "telegram.Bot": logging.INFO,
    "telegram.ext.ExtBot": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
}


def quiet_library_logs() -> None:
    for name, level in QUIETED_LOGGERS.items():
        library = logging.getLogger(name)
        if library.level < level:
            library.setLevel(level)


def create_application(
    token: str, api_url: str, *, on_handled: HandledHook | None = None
) -> tuple[ReportingApplication, AiohttpRequest]:
    """The Application (no Updater: polling is ours, see .updates; no job queue, no persistence,
    no rate limiter: the delivery engine must see every 429), its requests over aiohttp
    (.request), and the request object of polling."""
    quiet_library_logs()
    base = api_url.rstrip("/")
    polling_request = AiohttpRequest(connection_pool_size=1)
    application = (
        ApplicationBuilder()
        .application_class(ReportingApplication, kwargs={"on_handled": on_handled})
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .request(AiohttpRequest())
        .get_updates_request(polling_request)
        .updater(None)
        .job_queue(None)
        .concurrent_updates(True)  # the service has per-user locks
        .build()
    )
    assert isinstance(application, ReportingApplication)
    return application, polling_request


class PtbRuntime:
    """The service on python-telegram-bot (bot.hosting.Runtime)."""

    def __init__(
        self,
        service: ConversationService,
        token: str,
        api_url: str,
        *,
        on_handled: HandledHook | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.service = service
        self.application, self._polling_request = create_application(
            token, api_url, on_handled=on_handled
        )
        self._results: dict[int, Handled] = {}
        #: Seconds the updates in hand get to finish when polling stops (see _finish).
        self.stop_grace = STOP_GRACE
        handler = add_flows(
            self.application, service, on_result=self._results.__setitem__, standalone=True
        )
        self.flows = handler  # in group 0
        self.application.add_error_handler(log_failure)
        self._transport = handler.transport
        self._backoff = backoff
        self._stopped = asyncio.Event()
        #: Webhook updates read from their JSON (plain) and parsed by python-telegram-bot.
        self.plain_updates = 0
        self.parsed_updates = 0

    @property
    def bot(self) -> Bot:
        bot: Bot = self.application.bot
        return bot

    @property
    def transport(self) -> PtbTransport:
        return self._transport

    async def prepare(self) -> None:
        await prepare(self.service, self.application)

    async def poll(self, *, polling_timeout: int = 30) -> None:
        """Each update handled in a task of its own, as aiogram does; on stop_polling the long
        poll is abandoned and the updates in hand are handled to the end. After prepare()."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        logger.info("long polling started (python-telegram-bot)")
        handling: set[asyncio.Task[None]] = set()

        async def take() -> None:
            updates = poll_updates(
                self.bot, self._polling_request, polling_timeout, self._backoff, ALLOWED_UPDATES
            )
            async for update in updates:
                task = asyncio.create_task(self.application.process_update(update))
                handling.add(task)
                task.add_done_callback(finished)

        def finished(task: asyncio.Task[None]) -> None:
            handling.discard(task)
            # A handler's error went to the error handler (log_failure); this is the rest.
            if not task.cancelled() and task.exception() is not None:
                logger.error("update handling failed (%s)", type(task.exception()).__name__)

        taking = asyncio.create_task(take())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({taking, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (taking, stopped):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await taking
            await self._finish(handling)
        logger.info("long polling stopped (python-telegram-bot)")

    async def _finish(self, handling: set[asyncio.Task[None]]) -> None:
        """The updates in hand get `stop_grace` seconds to be answered; then they are cancelled,
        so a stop (a deploy) is not held by a send that hangs (an upload to a stalled server
        waits out its read timeout, retried). Nothing is lost: a turn commits with its answer
        owed (TurnJournal), and the next start sends an owed answer of a cancelled one."""
        if not handling:
            return
        _done, pending = await asyncio.wait(set(handling), timeout=self.stop_grace)
        if pending:
            logger.warning(
                "stopping: %d updates still being answered after %.0f s are cancelled; their "
                "owed answers are sent on the next start",
                len(pending),
                self.stop_grace,
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def stop_polling(self) -> None:
        self._stopped.set()

    async def feed(self, raw: dict[str, Any]) -> Handled | None:
        """Handled here, not in a background task: the answer to Telegram depends on whether
        the turn was saved (see bot.telegram_aiogram.runner.AiogramRuntime.feed). A plain
        update (bot.plain_updates) goes to the service straight from its JSON, any other
        through python-telegram-bot's Update and Application."""
        plain = plain_incoming(raw, entities_html)
        if not isinstance(plain, NotPlain):
            self.plain_updates += 1
            try:
                if plain is None:
                    return None
                await self.application.initialize()  # a no-op once prepared
                return await self.service.handle(plain, self._transport)
            except Exception as error:  # as log_failure does for the Application's handlers
                logger.error("update %s failed (%s)", raw["update_id"], type(error).__name__)
                return None
            finally:
                on_handled = self.application.on_handled
                if on_handled is not None:
                    on_handled(raw["update_id"])
        self.parsed_updates += 1
        update = parse_update(raw, self.bot)
        if update is None:
            return None
        await self.application.initialize()  # a no-op once prepared
        try:
            await self.application.process_update(update)
        finally:
            handled = self._results.pop(update.update_id, None)
        return handled

    async def register_webhook(self, url: str, secret: str | None) -> None:
        await self.prepare()
        await self.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        logger.info("webhook registered (python-telegram-bot)")

    async def close(self) -> None:
        await self._transport.close()
        await self.application.shutdown()  # the bot's HTTP clients, when initialized
        for request in (self.bot.request, self._polling_request):
            await request.shutdown()  # not initialized: their clients exist all the same
