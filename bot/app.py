"""The composition root: settings -> database, state stores, repository, service -> transport.

Nothing does work at import time. Tests build the same objects with `build_service` and their own
settings, so what runs in production is what the end-to-end tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bot.catalog import ProgrammeSettings, load_programme
from bot.delivery.budget import RateBudget, budget_key, limits_storage
from bot.notifications import notices_for
from bot.security.crypto import DataKeyError
from bot.service import ConversationService
from bot.settings import Settings
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.keys import verified_sealer
from bot.storage.repository import Repository
from bot.storage.state import State, build_state
from flows.registry import check_all
from flows.router import FLOWS

logger = logging.getLogger("bot")


@dataclass
class Built:
    service: ConversationService
    state: State
    programme: ProgrammeSettings
    engine: Engine

    async def aclose(self) -> None:
        await self.state.aclose()
        self.engine.dispose()


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiohttp and aiogram log request details at INFO; keep them quieter than ours.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def build_service(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    migrate: bool = True,
) -> Built:
    check_all(FLOWS)
    programme = load_programme(settings.programme_file)
    if migrate:
        upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    try:
        # The key must be the one the data are sealed with (bot.storage.keys): refused if not.
        sealer = verified_sealer(settings, engine)
    except BaseException:
        engine.dispose()
        raise
    zone = programme.timezone
    now = clock or (lambda: datetime.now(zone))
    repository = Repository(
        engine,
        sealer,
        notify=notices_for(programme.catalog),
        max_sponsorships_per_sponsor=programme.catalog.max_sponsorships,
        clock=lambda: now().astimezone(UTC),
        invitation_ttl=timedelta(days=settings.invitation_days),
        admin_ids=settings.admin_id_set,
        agency_codes=frozenset(agency.code for agency in programme.catalog.agencies),
        announcement_threshold=settings.announcement_approval_threshold,
    )
    # Update ids are per bot: bots sharing one Redis must not see each other's.
    bot_id = (settings.bot_token or "").split(":", 1)[0]
    state = build_state(
        engine,
        settings.redis_url,
        f"{settings.redis_prefix}{bot_id}:",
        sealer=sealer,
        redis_timeout=settings.redis_timeout_seconds,
    )
    service = ConversationService(
        admin_ids=settings.admin_id_set,
        invitation_days=settings.invitation_days,
        repository=repository,
        sessions=state.sessions,
        journal=state.journal,
        locks=state.locks,
        programme=programme,
        clock=now,
        turn_timeout=settings.turn_timeout_seconds,
        reminder_interval=settings.reminder_interval_seconds,
        budget=RateBudget(
            budget_key(settings.bot_token or ""),
            settings.delivery_rate,
            limits_storage(settings.redis_url),
        ),
        delivery_rate=settings.delivery_rate,
        paid_broadcast=settings.paid_broadcast,
    )
    return Built(service, state, programme, engine)


def _key_refused(error: DataKeyError, hint: str = "") -> int:
    """A data key that does not fit: the message (what to do) on stderr, no traceback."""
    print(f"peduli: {error}{hint}", file=sys.stderr)
    return 2


def _require_token(settings: Settings) -> str | None:
    if settings.bot_token:
        return settings.bot_token
    print(
        "BOT_TOKEN is not set.\n"
        "Create a bot with @BotFather in Telegram, then put its token in a file named .env:\n"
        "    BOT_TOKEN=123456789:AA...\n"
        "and run this command again. See README.md, 'Connecting a real bot'.",
        file=sys.stderr,
    )
    return None


async def _polling(settings: Settings, token: str) -> None:
    from bot.telegram_aiogram.runner import create_bot, run_polling

    built = build_service(settings)
    bot = create_bot(token, settings.telegram_api_url)
    try:
        await run_polling(built.service, bot)
    finally:
        await bot.session.close()
        await built.aclose()


def run_polling() -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    token = _require_token(settings)
    if token is None:
        return 2
    try:
        asyncio.run(_polling(settings, token))
    except DataKeyError as error:
        return _key_refused(error)
    return 0


PLAYGROUND_TOKEN = "123456:PLAYGROUND"


async def _playground(settings: Settings, port: int) -> None:
    from bot.telegram_aiogram.runner import create_bot, run_polling
    from emulator.server import BotApiEmulator

    emulator = BotApiEmulator(PLAYGROUND_TOKEN, per_chat_burst=10)
    base_url = await emulator.start("127.0.0.1", port)
    local = settings.model_copy(
        update={
            "bot_token": PLAYGROUND_TOKEN,
            "telegram_api_url": base_url,
            "database_url": settings.playground_database_url,
            "redis_url": None,
        }
    )
    try:
        built = await asyncio.to_thread(build_service, local)
    except BaseException:
        await emulator.stop()
        raise
    bot = create_bot(PLAYGROUND_TOKEN, base_url)
    print(
        f"\nPlayground: open {base_url}/_emulator/ in a browser and chat with the bot as a test\n"
        "user. Telegram is not involved; data go to var/playground.sqlite3. Ctrl+C stops.\n",
        file=sys.stderr,
    )
    try:
        await run_polling(built.service, bot)
    finally:
        await bot.session.close()
        await built.aclose()
        await emulator.stop()


def run_playground(port: int = 8081) -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_playground(settings, port))
    except DataKeyError as error:
        shown = settings.playground_database_url
        hint = f"\nThe playground holds test data only: deleting {shown} starts it afresh."
        return _key_refused(error, hint)
    return 0


@dataclass
class WebhookServer:
    """The webhook's HTTP server, running; `stop` closes it and what it built."""

    runner: Any
    built: Built
    bot: Any
    outbox: asyncio.Task[None]
    upkeep: asyncio.Task[None]
    reminders: asyncio.Task[None] | None = None
    progress: asyncio.Task[None] | None = None  # announcements' progress messages

    async def stop(self) -> None:
        for task in (self.progress, self.reminders, self.upkeep, self.outbox):
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.runner.cleanup()
        await self.bot.session.close()
        await self.built.aclose()


#: Telegram's rule for setWebhook's secret_token.
WEBHOOK_SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")


def webhook_secret_problem(secret: str | None, *, insecure_no_secret: bool = False) -> str | None:
    """Why the webhook must not start with this secret, or None. Never quotes the secret."""
    if not secret:
        if insecure_no_secret:
            return None
        return (
            "WEBHOOK_SECRET is not set. Without it anyone who finds the webhook address can send\n"
            "updates as any user, admins included. Put a random secret in .env, for example the\n"
            "output of:  python -c 'import secrets; print(secrets.token_urlsafe(32))'\n"
            "    WEBHOOK_SECRET=...\n"
            "and run this command again.\n"
            "(For a local test only, without any protection: peduli webhook --insecure-no-secret)"
        )
    if not WEBHOOK_SECRET_FORM.fullmatch(secret):
        return (
            f"WEBHOOK_SECRET is not valid ({len(secret)} characters): Telegram accepts 1 to 256\n"
            "characters of A-Z, a-z, 0-9, _ and - only. Make a new one, for example with:\n"
            "    python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None


async def serve_webhook(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    insecure_no_secret: bool = False,
) -> WebhookServer:
    """Listen on WEBHOOK_LISTEN and register WEBHOOK_URL (+ the webhook path) with Telegram.

    Refuses (ValueError) without a valid WEBHOOK_SECRET unless `insecure_no_secret`."""
    from aiohttp import web

    from bot.telegram_aiogram.runner import (
        WEBHOOK_PATH,
        announcement_progress,
        create_bot,
        delivery_engine,
        ledger_keeper,
        register_webhook,
        reminder_scheduler,
        webhook_application,
    )

    assert settings.bot_token and settings.webhook_url
    problem = webhook_secret_problem(settings.webhook_secret, insecure_no_secret=insecure_no_secret)
    if problem is not None:
        raise ValueError(problem)
    secret = settings.webhook_secret or None
    if secret is None:
        logger.warning(
            "INSECURE: the webhook runs WITHOUT a secret token (--insecure-no-secret). Anyone who "
            "can reach %s can send updates as any user, admins included. Local tests only.",
            settings.webhook_listen,
        )
    built = await asyncio.to_thread(build_service, settings, clock=clock)
    bot = create_bot(settings.bot_token, settings.telegram_api_url)
    app = webhook_application(built.service, bot, secret)
    host, _, port = settings.webhook_listen.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
    url = settings.webhook_url.rstrip("/")
    if not url.endswith(WEBHOOK_PATH):
        url += WEBHOOK_PATH
    await register_webhook(built.service, bot, url, secret)
    outbox = asyncio.create_task(delivery_engine(built.service, bot).run())
    upkeep = asyncio.create_task(ledger_keeper(built.service).run())
    reminders = asyncio.create_task(reminder_scheduler(built.service).run())
    logger.info("webhook server listening on %s", settings.webhook_listen)
    progress = asyncio.create_task(announcement_progress(built.service, bot).run())
    return WebhookServer(runner, built, bot, outbox, upkeep, reminders, progress)


async def _webhook(settings: Settings, insecure_no_secret: bool) -> None:
    server = await serve_webhook(settings, insecure_no_secret=insecure_no_secret)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def run_webhook(*, insecure_no_secret: bool = False) -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    token = _require_token(settings)
    if token is None:
        return 2
    if not settings.webhook_url:
        print(
            "WEBHOOK_URL is not set: the public HTTPS address Telegram posts to.", file=sys.stderr
        )
        return 2
    problem = webhook_secret_problem(settings.webhook_secret, insecure_no_secret=insecure_no_secret)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    try:
        asyncio.run(_webhook(settings, insecure_no_secret))
    except DataKeyError as error:
        return _key_refused(error)
    return 0
