"""Maps python-telegram-bot updates to flow inputs, and service output to Bot API calls.

The rules are the aiogram adapter's (bot/telegram_aiogram/adapter.py), one for one: the service
must not be able to tell which framework it runs on.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram._utils.entities import parse_message_entities  # what Message.text_html uses
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter  # what Bot itself builds
from telegram.warnings import PTBDeprecationWarning

from bot.bot_api import (
    JSON_HEADERS,
    delivery_request,
    edit_text_request,
    send_result,
)
from bot.incoming import accepted_chat, choice_picked, command_issued
from bot.incoming import should_answer_unhandled as answer_unhandled
from bot.service import Incoming
from bot.transport import Media, Outgoing, SendResult, SendStatus
from flows.inputs import (
    ContactShared,
    Input,
    MediaReceived,
    TextReceived,
    UnsupportedReceived,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRIES = 5
UNSUPPORTED_KINDS = (
    "photo",
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "location",
)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
DELIVERY_TIMEOUT = 30.0  # seconds for one send of the delivery engine, answer included

# RetryAfter reads its own retry_after when built, which warns that the attribute will become a
# timedelta: retry_seconds below takes either.
warnings.filterwarnings(
    "ignore",
    message=r".*attribute `retry_after` will be of type `datetime.timedelta`",
    category=PTBDeprecationWarning,
)


def _present(value: object) -> bool:
    # python-telegram-bot gives an absent list field as an empty tuple, not None.
    return value is not None and value != ()


def message_input(message: Message) -> Input:
    if message.contact is not None:
        sender = message.from_user.id if message.from_user else None
        return ContactShared(
            phone=message.contact.phone_number,
            is_own=message.contact.user_id is not None and message.contact.user_id == sender,
            message_id=message.message_id,
        )
    if message.text is not None:
        text = message.text
        command = command_issued(text)
        if command is not None:
            return command
        html = message.text_html if message.entities else None
        return TextReceived(text=text, message_id=message.message_id, html=html)
    if message.photo:  # the largest size is last
        caption = message.caption_html if message.caption is not None else ""
        return MediaReceived("photo", message.photo[-1].file_id, caption, message.message_id)
    if message.document is not None:
        caption = message.caption_html if message.caption is not None else ""
        return MediaReceived("document", message.document.file_id, caption, message.message_id)
    kind = next((k for k in UNSUPPORTED_KINDS if _present(getattr(message, k, None))), "other")
    return UnsupportedReceived(kind=kind)


def entities_html(message: Mapping[str, Any]) -> str:
    """A message's text as HTML from the Bot API's JSON (bot.plain_updates): what
    python-telegram-bot's Message.text_html gives for the parsed message, by its own functions
    (without parsing the whole message: its chat, sender and keyboard are not needed here)."""
    text: str = message["text"]
    entities = [MessageEntity.de_json(e, None) for e in message.get("entities") or ()]
    html = Message._parse_html(text, parse_message_entities(text, entities), urled=False)
    return html or ""


def callback_input(callback: CallbackQuery) -> Input:
    message_id = callback.message.message_id if callback.message else None
    return choice_picked(callback.data, message_id)


def incoming_message(update_id: int, message: Message) -> Incoming | None:
    sender, chat = message.from_user, message.chat
    if sender is None or not accepted_chat(update_id, chat.type, chat.id, sender.id):
        return None
    return Incoming(
        update_id=update_id,
        user_id=sender.id,
        chat_id=message.chat.id,
        input=message_input(message),
    )


def incoming_callback(update_id: int, callback: CallbackQuery) -> Incoming | None:
    message = callback.message
    if message is None:
        return None
    chat = message.chat
    if not accepted_chat(update_id, chat.type, chat.id, callback.from_user.id):
        return None
    label, html = None, None
    if isinstance(message, Message):  # not an InaccessibleMessage (too old to be shown)
        markup = message.reply_markup
        rows = markup.inline_keyboard if markup is not None else ()
        label = next(
            (b.text for row in rows for b in row if b.callback_data == callback.data), None
        )
        html = message.text_html if message.text is not None else None
    return Incoming(
        update_id=update_id,
        user_id=callback.from_user.id,
        chat_id=message.chat.id,
        input=callback_input(callback),
        callback_query_id=callback.id,
        callback_message_id=message.message_id,
        pressed_label=label,
        pressed_message_html=html,
    )


def should_answer_unhandled(callback: CallbackQuery) -> bool:
    chat = callback.message.chat if callback.message is not None else None
    return answer_unhandled(
        chat.type if chat else None, chat.id if chat else None, callback.from_user.id
    )


def reply_markup(
    message: Outgoing,
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if message.inline_keyboard:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
                for row in message.inline_keyboard
            ]
        )
    if message.contact_button:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(text=message.contact_button, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if message.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after in seconds, whichever type PTB_TIMEDELTA makes it (reading it
    warns of the coming change to timedelta otherwise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _message_id(result: object) -> int | None:
    """The message_id of a sent message as the Bot API returned it (None: not sent)."""
    found = result.get("message_id") if isinstance(result, dict) else None
    return found if isinstance(found, int) else None


def form_data(payload: dict[str, Any]) -> RequestData:
    """A delivery's parameters as python-telegram-bot's request object posts them (a form whose
    nested values are JSON), built as its Bot builds them."""
    return RequestData([RequestParameter(name, value, None) for name, value in payload.items()])


class PtbTransport:
    """Sends through a python-telegram-bot Bot; waits out 429 answers, stops at 403 (blocked).
    close() it when done (deliver's HTTP session).

    The Bot must have no rate limiter (bot.telegram_ptb.runner builds it without one): a
    limiter that waits out 429 itself would hide them from the delivery engine."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._session: ClientSession | None = None

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        _, payload = delivery_request(chat_id, message, None, paid_broadcast=False)
        sent = await self._call(lambda: self._post("sendMessage", payload))
        return _message_id(sent)

    async def _post(self, method: str, payload: dict[str, Any]) -> Any:
        """One Bot API call without files as the Bot API's JSON, through the Bot's request
        object (bot.telegram_ptb.request: its post checks the answer and raises
        python-telegram-bot's own errors: RetryAfter, Forbidden, BadRequest...); its result as
        the JSON the Bot API returned. The Bot's methods build their parameters as objects and
        parse each answer into a Message: about 0.5-0.7 ms of CPU more per call than the call
        itself, on the turn's few calls (as AiogramTransport._post does on aiogram)."""
        return await self.bot.request.post(
            f"{self.bot.base_url}/{method}", request_data=form_data(payload)
        )

    async def deliver(
        self,
        chat_id: int,
        message: Outgoing,
        *,
        media: Media | None = None,
        paid_broadcast: bool = False,
    ) -> SendResult:
        """The delivery engine's send: one JSON POST, read back as a SendResult, through an
        aiohttp session of this transport's own. Bulk sends skip the Bot's method objects, its
        parsing of the answer into a Message and its exceptions on purpose. CPU per message
        measured against bench/fake_api.py on a 2-core machine: 0.11-0.23 ms this way, 0.40 ms
        through send_message (over .request.AiohttpRequest), 3.2-3.7 ms over httpx."""
        method, payload = delivery_request(chat_id, message, media, paid_broadcast)
        if self._session is None or self._session.closed:
            self._session = ClientSession(timeout=ClientTimeout(total=DELIVERY_TIMEOUT))
        try:
            async with self._session.post(
                f"{self.bot.base_url}/{method}", data=json.dumps(payload), headers=JSON_HEADERS
            ) as response:
                answer = json.loads(await response.text())
        except (ClientError, TimeoutError, ValueError) as error:
            # Unreachable, timed out, or not the Bot API's JSON (a proxy's error page): the
            # body is not logged, it may quote the message.
            return SendResult(SendStatus.TRANSIENT, detail=type(error).__name__)
        return send_result(answer)

    async def close(self) -> None:
        """Close the session deliver opened (the Bot's own clients are the Application's)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        payload = edit_text_request(chat_id, message_id, message.text, message)
        await self._call(lambda: self._post("editMessageText", payload))

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        if html is None:
            bare = {"chat_id": chat_id, "message_id": message_id}
            await self._call(lambda: self._post("editMessageReplyMarkup", bare))
            return
        payload = edit_text_request(chat_id, message_id, html)
        await self._call(lambda: self._post("editMessageText", payload))

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        sent = await self._call(
            lambda: self.bot.send_photo(
                chat_id=chat_id,
                photo=InputFile(png, filename="undangan.png"),
                caption=caption,
                parse_mode="HTML",
            )
        )
        return sent.message_id if sent is not None else None

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        sent = await self._call(
            lambda: self.bot.send_document(
                chat_id=chat_id,
                document=InputFile(data, filename=filename),
                caption=caption,
                parse_mode="HTML",
            )
        )
        return sent.message_id if sent is not None else None

    async def delete(self, chat_id: int, message_id: int) -> None:
        payload = {"chat_id": chat_id, "message_id": message_id}
        await self._call(lambda: self._post("deleteMessage", payload))

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        payload: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            payload["text"] = text[:200]
        await self._call(lambda: self._post("answerCallbackQuery", payload))

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T | None:
        for attempt in range(MAX_RETRIES):
            try:
                return await request()
            except RetryAfter as error:
                seconds = retry_seconds(error)
                logger.info("rate limited; retrying after %s s", seconds)
                await asyncio.sleep(seconds)
            except Forbidden:
                logger.info("the user blocked the bot; message dropped")
                return None
            except BadRequest as error:
                # python-telegram-bot capitalizes Telegram's description ("Message is not ...").
                described = str(error).lower()
                if "message is not modified" in described:
                    return None
                if "message to delete not found" in described:
                    return None  # the user deleted it first
                if attempt == 0 and "query is too old" in described:
                    return None
                raise
        logger.warning("gave up after %s rate-limited attempts", MAX_RETRIES)
        return None
