"""Receiving updates without trusting them: one per parse, never logged raw.

aiogram parses a whole getUpdates batch at once, so one update it cannot parse fails the batch:
polling retries the same offset every few seconds, for ever, stalling every user, and the error it
logs carries the raw batch (other people's messages, NIKs included). Its webhook handler answers
malformed JSON with a 500 and a traceback. Here each update is parsed on its own; one that does not
parse is skipped and logged by update id and error type only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.service import Handled

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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


class WebhookHandler(SimpleRequestHandler):
    """aiogram's webhook handler (secret check), with the body checked first and the update
    handled before Telegram is answered: 503 when the service was busy (nothing saved).

    - Not JSON, or JSON that is not an object: 400 and one log line. Telegram never sends that;
      whoever did gets told, and nothing reaches the dispatcher.
    - A JSON object that is not a valid Update: 200, skipped, one log line. Telegram redelivers
      on any non-2xx answer, so a 400 for an update it did send (say, a new field aiogram rejects)
      would be retried and would hold the webhook queue up behind it for every user. The same
      reason as skipping it in polling.
    """

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            raw = json.loads(await request.read())
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            logger.warning("webhook request refused: the body is not JSON")
            return web.Response(status=400, text="Bad Request: the body is not JSON")
        if not isinstance(raw, dict):
            logger.warning("webhook request refused: a JSON %s, not an object", type(raw).__name__)
            return web.Response(status=400, text="Bad Request: an update is a JSON object")
        update = parse_update(raw, bot)
        if update is not None and await self._feed(bot, update) is Handled.BUSY:
            # A store failed or was too slow and nothing of the update was saved: a non-2XX
            # answer makes Telegram deliver it again, so it is handled once the store is back.
            return web.Response(status=503, text="Service Unavailable: deliver this update again")
        return web.json_response({})

    async def _feed(self, bot: Bot, update: Update) -> Any:
        """Handled here, not in a background task: the answer to Telegram depends on whether the
        turn was saved. A turn is bounded (the service's turn time limit), so Telegram's request
        does not wait long; Telegram keeps several webhook connections open at once."""
        try:
            result = await self.dispatcher.feed_update(bot, update, **self.data)
            if isinstance(result, TelegramMethod):
                await self.dispatcher.silent_call_request(bot=bot, result=result)
            return result
        except Exception as error:
            logger.error("update %s failed (%s)", update.update_id, type(error).__name__)
            return None
