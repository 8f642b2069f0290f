"""The composition root: settings -> database, state stores, repository, service -> transport.

Nothing does work at import time. Tests build the same objects with `build_service` and their own
settings, so what runs in production is what the end-to-end tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bot.background import BackgroundWork
from bot.catalog import ProgrammeSettings, load_programme
from bot.delivery.budget import RateBudget, budget_key, limits_storage
from bot.heap import settle_after_start
from bot.hosting import WEBHOOK_PATH, HandledHook, Runtime, webhook_application
from bot.notifications import notices_for
from bot.playground import PlaygroundInspector
from bot.processes import log_format, notify_ready
from bot.security.crypto import DataKeyError
from bot.service import ConversationService
from bot.settings import (
    TOKEN_MISSING,
    TRANSPORT_NAMES,
    Settings,
    TransportName,
    webhook_problem,
    webhook_secret_problem,
)
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.inspection import rows_of_user
from bot.storage.keys import verified_sealer
from bot.storage.repository import Repository
from bot.storage.state import State, build_state
from flows.registry import check_all
from flows.router import FLOWS

logger = logging.getLogger("bot")
#: aiohttp's access log (aiohttp.log.access_logger), which the webhook server writes to.
ACCESS_LOGGER = "aiohttp.access"


@dataclass
class Built:
    service: ConversationService
    state: State
    programme: ProgrammeSettings
    engine: Engine

    async def aclose(self) -> None:
        try:  # answers delivered whose rows are not cleared yet (TurnJournal.mark_delivered)
            await self.state.journal.flush_delivered()
        except Exception:  # a store down at shutdown: those answers may be sent once more
            logger.warning("could not record the last deliveries", exc_info=True)
        await self.state.aclose()
        self.engine.dispose()


def configure_logging(level: str, *, several_processes: bool = False) -> None:
    """Logging to stderr; with WEBHOOK_PROCESSES > 1 each line names its process."""
    logging.basicConfig(
        level=level.upper(),
        format=log_format(several_processes),
        stream=sys.stderr,
    )
    # aiohttp and aiogram log request details at INFO; keep them quieter than ours.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # aiohttp's access log: a line per webhook request, i.e. per update (formatted, written and
    # flushed on the event loop: about 0.1 ms each), saying only that Telegram posted. At DEBUG
    # only; the bot logs what went wrong with an update itself.
    access = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    logging.getLogger(ACCESS_LOGGER).setLevel(access)


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
        notify=notices_for(programme.catalog, programme.catalog_of),
        max_sponsorships_per_sponsor=programme.catalog.max_sponsorships,
        max_sponsorships_by_funder=programme.catalog.limits_by_funder(),
        # A deployment of several regencies: each sponsor's regency's own limit.
        max_sponsorships_by_agency=programme.max_sponsorships_by_agency(),
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


def _with_transport(settings: Settings, transport: TransportName | None) -> Settings:
    """`--transport` over TRANSPORT (the environment or .env)."""
    if transport is None:
        return settings
    return settings.model_copy(update={"transport": transport})


def _key_refused(error: DataKeyError, hint: str = "") -> int:
    """A data key that does not fit: the message (what to do) on stderr, no traceback."""
    print(f"peduli: {error}{hint}", file=sys.stderr)
    return 2


def _require_token(settings: Settings) -> str | None:
    if settings.bot_token:
        return settings.bot_token
    print(TOKEN_MISSING, file=sys.stderr)
    return None


def create_runtime(
    service: ConversationService,
    token: str,
    api_url: str,
    *,
    transport: TransportName = "aiogram",
    on_handled: HandledHook | None = None,
) -> Runtime:
    """The service on the named framework (TRANSPORT, `--transport`). Only that framework is
    imported: a bot on one never loads the other (each costs seconds and a hundred MB)."""
    if transport == "ptb":
        from bot.telegram_ptb.runner import PtbRuntime

        return PtbRuntime(service, token, api_url, on_handled=on_handled)
    if transport == "aiogram":
        from bot.telegram_aiogram.runner import AiogramRuntime

        return AiogramRuntime(service, token, api_url, on_handled=on_handled)
    raise ValueError(f"unknown transport {transport!r}: one of {', '.join(TRANSPORT_NAMES)}")


async def poll_until_stopped(
    runtime: Runtime, *, polling_timeout: int = 30, handle_signals: bool = True
) -> None:
    """Long polling with the background work beside it, until runtime.stop_polling() (on
    SIGINT or SIGTERM with `handle_signals`); the background work stops after the last update
    was handled."""
    background = BackgroundWork(runtime.service, runtime.transport)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def stop() -> None:
        logger.info("stopping: no new updates are taken")
        stopping.append(asyncio.create_task(runtime.stop_polling()))

    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for number in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(number, stop)
    await runtime.prepare()
    background.start()
    try:
        await runtime.poll(polling_timeout=polling_timeout)
    finally:
        for number in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(number)
        await background.stop()


async def _polling(settings: Settings, token: str) -> None:
    built = build_service(settings)
    runtime = create_runtime(
        built.service, token, settings.telegram_api_url, transport=settings.transport
    )
    settle_after_start()
    try:
        await poll_until_stopped(runtime)
    finally:
        await runtime.close()
        await built.aclose()


def run_polling(transport: TransportName | None = None) -> int:
    settings = _with_transport(Settings(), transport)
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
PLAYGROUND_BOT = "peduli_playground_bot"


@dataclass
class Playground:
    """`peduli playground`, started: the Bot API emulator with its chat page and the bot on it
    (not yet polling: poll_until_stopped(runtime)); `stop` closes all of it."""

    emulator: Any  # emulator.server.BotApiEmulator, imported only here (a test kit)
    built: Built
    runtime: Runtime
    base_url: str

    async def stop(self) -> None:
        await self.runtime.close()
        await self.built.aclose()
        await self.emulator.stop()


async def start_playground(
    settings: Settings,
    port: int,
    *,
    host: str = "127.0.0.1",
    flood_limits: bool = True,
    sample_data: bool = True,
    on_handled: HandledHook | None = None,
) -> Playground:
    """The emulator on `host:port` (0: a free port), the bot built on the playground's own
    database and pointed at it. The page's admin persona is an admin of the bot (added to
    ADMIN_IDS), and the page's panel reads what the bot holds (bot.playground). `flood_limits`
    False lifts Telegram's per-chat and overall limits (tests click faster than people).
    `sample_data`: a database nobody has used gets the sample data (bot.demo) first."""
    from bot.demo import demo_chat_ids, load_demo, playground_admin_ids
    from emulator.server import BotApiEmulator

    rate = 1.0 if flood_limits else None
    emulator = BotApiEmulator(
        PLAYGROUND_TOKEN,
        per_chat_rate=rate,
        per_chat_burst=10,
        global_rate=30.0 if flood_limits else None,
        bot_username=PLAYGROUND_BOT,
        bot_first_name="Peduli Pekerja",
    )
    base_url = await emulator.start(host, port)
    local = settings.for_playground().model_copy(
        update={
            "bot_token": PLAYGROUND_TOKEN,
            "telegram_api_url": base_url,
            # The page's admin persona (emulator.personas) is a superadmin here.
            "admin_ids": playground_admin_ids(settings),
        }
    )
    try:
        # A playground nobody has used yet starts with the sample data (`peduli demo`).
        if sample_data:
            demo = await asyncio.to_thread(load_demo, local, only_if_empty=True)
            if demo.loaded:
                print(demo.render(), file=sys.stderr)
        # The sample people started the bot before: it may message them (reminders).
        emulator.open_chats(demo_chat_ids())
        built = await asyncio.to_thread(build_service, local)
    except BaseException:
        await emulator.stop()
        raise
    emulator.playground.inspector = PlaygroundInspector(
        built.state.sessions,
        functools.partial(rows_of_user, built.engine),
        local.admin_id_set,
    )
    runtime = create_runtime(
        built.service,
        PLAYGROUND_TOKEN,
        base_url,
        transport=settings.transport,
        on_handled=on_handled,
    )
    return Playground(emulator, built, runtime, base_url)


async def _playground(settings: Settings, port: int) -> None:
    playground = await start_playground(settings, port)
    print(
        f"\nPlayground: open {playground.base_url}/_emulator/ in a browser and chat with the bot"
        "\nas an ASN, the worker and an admin side by side. Telegram is not involved; data go to"
        f"\n{settings.playground_database_url}. Ctrl+C stops.\n",
        file=sys.stderr,
    )
    try:
        await poll_until_stopped(playground.runtime)
    finally:
        await playground.stop()


def run_playground(port: int = 8081, transport: TransportName | None = None) -> int:
    settings = _with_transport(Settings(), transport)
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

    runner: Any  # aiohttp's AppRunner
    built: Built
    runtime: Runtime
    background: BackgroundWork

    async def stop(self) -> None:
        await self.background.stop()
        await self.runner.cleanup()
        await self.runtime.close()
        await self.built.aclose()


async def serve_webhook(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    insecure_no_secret: bool = False,
    on_handled: HandledHook | None = None,
    built: Built | None = None,
    migrate: bool = True,
    reuse_port: bool = False,
    register: bool = True,
) -> WebhookServer:
    """Listen on WEBHOOK_LISTEN and register WEBHOOK_URL (+ the webhook path) with Telegram,
    on the framework settings.transport names.

    Refuses (ValueError) without a valid WEBHOOK_SECRET unless `insecure_no_secret`. `built`:
    a service built already (build_service), which the server then owns and closes.
    One of several processes on the address (bot.processes): `reuse_port` (SO_REUSEPORT),
    `migrate` False (the parent migrated), and `register` False but in the last to start."""
    from aiohttp import web

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
    if built is None:
        built = await asyncio.to_thread(build_service, settings, clock=clock, migrate=migrate)
    runtime = create_runtime(
        built.service,
        settings.bot_token,
        settings.telegram_api_url,
        transport=settings.transport,
        on_handled=on_handled,
    )
    app = webhook_application(runtime.feed, secret)
    host, _, port = settings.webhook_listen.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host or "0.0.0.0", int(port), reuse_port=reuse_port or None).start()
    url = settings.webhook_url.rstrip("/")
    if not url.endswith(WEBHOOK_PATH):
        url += WEBHOOK_PATH
    if register:
        await runtime.register_webhook(url, secret)
    else:  # another process registers it; this one still learns its username (deep links)
        await runtime.prepare()
    background = BackgroundWork(built.service, runtime.transport).start()
    logger.info("webhook server listening on %s (%s)", settings.webhook_listen, settings.transport)
    return WebhookServer(runner, built, runtime, background)


async def _webhook(settings: Settings, insecure_no_secret: bool, serve_as: int | None) -> None:
    several = serve_as is not None
    server = await serve_webhook(
        settings,
        insecure_no_secret=insecure_no_secret,
        migrate=not several,
        reuse_port=several,
        register=serve_as in (None, 0),
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    settle_after_start()
    notify_ready()
    try:
        await stopped.wait()
    finally:
        await server.stop()


def run_webhook(
    *,
    insecure_no_secret: bool = False,
    transport: TransportName | None = None,
    serve_as: int | None = None,
) -> int:
    """`peduli webhook`: one server; with `serve_as`, one of WEBHOOK_PROCESSES servers on one
    address (bot.processes starts them, after the checks and the migration)."""
    settings = _with_transport(Settings(), transport)
    configure_logging(settings.log_level, several_processes=settings.webhook_processes > 1)
    problem = webhook_problem(settings, insecure_no_secret=insecure_no_secret)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    try:
        asyncio.run(_webhook(settings, insecure_no_secret, serve_as))
    except DataKeyError as error:
        return _key_refused(error)
    return 0
