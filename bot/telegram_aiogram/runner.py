"""Runs the service on aiogram: the dispatcher, the command menus, long polling and the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, CallbackQuery, Message, Update
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

from bot.announcements import ProgressReporter, render_announcement
from bot.delivery.budget import RateBudget
from bot.delivery.contracts import AnnouncementRenderer, ReminderGate
from bot.delivery.engine import DeliveryEngine
from bot.i18n import LANGUAGES, Renderer
from bot.ledger import LedgerKeeper
from bot.reminders import ReminderScheduler
from bot.service import ConversationService, Handled
from bot.storage.reminders import Zones
from bot.telegram_aiogram.adapter import (
    AiogramTransport,
    incoming_callback,
    incoming_message,
    should_answer_unhandled,
)
from bot.telegram_aiogram.updates import LenientDispatcher, WebhookHandler
from flows.text import t

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MENU_COMMANDS = ("start", "pekerja", "status", "data_saya", "bahasa", "kembali", "batal", "bantuan")
WEBHOOK_PATH = "/telegram/webhook"


def create_bot(token: str, api_url: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    return Bot(token=token, session=session, default=DefaultBotProperties())


def create_dispatcher(service: ConversationService) -> Dispatcher:
    """Its polling skips an update that does not parse instead of stalling (see .updates)."""
    dispatcher = LenientDispatcher()

    @dispatcher.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> Handled | None:
        incoming = incoming_message(event_update.update_id, message)
        if incoming is not None:
            return await service.handle(incoming, AiogramTransport(bot))
        return None

    @dispatcher.callback_query()
    async def on_callback(
        callback: CallbackQuery, bot: Bot, event_update: Update
    ) -> Handled | None:
        incoming = incoming_callback(event_update.update_id, callback)
        if incoming is not None:
            return await service.handle(incoming, AiogramTransport(bot))
        if should_answer_unhandled(callback):
            await callback.answer()
        return None

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


async def run_polling(
    service: ConversationService, bot: Bot, dispatcher: Dispatcher | None = None, **kwargs: Any
) -> None:
    """Long polling until stopped (dispatcher.stop_polling() or a signal)."""
    dispatcher = dispatcher or create_dispatcher(service)
    await prepare(service, bot)
    await bot.delete_webhook(drop_pending_updates=False)
    logger.info("long polling started")
    outbox = asyncio.create_task(delivery_engine(service, bot).run())
    upkeep = asyncio.create_task(ledger_keeper(service).run())
    reminders = asyncio.create_task(reminder_scheduler(service).run())
    progress = asyncio.create_task(announcement_progress(service, bot).run())
    try:
        await dispatcher.start_polling(bot, allowed_updates=ALLOWED_UPDATES, **kwargs)
    finally:
        for task in (progress, reminders, upkeep, outbox):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def prepare(service: ConversationService, bot: Bot) -> None:
    """What the bot learns from and tells Telegram before the first update."""
    service.bot_username = (await bot.me()).username
    await set_command_menus(bot)


def ledger_keeper(service: ConversationService) -> LedgerKeeper:
    """The ledger's periodic upkeep (bot.ledger), beside the delivery engine."""
    return LedgerKeeper(
        service.repository.ledger,
        service.clock,
        service.programme.timezone,
        ready=service.outbox_ready,
    )


def reminder_scheduler(service: ConversationService) -> ReminderScheduler:
    """The reminder scheduler (bot.reminders), beside the ledger keeper; it wakes the outbox."""
    zones = Zones.of(service.programme.catalog, service.programme.timezone)
    return ReminderScheduler(
        service.repository.reminders(zones),
        service.clock,
        ready=service.outbox_ready,
        interval_seconds=service.reminder_interval,
    )


def announcement_progress(service: ConversationService, bot: Bot) -> ProgressReporter:
    """The announcements' progress messages (bot.announcements), beside the outbox."""
    return ProgressReporter(
        service.repository.announcements,
        AiogramTransport(bot),
        superadmins=service.admin_ids,
        rate=service.delivery_rate,  # the time left, at the engine's budget
    )


def delivery_engine(
    service: ConversationService,
    bot: Bot,
    *,
    renderer: AnnouncementRenderer = render_announcement,
    reminder_gate: ReminderGate | None = None,
) -> DeliveryEngine:
    """The one delivery engine (bot.delivery) on the service's rate budget: the outbox's
    notifications, reminders (each re-checked by the reminder gate right before it is sent)
    and announcements (worded as their authors previewed them)."""
    if reminder_gate is None:
        reminder_gate = service.repository.reminder_gate()
    budget = service.budget or RateBudget(str(bot.id), service.delivery_rate)
    return DeliveryEngine(
        service.repository.delivery,
        AiogramTransport(bot),
        service.outbox_ready,
        budget,
        renderer=renderer,
        reminder_gate=reminder_gate,
        paid_broadcast=service.paid_broadcast,
    )


def webhook_application(
    service: ConversationService, bot: Bot, secret: str | None, path: str = WEBHOOK_PATH
) -> web.Application:
    """An aiohttp app receiving updates; a request without the right secret token gets 401
    (with `secret` None, every request is taken: `peduli webhook --insecure-no-secret` only)."""
    dispatcher = create_dispatcher(service)
    app = web.Application()
    WebhookHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(app, path)
    setup_application(app, dispatcher, bot=bot)
    return app


async def register_webhook(
    service: ConversationService, bot: Bot, url: str, secret: str | None
) -> None:
    await prepare(service, bot)
    await bot.set_webhook(
        url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
    )
    logger.info("webhook registered")
