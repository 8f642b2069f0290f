"""A fake Bot API for load: every method the bot calls answers at once with a valid result.

Unlike the project's emulator (emulator/, which checks every parameter, keeps whole chats and
enforces Telegram's rate limits so tests catch mistakes), this server does as little as it can so
that the machine's CPU goes to the bot under measurement: no validation, no rate limit, no
formatting. It records what the bot did in each chat (sent, edited, deleted messages, with their
text and inline keyboard) so that the load generator, in the same process, can wait for the
bot's reply and react to it (press a button it offered, read the invitation link).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123456
BOT_USERNAME = "peduli_bench_bot"

_TAG = re.compile(r"<[^>]+>")

#: Methods whose result is a Message of the chat (the rest answer True or a fixed object).
_MESSAGE_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"}
)


@dataclass(slots=True)
class Shown:
    """One bot message as the user sees it now (edits applied)."""

    message_id: int
    text: str
    #: Inline buttons: label -> callback_data (url buttons are left out; nothing presses them).
    buttons: dict[str, str] = field(default_factory=dict)
    #: Every url of an inline button (the invitation link is one), in order.
    urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Event:
    """One thing the bot did in a chat."""

    method: str
    at: float
    message_id: int | None
    text: str


class ChatLog:
    """A private chat as the load generator needs it: the bot's messages and what happened."""

    __slots__ = ("_waiters", "events", "messages", "next_message_id", "reply_keyboard")

    def __init__(self) -> None:
        self.next_message_id = 1
        self.messages: dict[int, Shown] = {}
        self.events: list[Event] = []
        #: Labels of the reply keyboard shown now (None once removed) and whether a button
        #: requests the contact.
        self.reply_keyboard: dict[str, bool] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def new_message_id(self) -> int:
        """Message ids are per chat and shared by both sides, as in Telegram."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def record(self, event: Event) -> None:
        self.events.append(event)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def changed(self, timeout: float) -> None:  # noqa: ASYNC109 - one wait, bounded
        """Wait for the next event in this chat (or the timeout)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, timeout)

    def wake(self) -> None:
        """Wake whoever waits on this chat without an event (the webhook POST was answered)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def offering(self, label: str) -> Shown | None:
        """The newest message with an inline button labelled ``label``."""
        for message_id in sorted(self.messages, reverse=True):
            shown = self.messages[message_id]
            if label in shown.buttons:
                return shown
        return None


def _keyboard(markup: Any) -> tuple[dict[str, str], list[str], dict[str, bool] | None]:
    """(inline buttons, urls, reply keyboard) of a reply_markup parameter (a JSON string)."""
    if not markup:
        return {}, [], None
    parsed = json.loads(markup) if isinstance(markup, str) else markup
    buttons: dict[str, str] = {}
    urls: list[str] = []
    for row in parsed.get("inline_keyboard", ()):
        for button in row:
            if "callback_data" in button:
                buttons[button["text"]] = button["callback_data"]
            elif "url" in button:
                urls.append(button["url"])
    reply: dict[str, bool] | None = None
    if "keyboard" in parsed:
        reply = {
            button["text"] if isinstance(button, dict) else str(button): bool(
                isinstance(button, dict) and button.get("request_contact")
            )
            for row in parsed["keyboard"]
            for button in row
        }
    return buttons, urls, reply


class FakeBotApi:
    """The Bot API at ``base_url``: ``/bot<token>/<method>``, any token."""

    def __init__(self) -> None:
        self.chats: dict[int, ChatLog] = {}
        self.calls: dict[str, int] = {}
        #: answerCallbackQuery calls per callback query id (the load generator gives each press
        #: its update's id): more than one is a press handled twice.
        self.callback_answers: dict[str, int] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_set = asyncio.Event()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._file_counter = 0
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "getMe": self._get_me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": lambda params: True,
            "getWebhookInfo": self._webhook_info,
            "setMyCommands": lambda params: True,
            "deleteMyCommands": lambda params: True,
            "answerCallbackQuery": self._answer_callback,
            "deleteMessage": self._delete_message,
            "getUpdates": lambda params: [],
        }

    def chat(self, chat_id: int) -> ChatLog:
        log = self.chats.get(chat_id)
        if log is None:
            log = self.chats[chat_id] = ChatLog()
        return log

    # ------------------------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = int(self._runner.addresses[0][1])
        self.base_url = f"http://{host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        self.calls[method] = self.calls.get(method, 0) + 1
        if method == "getUpdates":
            # Nobody polls in webhook mode; a poller is slowed down instead of spinning.
            await asyncio.sleep(min(float(params.get("timeout", 0) or 0), 1.0))
        result = self.result(method, params)
        if result is None:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {method}"}
            return web.json_response(body, status=400)
        return web.json_response({"ok": True, "result": result})

    def result(self, method: str, params: Mapping[str, Any]) -> Any:
        """The Bot API result of one call (None for a method the fake does not know)."""
        if method in _MESSAGE_METHODS:
            return self._message_call(method, params)
        handler = self._handlers.get(method)
        return None if handler is None else handler(params)

    # ----------------------------------------------------------------------------- methods

    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Peduli", "username": BOT_USERNAME}

    def _get_me(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _set_webhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        self.webhook_secret = str(params.get("secret_token", ""))
        self.webhook_set.set()
        return True

    def _webhook_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}

    def _answer_callback(self, params: Mapping[str, Any]) -> bool:
        key = str(params.get("callback_query_id", ""))
        self.callback_answers[key] = self.callback_answers.get(key, 0) + 1
        return True

    def _delete_message(self, params: Mapping[str, Any]) -> bool:
        log = self.chat(int(params["chat_id"]))
        message_id = int(params["message_id"])
        log.messages.pop(message_id, None)
        log.record(Event("deleteMessage", time.monotonic(), message_id, ""))
        return True

    def _message_call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        log = self.chat(chat_id)
        buttons, urls, reply = _keyboard(params.get("reply_markup"))
        text = str(params.get("text") or params.get("caption") or "")
        if params.get("parse_mode") == "HTML":
            # What the user reads: Telegram returns the text without the markup.
            text = html.unescape(_TAG.sub("", text))
        if method.startswith("send"):
            message_id = log.new_message_id()
            shown = log.messages[message_id] = Shown(message_id, text, buttons, urls)
            if reply is not None:
                log.reply_keyboard = reply
            elif params.get("reply_markup") and "remove_keyboard" in str(params["reply_markup"]):
                log.reply_keyboard = None
        else:
            message_id = int(params["message_id"])
            found = log.messages.get(message_id)
            shown = found if found is not None else Shown(message_id, text)
            log.messages[message_id] = shown
            if method == "editMessageText":
                shown.text = text
            # An edit without reply_markup removes the inline keyboard, as in Telegram.
            shown.buttons, shown.urls = buttons, urls
        log.record(Event(method, time.monotonic(), message_id, text))
        return self._message(method, chat_id, message_id, shown, params)

    def _message(
        self, method: str, chat_id: int, message_id: int, shown: Shown, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "date": int(time.time()),
        }
        if method.startswith("edit"):
            message["edit_date"] = int(time.time())
        if method == "sendPhoto":
            self._file_counter += 1
            file_id = f"photo-{self._file_counter}"
            message["photo"] = [
                {"file_id": file_id, "file_unique_id": file_id, "width": 320, "height": 320}
            ]
            if shown.text:
                message["caption"] = shown.text
        elif method == "sendDocument":
            self._file_counter += 1
            file_id = f"document-{self._file_counter}"
            message["document"] = {"file_id": file_id, "file_unique_id": file_id}
            if shown.text:
                message["caption"] = shown.text
        elif shown.text:
            message["text"] = shown.text
        markup = params.get("reply_markup")
        parsed = json.loads(markup) if isinstance(markup, str) else markup
        if (shown.buttons or shown.urls) and isinstance(parsed, dict):
            message["reply_markup"] = {"inline_keyboard": parsed["inline_keyboard"]}
        return message
