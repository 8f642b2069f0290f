"""Receiving updates without trusting them: one per parse, never logged raw.

python-telegram-bot's Updater parses a whole getUpdates batch at once: one update it cannot parse
fails the batch, polling asks for the same offset again for ever (every user stalls), and the
error it logs may carry the batch (other people's messages, NIKs included). Its request object
also logs an answer that is not JSON in full. Here getUpdates is read as raw JSON, each update is
parsed on its own, and one that does not parse is skipped and logged by update id and error type
only (as bot/telegram_aiogram/updates.py does for aiogram).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from telegram import Bot, CallbackQuery, Chat, Update, User
from telegram.error import TelegramError
from telegram.request import BaseRequest

from bot.telegram_ptb.adapter import form_data

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Waits between failed getUpdates: from `first` seconds, times `factor`, up to `longest`."""

    first: float = 1.0
    longest: float = 5.0
    factor: float = 1.3


DEFAULT_BACKOFF = Backoff()


class UnknownUpdateKind(Exception):
    """An update of no kind python-telegram-bot knows (a newer Bot API's): parsed, it would be
    an empty Update; skipped like aiogram's runtime skips it."""


class UnusableAnswer(Exception):
    """getUpdates answered something that is not the Bot API's list of updates."""


def raw_update_id(raw: object) -> int | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    return update_id if isinstance(update_id, int) and not isinstance(update_id, bool) else None


def _check(update: Update) -> None:
    """python-telegram-bot builds objects without checking them: a message without a chat or a
    press without its sender would only fail later, inside a handler. What the adapter reads is
    checked here, so such an update is skipped like one that does not parse."""
    if not isinstance(update.update_id, int):
        raise TypeError("update_id")
    if not any(getattr(update, kind, None) is not None for kind in Update.ALL_TYPES):
        raise UnknownUpdateKind
    message = update.message
    if message is not None and not (
        isinstance(message.chat, Chat)
        and isinstance(message.message_id, int)
        and isinstance(message.date, dtm.datetime)
        and (message.from_user is None or isinstance(message.from_user, User))
    ):
        raise TypeError("message")
    callback = update.callback_query
    if callback is not None:
        if not (isinstance(callback, CallbackQuery) and isinstance(callback.from_user, User)):
            raise TypeError("callback_query")
        if callback.message is not None and not isinstance(callback.message.chat, Chat):
            raise TypeError("callback_query.message")


def parse_update(raw: object, bot: Bot) -> Update | None:
    """The update, or None (logged by id and error type only) when it cannot be handled."""
    update_id = raw_update_id(raw)
    try:
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        update = Update.de_json(raw, bot)
        _check(update)
    except Exception as error:
        shown = update_id if update_id is not None else "without an id"
        logger.warning("update %s skipped: cannot be parsed (%s)", shown, type(error).__name__)
        return None
    return update


def _describe(error: Exception) -> str:
    # Telegram's own descriptions ("Conflict: ...") are safe to log; a decode error may quote
    # the answer it could not decode, which may hold updates.
    if isinstance(error, TelegramError | UnusableAnswer):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


async def get_updates(
    bot: Bot, request: BaseRequest, parameters: dict[str, Any], read_timeout: float
) -> list[Any]:
    """One getUpdates, its answer as plain JSON values. Raises UnusableAnswer or TelegramError
    (NetworkError, TimedOut) without the answer's text in the message."""
    _code, body = await request.do_request(
        f"{bot.base_url}/getUpdates",
        "POST",
        request_data=form_data(parameters),
        read_timeout=read_timeout,
    )
    try:
        answer = json.loads(body)
    except ValueError:
        raise UnusableAnswer("not JSON") from None
    if not isinstance(answer, dict):
        raise UnusableAnswer("not a Bot API answer")
    if answer.get("ok") is not True:
        description = answer.get("description")
        shown = description if isinstance(description, str) else "no description"
        raise UnusableAnswer(f"error {answer.get('error_code')}: {shown[:200]}")
    result = answer.get("result")
    if not isinstance(result, list):
        raise UnusableAnswer("the result is not an array")
    return result


async def poll_updates(
    bot: Bot,
    request: BaseRequest,
    polling_timeout: int = 30,
    backoff: Backoff = DEFAULT_BACKOFF,
    allowed_updates: list[str] | None = None,
) -> AsyncGenerator[Update, None]:
    """Long polling whose offset moves past an update that does not parse."""
    parameters: dict[str, Any] = {"timeout": polling_timeout}
    if allowed_updates is not None:
        parameters["allowed_updates"] = allowed_updates
    # The HTTP request must outlive the long poll it waits for.
    read_timeout = polling_timeout + (request.read_timeout or 10.0)
    delay = backoff.first
    failed = False
    while True:
        try:
            batch = await get_updates(bot, request, parameters, read_timeout)
        except Exception as error:
            failed = True
            logger.error("getUpdates failed (%s); retrying in %.1f s", _describe(error), delay)
            await asyncio.sleep(delay)
            delay = min(delay * backoff.factor, backoff.longest)
            continue
        if failed:
            logger.info("getUpdates works again")
            delay = backoff.first
            failed = False
        unconfirmable = False
        for raw in batch:
            update_id = raw_update_id(raw)
            if update_id is not None:
                # Confirmed by the next getUpdates, parsed or not: a bad update is not fetched
                # again (it would be, for ever, and block every update after it).
                parameters["offset"] = max(parameters.get("offset", 0), update_id + 1)
            else:
                unconfirmable = True
            update = parse_update(raw, bot)
            if update is not None:
                yield update
        if unconfirmable:
            # No offset can confirm an update without an id: do not ask again at full speed.
            logger.warning("getUpdates answered an update without an id; asking again later")
            await asyncio.sleep(delay)
            delay = min(delay * backoff.factor, backoff.longest)
