"""Receiving updates without trusting them: one per parse, never logged raw.

aiogram parses a whole getUpdates batch at once, so one update it cannot parse fails the batch:
polling retries the same offset every few seconds, for ever, stalling every user, and the error it
logs carries the raw batch (other people's messages, NIKs included). Its webhook handler answers
malformed JSON with a 500 and a traceback. Here each update is parsed on its own; one that does not
parse is skipped and logged by update id and error type only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

logger = logging.getLogger(__name__)


class RawGetUpdates(TelegramMethod[list[Any]]):
    """getUpdates answered as plain JSON values, so each update is parsed on its own."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def raw_update_id(raw: object) -> int | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    return update_id if isinstance(update_id, int) and not isinstance(update_id, bool) else None


def parse_update(raw: object, bot: Bot) -> Update | None:
    """The update, or None (logged by id and error type only) when it cannot be handled."""
    update_id = raw_update_id(raw)
    try:
        update = Update.model_validate(raw, context={"bot": bot})
        # A kind aiogram does not know: its dispatcher would warn with the whole update dumped.
        update.event_type  # noqa: B018 - raises UpdateTypeLookupError
    except Exception as error:
        shown = update_id if update_id is not None else "without an id"
        logger.warning("update %s skipped: cannot be parsed (%s)", shown, type(error).__name__)
        return None
    return update


def _describe(error: Exception) -> str:
    # Telegram's own descriptions ("Conflict: ...") are safe to log; a decode error quotes the
    # answer it could not decode, which may hold updates.
    if isinstance(error, TelegramAPIError):
        return f"{type(error).__name__}: {error.message}"
    return type(error).__name__


async def poll_updates(
    bot: Bot,
    polling_timeout: int = 30,
    backoff_config: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
    allowed_updates: list[str] | None = None,
) -> AsyncGenerator[Update, None]:
    """Long polling like aiogram's, but the offset moves past an update that does not parse."""
    backoff = Backoff(config=backoff_config)
    request = RawGetUpdates(timeout=polling_timeout, allowed_updates=allowed_updates)
    kwargs: dict[str, Any] = {}
    if bot.session.timeout:
        # The HTTP request must outlive the long poll it waits for.
        kwargs["request_timeout"] = int(bot.session.timeout + polling_timeout)
    failed = False
    while True:
        try:
            batch = await bot(request, **kwargs)
        except Exception as error:
            failed = True
            logger.error(
                "getUpdates failed (%s); retrying in %.1f s", _describe(error), backoff.next_delay
            )
            await backoff.asleep()
            continue
        if failed:
            logger.info("getUpdates works again")
            backoff.reset()
            failed = False
        unconfirmable = False
        for raw in batch:
            update_id = raw_update_id(raw)
            if update_id is not None:
                # Confirmed by the next getUpdates, parsed or not: a bad update is not fetched
                # again (it would be, for ever, and block every update after it).
                request.offset = max(request.offset or 0, update_id + 1)
            else:
                unconfirmable = True
            update = parse_update(raw, bot)
            if update is not None:
                yield update
        if unconfirmable:
            # No offset can confirm an update without an id: do not ask again at full speed.
            logger.warning("getUpdates answered an update without an id; asking again later")
            await backoff.asleep()


class LenientDispatcher(Dispatcher):
    """aiogram's dispatcher (one task per update, as before) fed by `poll_updates`."""

    @classmethod
    async def _listen_updates(
        cls,
        bot: Bot,
        polling_timeout: int = 30,
        backoff_config: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
        allowed_updates: list[str] | None = None,
    ) -> AsyncGenerator[Update, None]:
        async for update in poll_updates(bot, polling_timeout, backoff_config, allowed_updates):
            yield update
