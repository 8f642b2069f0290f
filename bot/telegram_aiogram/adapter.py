"""Maps aiogram updates to flow inputs, and service output to Bot API calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.text_decorations import html_decoration
from aiohttp import ClientError, ClientTimeout
from pydantic import BaseModel

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
        html = message.html_text if message.entities else None
        return TextReceived(text=text, message_id=message.message_id, html=html)
    if message.photo:  # the largest size is last
        caption = message.html_text if message.caption is not None else ""
        return MediaReceived("photo", message.photo[-1].file_id, caption, message.message_id)
    if message.document is not None:
        caption = message.html_text if message.caption is not None else ""
        return MediaReceived("document", message.document.file_id, caption, message.message_id)
    kind = next((k for k in UNSUPPORTED_KINDS if getattr(message, k, None) is not None), "other")
    return UnsupportedReceived(kind=kind)


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
    if isinstance(message, Message):
        markup = message.reply_markup
        rows = markup.inline_keyboard if markup is not None else []
        label = next(
            (b.text for row in rows for b in row if b.callback_data == callback.data), None
        )
        html = message.html_text if message.text is not None else None
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


def entities_html(message: Mapping[str, Any]) -> str:
    """A message's text as HTML from the Bot API's JSON (bot.plain_updates): what aiogram's
    Message.html_text gives for the parsed message."""
    entities = [MessageEntity.model_validate(e) for e in message.get("entities") or ()]
    return html_decoration.unparse(message["text"], entities)


def should_answer_unhandled(callback: CallbackQuery) -> bool:
    chat = callback.message.chat if callback.message is not None else None
    return answer_unhandled(
        chat.type if chat else None, chat.id if chat else None, callback.from_user.id
    )


def _message_id(result: object) -> int | None:
    """The message_id of a sent message as the Bot API returned it (None: not sent)."""
    found = result.get("message_id") if isinstance(result, dict) else None
    return found if isinstance(found, int) else None


def reply_markup(
    message: Outgoing,
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if message.inline_keyboard:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
                for row in message.inline_keyboard
            ]
        )
    if message.contact_button:
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=message.contact_button, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if message.remove_keyboard:
        return ReplyKeyboardRemove(remove_keyboard=True)
    return None


class AiogramTransport:
    """Sends through an aiogram Bot; waits out 429 answers, stops at 403 (blocked bot).

    Calls without files go as the Bot API's JSON (bot.bot_api) through the Bot's HTTP session
    (`_post`), files through aiogram's own methods (multipart)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._urls: dict[str, str] = {}
        self._timeout: ClientTimeout | None = None

    def _url(self, session: AiohttpSession, method: str) -> str:
        """A method's URL, built once per transport (the token and API server are the bot's
        for its lifetime)."""
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = session.api.api_url(token=self.bot.token, method=method)
        return url

    def _client_timeout(self, session: AiohttpSession) -> ClientTimeout:
        timeout = self._timeout
        if timeout is None or timeout.total != session.timeout:
            timeout = self._timeout = ClientTimeout(total=session.timeout)
        return timeout

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        _, payload = delivery_request(chat_id, message, None, paid_broadcast=False)
        sent = await self._call(lambda: self._post(SendMessage, payload))
        return _message_id(sent)

    async def deliver(
        self,
        chat_id: int,
        message: Outgoing,
        *,
        media: Media | None = None,
        paid_broadcast: bool = False,
    ) -> SendResult:
        """The delivery engine's send: one JSON POST through aiogram's own HTTP session, read
        back as a SendResult. Bulk sends skip aiogram's method objects and multipart forms on
        purpose: building them cost about half of the engine's CPU per message, which capped
        paid broadcasts well below Telegram's 1000 a second (bench/broadcast.py)."""
        method, payload = delivery_request(chat_id, message, media, paid_broadcast)
        session = self._session()
        try:
            client = await session.create_session()
            async with client.post(
                self._url(session, method),
                data=session.json_dumps(payload),
                headers=JSON_HEADERS,
                timeout=self._client_timeout(session),
            ) as response:
                body = session.json_loads(await response.read())
        except (ClientError, TimeoutError, ValueError) as error:
            # Unreachable, timed out, or not the Bot API's JSON (a proxy's error page).
            return SendResult(SendStatus.TRANSIENT, detail=type(error).__name__)
        return send_result(body)

    def _session(self) -> AiohttpSession:
        session = self.bot.session
        if not isinstance(session, AiohttpSession):  # create_bot always makes one
            raise TypeError("AiogramTransport needs aiogram's AiohttpSession")
        return session

    async def _post(self, method: type[TelegramMethod[Any]], payload: dict[str, Any]) -> Any:
        """One Bot API call as a JSON POST through aiogram's HTTP session, its result as the
        JSON the Bot API returned. Building aiogram's method and result objects (pydantic
        models, dumped and validated again) cost more CPU than the call itself on the turn's
        few calls without files; an error answer still raises aiogram's own exception."""
        session = self.bot.session
        if not isinstance(session, AiohttpSession):
            # Another session (a host's own, a test's in-process one): aiogram's method, as is.
            result = await self.bot(method(**payload))
            return result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        try:
            client = await session.create_session()
            async with client.post(
                self._url(session, method.__api_method__),
                data=session.json_dumps(payload),
                headers=JSON_HEADERS,
                timeout=self._client_timeout(session),
            ) as response:
                status, raw = response.status, await response.read()
        except TimeoutError as error:
            stub = method.model_construct(**payload)
            raise TelegramNetworkError(method=stub, message="Request timeout error") from error
        except ClientError as error:
            stub = method.model_construct(**payload)
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=stub, message=message) from error
        try:
            body = session.json_loads(raw)  # bytes: json finds the UTF-8 itself
        except ValueError:
            body = None
        succeeded = HTTPStatus.OK <= status <= HTTPStatus.IM_USED
        if succeeded and isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        # An error (or not the Bot API's JSON): aiogram says which, as its own exception.
        text = raw.decode("utf-8", errors="replace")
        session.check_response(self.bot, method.model_construct(**payload), status, text)
        raise TelegramAPIError(method=method.model_construct(**payload), message=text[:200])

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        payload = edit_text_request(chat_id, message_id, message.text, message)
        await self._call(lambda: self._post(EditMessageText, payload))

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        if html is None:
            bare = {"chat_id": chat_id, "message_id": message_id}
            await self._call(lambda: self._post(EditMessageReplyMarkup, bare))
            return
        payload = edit_text_request(chat_id, message_id, html)
        await self._call(lambda: self._post(EditMessageText, payload))

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        sent = await self._call(
            lambda: self.bot.send_photo(
                chat_id=chat_id,
                photo=BufferedInputFile(png, filename="undangan.png"),
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
                document=BufferedInputFile(data, filename=filename),
                caption=caption,
                parse_mode="HTML",
            )
        )
        return sent.message_id if sent is not None else None

    async def delete(self, chat_id: int, message_id: int) -> None:
        payload = {"chat_id": chat_id, "message_id": message_id}
        await self._call(lambda: self._post(DeleteMessage, payload))

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        payload: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            payload["text"] = text[:200]
        await self._call(lambda: self._post(AnswerCallbackQuery, payload))

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T | None:
        for attempt in range(MAX_RETRIES):
            try:
                return await request()
            except TelegramRetryAfter as error:
                logger.info("rate limited; retrying after %s s", error.retry_after)
                await asyncio.sleep(error.retry_after)
            except TelegramForbiddenError:
                logger.info("the user blocked the bot; message dropped")
                return None
            except TelegramBadRequest as error:
                if "message is not modified" in str(error):
                    return None
                if "message to delete not found" in str(error):
                    return None  # the user deleted it first
                if attempt == 0 and "query is too old" in str(error):
                    return None
                raise
        logger.warning("gave up after %s rate-limited attempts", MAX_RETRIES)
        return None
