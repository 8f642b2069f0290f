"""The Bot API emulator: an aiohttp server that speaks the Telegram Bot API over real HTTP.

Why it exists: end-to-end tests must run the real bot code (aiogram or python-telegram-bot, real
HTTP, real serialization) with no internet, and they must fail where Telegram would fail. So every
call is validated against the Bot API schema and the documented limits (4096 characters, 64-byte
callback data, flood limits with 429 and ``retry_after``, 403 for a user who blocked the bot,
"message is not modified"...), and every refusal is kept in ``rejections`` so a test can assert
that the bot never provoked one.

The server keeps chats, messages, callback queries, commands and files in memory. Fake users
(``emulator.user(...)``, see ``emulator.users``) produce updates, which the bot receives by
``getUpdates`` long polling or by webhook, exactly as from Telegram. Everything runs on the event
loop that called ``start()``; the bot may share that loop or run in another process, since HTTP is
its only channel to the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

from emulator.formatting import parse_text
from emulator.limits import (
    CALLBACK_ANSWER_LIMIT,
    CAPTION_LIMIT,
    COMMAND_RE,
    CONFLICT_POLL,
    CONFLICT_WEBHOOK,
    DELETE_WINDOW_SECONDS,
    DOCUMENT_SIZE_LIMIT,
    LANGUAGE_CODE_RE,
    NOT_MODIFIED,
    OPT_IN_UPDATE_KINDS,
    PHOTO_SIZE_LIMIT,
    QUERY_INVALID,
    SECRET_TOKEN_RE,
    TEXT_LIMIT,
    check_reply_markup,
)
from emulator.models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatMessage,
    Rejection,
    StoredFile,
    UploadedFile,
    WebhookDelivery,
    bad_request,
)
from emulator.playground import PlaygroundState, add_playground_routes
from emulator.ratelimit import TokenBucket, retry_after_seconds
from emulator.schema import BotApiSchema
from emulator.state import Chat, Signal
from emulator.users import FakeUser
from emulator.wire import image_size, read_request, read_webhook_reply

log = logging.getLogger("emulator")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

#: The HTTP request being served, so a long poll can tell whether its client is still there.
_current_request: contextvars.ContextVar[web.Request | None] = contextvars.ContextVar(
    "emulator_request", default=None
)


def _client_gone() -> bool:
    request = _current_request.get()
    transport = request.transport if request is not None else None
    return request is not None and (transport is None or transport.is_closing())


@dataclass
class _CallbackQuery:
    id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    answer: CallbackAnswer | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    ip_address: str | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    in_flight: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    last_error_date: int | None = None
    last_error_message: str | None = None


class BotApiEmulator:
    """A fake Telegram Bot API server for one bot, plus the state tests inspect.

    Typical use in a test::

        emulator = BotApiEmulator()
        base_url = await emulator.start()
        ...  # point the bot at base_url, drive users with emulator.user(...)
        await emulator.stop()

    ``per_chat_rate``/``per_chat_burst`` and ``global_rate``/``global_burst`` are the flood
    limits (``None`` disables one); ``clock`` drives them and can be replaced by a fake.
    ``quiet_period`` is how long a chat must stay silent before ``FakeUser.replies_since``
    considers the bot's turn finished.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        per_chat_rate: float | None = 1.0,
        per_chat_burst: int = 3,
        global_rate: float | None = 30.0,
        global_burst: int = 30,
        paid_rate: float | None = 1000.0,
        paid_burst: int = 1000,
        bot_username: str = "emulated_test_bot",
        bot_first_name: str = "Emulated Bot",
        schema: BotApiSchema | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        quiet_period: float = 0.3,
        webhook_retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5),
        webhook_timeout: float = 10.0,
        webhook_hosts: Collection[str] = (),
    ) -> None:
        bot_id = token.split(":", 1)[0]
        if ":" not in token or not (bot_id.isascii() and bot_id.isdigit()):
            raise ValueError("a bot token looks like '<bot id>:<secret>', e.g. '123456:TEST'")
        self.token = token
        self.schema = schema or BotApiSchema.load()
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.global_rate = global_rate
        self.global_burst = global_burst
        # Paid broadcasts (allow_paid_broadcast) bypass the free global limit but have their
        # own: 1000 messages a second.
        self.paid_rate = paid_rate
        self.paid_burst = paid_burst
        self.quiet_period = quiet_period
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.webhook_timeout = webhook_timeout
        self.webhook_hosts = frozenset(webhook_hosts)
        self._clock = clock
        self._wall_clock = wall_clock
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }

        #: Every API call in order (HTTP, webhook responses), successful or refused.
        self.calls: list[ApiCall] = []
        #: Every refused call. A clean bot run leaves this empty.
        self.rejections: list[Rejection] = []
        #: Every webhook delivery attempt.
        self.webhook_deliveries: list[WebhookDelivery] = []
        #: Every update ever created, by update_id (also those filtered by allowed_updates).
        self.updates: dict[int, dict[str, Any]] = {}
        #: Files known by file_id: uploads from the bot and files sent by fake users.
        self.files: dict[str, StoredFile] = {}

        self._users: dict[int, FakeUser] = {}
        #: The chat page's personas and the inspector a host registered (emulator.playground).
        self.playground = PlaygroundState()
        self._chats: dict[int, Chat] = {}
        self._blocked: set[int] = set()
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._commands: dict[tuple[str, int | None, int | None, str], list[dict[str, str]]] = {}
        self._pending: list[dict[str, Any]] = []
        self._redeliveries: list[dict[str, Any]] = []
        self._unhanded: dict[int, int] = {}  # update_id -> chat_id, until the bot has it
        # update_id -> chat_id, until the bot confirms it (a getUpdates offset past it, a 2xx
        # webhook answer).
        self._unacknowledged: dict[int, int | None] = {}
        # update_id -> chat_id, while tracked: until the bot under test reports it handled.
        self._unreported: dict[int, int | None] = {}
        self._background_idle: Callable[[], bool] | None = None
        self._allowed_updates: list[str] | None = None
        self._next_update_id = 100_000
        self._next_callback_id = 0
        self._next_file = 0
        self._poll_generation = 0
        self._webhook: _Webhook | None = None
        self._chat_buckets: dict[int, TokenBucket] = {}
        self._global_bucket: TokenBucket | None = None
        self._paid_bucket: TokenBucket | None = None
        #: 429 answers given by the flood limits (a bot within its budget causes none).
        self.flood_refusals = 0
        self._changed = Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self.base_url: str | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
        }

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL for the bot."""
        app = web.Application(client_max_size=DOCUMENT_SIZE_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        add_playground_routes(app, self)
        # handler_cancellation: a bot that stops polling drops its connection; the long poll
        # waiting for it must end too, or it would later count as a concurrent getUpdates.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = int(self._runner.addresses[0][1])
        self._client = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))
        self._closing = False
        self.base_url = f"http://{host}:{bound_port}"
        log.info("Bot API emulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """End long polls and webhook deliveries, then close the server."""
        self._closing = True
        self._changed.notify()
        if self._webhook is not None:
            await self._stop_webhook(self._webhook)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -------------------------------------------------------------------------- test-side API

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    def user(
        self,
        user_id: int,
        first_name: str = "Budi",
        language_code: str | None = "id",
        username: str | None = None,
        *,
        last_name: str | None = None,
        phone_number: str | None = None,
    ) -> FakeUser:
        """The fake user with this id (created on first use; later calls return the same one)."""
        if user_id <= 0:
            raise ValueError("user ids are positive integers")
        if user_id not in self._users:
            self._users[user_id] = FakeUser(
                self,
                user_id,
                first_name=first_name,
                language_code=language_code,
                username=username,
                last_name=last_name,
                phone_number=phone_number,
            )
        return self._users[user_id]

    def known_user_ids(self) -> Iterator[int]:
        """The ids of every fake user created so far."""
        return iter(list(self._users))

    def open_chats(self, user_ids: Iterable[int], language_code: str | None = "id") -> None:
        """Many fake users who started the bot earlier, at once and without updates (for
        broadcasts and benchmarks: the bot may message them, as after their /start)."""
        for user_id in user_ids:
            user = self.user(user_id, f"Pengguna {user_id}", language_code)
            self._chat_for(user).started = True

    def block(self, user_id: int, *, notify_bot: bool = True) -> None:
        """The user blocks the bot: sends to them get 403, the bot gets a my_chat_member update."""
        if user_id in self._blocked:
            return
        self._blocked.add(user_id)
        if notify_bot and user_id in self._chats:
            self._queue_member_update(self._chats[user_id], "member", "kicked")

    def unblock(self, user_id: int, *, notify_bot: bool = True) -> None:
        """The user unblocks the bot (Telegram does this when a blocked user writes again)."""
        if user_id not in self._blocked:
            return
        self._blocked.discard(user_id)
        if notify_bot and user_id in self._chats:
            self._queue_member_update(self._chats[user_id], "kicked", "member")

    def reset_rate_limits(self) -> None:
        """Refill every flood-limit bucket (after changing the limits in the middle of a test)."""
        self._chat_buckets.clear()
        self._global_bucket = None
        self._paid_bucket = None

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    def commands(
        self,
        scope_type: str = "default",
        language_code: str = "",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, str]]:
        """The command menu the bot set for exactly this scope and language."""
        return copy.deepcopy(self._commands.get((scope_type, chat_id, user_id, language_code), []))

    def callback_answer(self, callback_query_id: str) -> CallbackAnswer | None:
        query = self._callbacks.get(callback_query_id)
        return query.answer if query else None

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        """Answers by callback query id."""
        return {qid: q.answer for qid, q in self._callbacks.items() if q.answer is not None}

    @property
    def webhook_url(self) -> str:
        return self._webhook.url if self._webhook else ""

    @property
    def pending_update_count(self) -> int:
        if self._webhook is not None:
            return self._webhook.queue.qsize() + len(self._webhook.in_flight)
        return len(self._pending) + len(self._redeliveries)

    def calls_to(self, method: str) -> list[ApiCall]:
        """Calls of one method, in order."""
        return [call for call in self.calls if call.method == method]

    def validate(self, type_name: str, value: Any) -> Any:
        """Check a value against a Bot API type; raises ``ApiError`` (400) when it does not fit."""
        return self.schema.validate_object(type_name, value)

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, UploadedFile] | None = None,
    ) -> Any:
        """Make an API call in-process (as if over HTTP); returns the result or raises ApiError."""
        canonical = self.schema.canonical_method(method)
        if canonical is None:
            not_found = ApiError(404, "Not Found")
            self._record(method, dict(params or {}), error=not_found, source="internal")
            raise not_found
        result, error = await self._execute(
            canonical, dict(params or {}), dict(files or {}), source="internal"
        )
        if error is not None:
            raise error
        return result

    async def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update again, as Telegram does after a failed webhook.

        In polling mode the update is offered by the next getUpdates, whatever its offset; in
        webhook mode it is POSTed again. Tests use it to prove update handling is idempotent.
        """
        update = self.updates[update_id]
        chat_id = _update_chat_id(update)
        if chat_id is not None:
            self._unhanded[update_id] = chat_id
        self._unacknowledged[update_id] = chat_id
        if self.handling_tracked:
            self._unreported[update_id] = chat_id
        if self._webhook is not None:
            self._webhook.queue.put_nowait(update)
        else:
            self._redeliveries.append(update)
        self._changed.notify()

    async def inject_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update with ``payload`` exactly as given under ``kind`` ("message", ...):
        one Telegram would never send (forged ids, wrong types). The emulator only assigns the
        update_id. Tests use it to prove the bot survives such updates without acting on them."""
        return self._queue_update(kind, copy.deepcopy(payload), None)

    # -- explicit end-of-turn signals ------------------------------------------------------------

    def track_handling(self, background_idle: Callable[[], bool] = lambda: True) -> None:
        """The bot under test reports each update it finished (``report_handled``), and
        ``background_idle()`` says whether work outside updates (an outbox) is pending; call
        ``notify()`` when its answer may have changed.

        From then on ``FakeUser.replies_since`` ends a turn on this explicit signal instead of a
        quiet period: the bot is idle when every update queued since has been reported and
        ``background_idle()`` holds. Only a harness that sees the bot's own dispatcher (the bot
        in the test's process) can do this; ``untrack_handling`` when that bot stops.
        """
        # Updates an earlier bot already took are not waited for; queued ones are.
        self._unreported = dict(self._unhanded)
        self._background_idle = background_idle
        self.notify()

    def untrack_handling(self) -> None:
        self._background_idle = None
        self._unreported.clear()
        self.notify()

    @property
    def handling_tracked(self) -> bool:
        return self._background_idle is not None

    def report_handled(self, update_id: int) -> None:
        """The bot under test finished handling this update (successfully or not)."""
        self._unreported.pop(update_id, None)
        self.notify()

    def notify(self) -> None:
        """Wake every waiter to re-check its condition (a state outside the emulator changed)."""
        self._changed.notify()

    @property
    def unreported_updates(self) -> list[int]:
        """Updates queued for the bot that it has not reported handled (see track_handling)."""
        return sorted(self._unreported)

    def bot_idle(self) -> bool:
        """With ``track_handling``: no update in flight and no background work pending."""
        probe = self._background_idle
        return probe is not None and not self._unreported and probe()

    def acknowledged(self, chat_id: int) -> bool:
        """Whether the bot confirmed every update of this chat: polling with an offset past it
        (aiogram does so when its handler task is created, not when it finished), or a webhook
        answer 2xx. For a bot in another process, where track_handling is not available."""
        return chat_id not in self._unacknowledged.values()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` holds, re-checking on every emulator state change.

        ``timeout`` is part of the test's assertion (the error names ``what``), not a cancel
        scope, hence a parameter.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await self._changed.wait(remaining)

    # ------------------------------------------------------------------------ update creation

    def _now(self) -> int:
        return int(self._wall_clock())

    def _chat_for(self, user: FakeUser) -> Chat:
        chat = self._chats.get(user.id)
        if chat is None:
            chat = self._chats[user.id] = Chat(id=user.id, user=user)
        return chat

    def _existing_chat(self, user: FakeUser) -> Chat | None:
        return self._chats.get(user.id)

    def _queue_update(
        self, kind: str, payload: dict[str, Any], chat_id: int | None
    ) -> dict[str, Any]:
        self._next_update_id += 1
        update = {"update_id": self._next_update_id, kind: payload}
        self.updates[self._next_update_id] = update
        allowed = self._webhook.allowed_updates if self._webhook else self._allowed_updates
        if (kind not in allowed) if allowed else (kind in OPT_IN_UPDATE_KINDS):
            log.debug("update %s (%s) dropped by allowed_updates", update["update_id"], kind)
            return update
        if chat_id is not None:
            self._unhanded[self._next_update_id] = chat_id
        self._unacknowledged[self._next_update_id] = chat_id
        if self.handling_tracked:
            self._unreported[self._next_update_id] = chat_id
        if self._webhook is not None:
            self._webhook.queue.put_nowait(update)
        else:
            self._pending.append(update)
        self._changed.notify()
        return update

    def _queue_member_update(self, chat: Chat, old: str, new: str) -> dict[str, Any]:
        user = chat.user.as_user()
        bot = dict(self.bot_user)

        def member(status: str) -> dict[str, Any]:
            record: dict[str, Any] = {"status": status, "user": bot}
            if status == "kicked":
                record["until_date"] = 0
            return record

        payload = {
            "chat": chat.as_dict(),
            "from": user,
            "date": self._now(),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self._queue_update("my_chat_member", payload, chat.id)

    def _user_message(self, user: FakeUser, content: dict[str, Any]) -> dict[str, Any]:
        """A message from a fake user: stored in the chat and queued as an update."""
        if user.id in self._blocked:
            self.unblock(user.id)
        chat = self._chat_for(user)
        chat.started = True
        message_id = chat.take_message_id()
        raw = {
            "message_id": message_id,
            "from": user.as_user(),
            "chat": chat.as_dict(),
            "date": self._now(),
            **content,
        }
        message = ChatMessage(
            message_id=message_id,
            from_bot=False,
            date=raw["date"],
            raw=raw,
            text=content.get("text", content.get("caption")),
            entities=list(content.get("entities", content.get("caption_entities", []))),
        )
        chat.messages[message_id] = message
        return self._queue_update("message", copy.deepcopy(raw), chat.id)

    def _user_callback(self, user: FakeUser, message: ChatMessage, data: str) -> dict[str, Any]:
        chat = self._chat_for(user)
        self._next_callback_id += 1
        query_id = str(4_000_000_000_000_000_000 + self.bot_id * 1000 + self._next_callback_id)
        self._callbacks[query_id] = _CallbackQuery(
            id=query_id, chat_id=chat.id, user_id=user.id, message_id=message.message_id, data=data
        )
        payload = {
            "id": query_id,
            "from": user.as_user(),
            "message": copy.deepcopy(message.raw),
            "chat_instance": str(abs(hash((self.bot_id, chat.id))) % 10**18),
            "data": data,
        }
        return self._queue_update("callback_query", payload, chat.id)

    def _store_file(
        self, data: bytes | None, filename: str, content_type: str, kind: str
    ) -> StoredFile:
        self._next_file += 1
        number = self._next_file
        extension = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
        stored = StoredFile(
            file_id=f"EMU{kind.upper()}{self.bot_id}x{number:06d}",
            file_unique_id=f"EU{number:06d}",
            data=data,
            filename=filename,
            content_type=content_type,
            file_path=f"{kind}s/file_{number}.{extension}",
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        width, height = image_size(stored.data or b"") or (320, 320)
        size: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
        }
        if stored.data is not None:
            size["file_size"] = len(stored.data)
        return [size]

    # ------------------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        name = request.match_info["method"]
        if token != self.token:
            unauthorized = ApiError(401, "Unauthorized")
            self._record(name, {}, error=unauthorized)
            return web.json_response(unauthorized.payload(), status=401)
        method = self.schema.canonical_method(name)
        if method is None:
            not_found = ApiError(404, "Not Found")
            self._record(name, {}, error=not_found)
            return web.json_response(not_found.payload(), status=404)
        try:
            params, files = await read_request(request)
        except ApiError as unreadable:
            self._record(method, {}, error=unreadable)
            return web.json_response(unreadable.payload(), status=unreadable.error_code)
        _current_request.set(request)
        result, error = await self._execute(method, params, files)
        if error is not None:
            return web.json_response(error.payload(), status=error.error_code)
        return web.json_response({"ok": True, "result": result})

    async def _execute(
        self,
        method: str,
        raw: dict[str, Any],
        files: dict[str, UploadedFile],
        source: Literal["http", "webhook-response", "internal"] = "http",
    ) -> tuple[Any, ApiError | None]:
        params: dict[str, Any] = raw
        # A file part named like a parameter is that parameter (the plain upload style); other
        # file parts are only reachable through "attach://<name>".
        fields = self.schema.method_fields(method)
        for name, uploaded in files.items():
            if name in fields and name not in raw:
                raw[name] = uploaded
        try:
            # A real Bot API method the bot does not use is refused before its parameters are
            # checked (an unknown method is Telegram's 404, answered by _handle_api).
            handler = self._handlers.get(method)
            if handler is None:
                raise bad_request("method not supported by the emulator")
            params = self.schema.validate_params(method, raw, files)
            result = await handler(params)
        except ApiError as error:
            self._record(method, params, error=error, source=source)
            return None, error
        result = copy.deepcopy(result)
        self._record(method, params, result=result, source=source)
        return result, None

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        *,
        result: Any = None,
        error: ApiError | None = None,
        source: Literal["http", "webhook-response", "internal"] = "http",
    ) -> None:
        call = ApiCall(method=method, params=params, ok=error is None, result=result, source=source)
        if error is not None:
            call.error_code = error.error_code
            call.description = error.description
            self.rejections.append(
                Rejection(method, params, error.description, error_code=error.error_code)
            )
            log.warning("refused %s %s: %s", method, _short(params), error.description)
        else:
            log.debug("%s %s", method, _short(params))
        self.calls.append(call)
        chat_id = self._chat_of_call(params)
        if chat_id is not None and chat_id in self._chats:
            self._chats[chat_id].last_activity = time.monotonic()
        self._changed.notify()

    def _chat_of_call(self, params: Mapping[str, Any]) -> int | None:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            return chat_id
        query = self._callbacks.get(str(params.get("callback_query_id", "")))
        return query.chat_id if query else None

    # --------------------------------------------------------------------------- common checks

    def _target_chat(self, params: Mapping[str, Any]) -> Chat:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise bad_request("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None or not chat.started:
            if chat_id in self._users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        if chat.user.id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _take_send_token(self, chat: Chat, params: Mapping[str, Any]) -> None:
        buckets: list[TokenBucket] = []
        if self.per_chat_rate:
            bucket = self._chat_buckets.get(chat.id)
            if bucket is None:
                bucket = TokenBucket(self.per_chat_rate, self.per_chat_burst, self._clock)
                self._chat_buckets[chat.id] = bucket
            buckets.append(bucket)
        if params.get("allow_paid_broadcast"):
            if self.paid_rate:
                if self._paid_bucket is None:
                    self._paid_bucket = TokenBucket(self.paid_rate, self.paid_burst, self._clock)
                buckets.append(self._paid_bucket)
        elif self.global_rate:
            if self._global_bucket is None:
                self._global_bucket = TokenBucket(self.global_rate, self.global_burst, self._clock)
            buckets.append(self._global_bucket)
        wait = max((bucket.wait_time() for bucket in buckets), default=0.0)
        if wait > 0:
            self.flood_refusals += 1
            retry_after = retry_after_seconds(wait)
            chat.retry_until = max(chat.retry_until, time.monotonic() + retry_after)
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        for bucket in buckets:
            bucket.take()

    def _formatted(
        self,
        text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]] | None,
        *,
        caption: bool,
    ) -> tuple[str, list[dict[str, Any]]]:
        plain, parsed = parse_text(text, parse_mode, entities)
        if caption:
            if len(plain) > CAPTION_LIMIT:
                raise bad_request("message caption is too long")
        else:
            if not plain.strip():
                raise bad_request("message text is empty")
            if len(plain) > TEXT_LIMIT:
                raise bad_request("message is too long")
        return plain, parsed

    def _reply_to(self, chat: Chat, params: Mapping[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if reply is None and "reply_to_message_id" in params:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if reply is None:
            return None
        if reply.get("chat_id", chat.id) != chat.id:
            raise bad_request("replies to other chats are not supported by the emulator")
        target = chat.messages.get(reply["message_id"])
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        raw = copy.deepcopy(target.raw)
        raw.pop("reply_to_message", None)
        return raw

    def _bot_message(
        self,
        chat: Chat,
        params: Mapping[str, Any],
        content: dict[str, Any],
        *,
        text: str | None,
        entities: list[dict[str, Any]],
        photo: bytes | None = None,
        document: StoredFile | None = None,
    ) -> ChatMessage:
        markup = params.get("reply_markup")
        reply_to = self._reply_to(chat, params)
        self._take_send_token(chat, params)
        message_id = chat.take_message_id()
        raw: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": chat.as_dict(),
            "date": self._now(),
        }
        if reply_to is not None:
            raw["reply_to_message"] = reply_to
        raw.update(content)
        if params.get("has_spoiler"):
            raw["has_media_spoiler"] = True
        if params.get("protect_content"):
            raw["has_protected_content"] = True
        if markup is not None and "inline_keyboard" in markup:
            raw["reply_markup"] = markup
        message = ChatMessage(
            message_id=message_id,
            from_bot=True,
            date=raw["date"],
            raw=raw,
            text=text,
            entities=entities,
            reply_markup=copy.deepcopy(markup),
            photo=photo,
            document=document,
        )
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = copy.deepcopy(markup)
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        chat.messages[message_id] = message
        chat.events.append(message.snapshot("sent"))
        self._changed.notify()
        return message

    # --------------------------------------------------------------------------------- methods

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = params.get("offset")
        limit = params.get("limit", 100)
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(0, params.get("timeout", 0))
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        if offset is not None:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify()  # an older poll still waiting ends now with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._poll_ended(generation):
                return []
            batch = self._redeliveries[:limit]
            batch += self._pending[: limit - len(batch)]
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                del self._redeliveries[: min(limit, len(self._redeliveries))]
                for update in batch:
                    self._handed(update["update_id"])
                return copy.deepcopy(batch)
            await self._changed.wait(remaining)

    def _confirm(self, offset: int) -> None:
        """getUpdates with an offset: earlier updates are confirmed (a negative offset keeps only
        the last -offset updates, forgetting the others)."""
        kept = (
            self._pending[offset:]
            if offset < 0
            else [u for u in self._pending if u["update_id"] >= offset]
        )
        kept_ids = {update["update_id"] for update in kept}
        for update in self._pending:
            if update["update_id"] not in kept_ids:
                self._handed(update["update_id"])  # confirmed or forgotten
        self._pending = kept
        for update_id in list(self._unacknowledged):
            if update_id < offset if offset >= 0 else update_id not in kept_ids:
                del self._unacknowledged[update_id]

    def _poll_ended(self, generation: int) -> bool:
        """Whether a long poll must end now with no updates (True) or with a 409 (raised)."""
        if self._closing:
            return True
        if generation != self._poll_generation:
            if _client_gone():
                return True  # a bot that stopped polling; nobody reads this answer
            raise ApiError(409, CONFLICT_POLL)
        if self._webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        return False

    def _handed(self, update_id: int) -> None:
        chat_id = self._unhanded.pop(update_id, None)
        if chat_id is not None and chat_id in self._chats:
            self._chats[chat_id].last_handed = time.monotonic()
        self._changed.notify()

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if not url:
            await self._delete_webhook(params)
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if not self._host_allowed(parts.hostname):
            raise bad_request(
                "bad webhook: the emulator only delivers to loopback addresses "
                f"(got {parts.hostname!r}); add others with webhook_hosts="
            )
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("max_connections must be between 1 and 100")
        backlog: list[dict[str, Any]] = []
        if self._webhook is not None:
            backlog = await self._stop_webhook(self._webhook)
        else:
            backlog = self._redeliveries + self._pending
            self._redeliveries, self._pending = [], []
        if params.get("drop_pending_updates"):
            self._drop(backlog)
            backlog = []
        allowed = params.get("allowed_updates")
        if allowed is None and self._webhook is not None:
            allowed = self._webhook.allowed_updates
        hook = _Webhook(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            allowed_updates=list(allowed) if allowed else None,
            ip_address=params.get("ip_address"),
        )
        for update in sorted(backlog, key=lambda u: u["update_id"]):
            hook.queue.put_nowait(update)
        self._webhook = hook
        hook.worker = asyncio.get_running_loop().create_task(self._webhook_worker(hook))
        self._changed.notify()
        return True

    def _host_allowed(self, host: str) -> bool:
        if host in self.webhook_hosts or host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _drop(self, updates: list[dict[str, Any]]) -> None:
        for update in updates:
            self._unacknowledged.pop(update["update_id"], None)
            self._unreported.pop(update["update_id"], None)  # the bot will never see it
            self._handed(update["update_id"])

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        backlog: list[dict[str, Any]] = []
        if self._webhook is not None:
            backlog = await self._stop_webhook(self._webhook)
            self._webhook = None
        if params.get("drop_pending_updates"):
            self._drop(backlog + self._pending + self._redeliveries)
            self._pending, self._redeliveries = [], []
        else:
            self._pending = sorted(self._pending + backlog, key=lambda u: u["update_id"])
        self._changed.notify()
        return True

    async def _stop_webhook(self, hook: _Webhook) -> list[dict[str, Any]]:
        """Stop delivering; return the updates not yet delivered (in flight ones included)."""
        backlog = list(hook.in_flight.values())
        hook.in_flight.clear()
        # A webhook reply may itself call setWebhook/deleteWebhook: never cancel that task.
        current = asyncio.current_task()
        tasks = [t for t in (hook.worker, *hook.tasks) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not hook.queue.empty():
            backlog.append(hook.queue.get_nowait())
        if self._webhook is hook:
            self._webhook = None
        unique = {update["update_id"]: update for update in backlog}
        return [unique[key] for key in sorted(unique)]

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_update_count,
        }
        hook = self._webhook
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates:
                info["allowed_updates"] = list(hook.allowed_updates)
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _webhook_worker(self, hook: _Webhook) -> None:
        slots = asyncio.Semaphore(hook.max_connections)
        while True:
            update = await hook.queue.get()
            await slots.acquire()
            hook.in_flight[update["update_id"]] = update
            task = asyncio.get_running_loop().create_task(self._deliver(hook, update, slots))
            hook.tasks.add(task)
            task.add_done_callback(hook.tasks.discard)

    async def _deliver(
        self, hook: _Webhook, update: dict[str, Any], slots: asyncio.Semaphore
    ) -> None:
        try:
            delays = (*self.webhook_retry_delays, None)
            for attempt, delay in enumerate(delays, start=1):
                _status, error = await self._post_update(hook, update, attempt)
                self._handed(update["update_id"])
                if error is None:
                    self._unacknowledged.pop(update["update_id"], None)
                    return
                hook.last_error_date = self._now()
                hook.last_error_message = error
                log.warning("webhook delivery of %s failed: %s", update["update_id"], error)
                if delay is None:
                    return
                await asyncio.sleep(delay)
        finally:
            hook.in_flight.pop(update["update_id"], None)
            slots.release()
            self._changed.notify()

    async def _post_update(
        self, hook: _Webhook, update: dict[str, Any], attempt: int
    ) -> tuple[int | None, str | None]:
        assert self._client is not None, "the emulator is not started"
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._client.post(
                hook.url, data=json.dumps(update), headers=headers
            ) as response:
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
                    self.webhook_deliveries.append(
                        WebhookDelivery(update["update_id"], attempt, status, error)
                    )
                    return status, error
                method, params, files = await read_webhook_reply(response)
        except Exception as exc:  # aiohttp client errors, timeouts, refused connections
            error = f"Connection error: {type(exc).__name__}: {exc}"
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], attempt, None, error)
            )
            return None, error
        self.webhook_deliveries.append(WebhookDelivery(update["update_id"], attempt, status))
        if method is not None:
            canonical = self.schema.canonical_method(method)
            if canonical is None:
                self._record(method, params, error=ApiError(404, "Not Found"))
            else:
                await self._execute(canonical, params, files, source="webhook-response")
        return status, None

    # -- messages ------------------------------------------------------------------------------

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        text, entities = self._formatted(
            params["text"], params.get("parse_mode"), params.get("entities"), caption=False
        )
        check_reply_markup(params.get("reply_markup"), chat.type)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._bot_message(chat, params, content, text=text, entities=entities)
        return message.raw

    def _input_file(self, value: Any, kind: str, limit: int) -> StoredFile:
        if isinstance(value, UploadedFile):
            if len(value.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            if not value.data:
                raise bad_request("file must be non-empty")
            return self._store_file(value.data, value.filename, value.content_type, kind)
        if value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or "file"
            return self._store_file(None, name, "application/octet-stream", kind)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _caption(
        self, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str | None, list[dict[str, Any]]]:
        if "caption" not in params:
            return {}, None, []
        caption, entities = self._formatted(
            params["caption"],
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        content: dict[str, Any] = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return content, caption or None, entities

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        caption_content, caption, entities = self._caption(params)
        check_reply_markup(params.get("reply_markup"), chat.type)
        stored = self._input_file(params["photo"], "photo", PHOTO_SIZE_LIMIT)
        if stored.data is not None and image_size(stored.data) is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        content = {"photo": self._photo_sizes(stored), **caption_content}
        message = self._bot_message(
            chat, params, content, text=caption, entities=entities, photo=stored.data
        )
        return message.raw

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        """A file sent as a document: kept with its name and bytes (ChatMessage.document)."""
        chat = self._target_chat(params)
        caption_content, caption, entities = self._caption(params)
        check_reply_markup(params.get("reply_markup"), chat.type)
        stored = self._input_file(params["document"], "document", DOCUMENT_SIZE_LIMIT)
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.filename,
            "mime_type": stored.content_type,
        }
        if stored.data is not None:
            document["file_size"] = len(stored.data)
        content = {"document": document, **caption_content}
        message = self._bot_message(
            chat, params, content, text=caption, entities=entities, document=stored
        )
        return message.raw

    def _message_to_edit(self, params: Mapping[str, Any]) -> tuple[Chat, ChatMessage]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the emulator")
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._target_chat(params)
        message = chat.messages.get(params["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(
        self,
        chat: Chat,
        message: ChatMessage,
        changes: dict[str, Any],
        markup: dict[str, Any] | None,
        visible: tuple[str | None, list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Apply an edit, refusing one that changes nothing (Telegram's "not modified")."""
        current = {key: message.raw.get(key) for key in changes}
        if current == changes and message.raw.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        if visible is not None:
            message.text, message.entities = visible[0], list(visible[1])
        for key, value in changes.items():
            if value in (None, []):
                message.raw.pop(key, None)
            else:
                message.raw[key] = value
        if markup is None:
            message.raw.pop("reply_markup", None)
        else:
            message.raw["reply_markup"] = markup
        message.raw["edit_date"] = self._now()
        message.reply_markup = copy.deepcopy(markup)
        message.edit_count += 1
        message.event = "edited"
        chat.events.append(message.snapshot("edited"))
        self._changed.notify()
        return message.raw

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        if "text" not in message.raw:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(
            params["text"], params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = params.get("reply_markup")
        check_reply_markup(markup, chat.type)
        changes = {"text": text, "entities": entities or None}
        return self._apply_edit(chat, message, changes, markup, (text, entities))

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        markup = params.get("reply_markup")
        check_reply_markup(markup, chat.type)
        return self._apply_edit(chat, message, {}, markup)

    def _delete_one(self, chat: Chat, message_id: int) -> None:
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        if self._now() - message.date > DELETE_WINDOW_SECONDS:
            raise bad_request("message can't be deleted for everyone")
        del chat.messages[message_id]
        message.deleted = True
        message.event = "deleted"
        chat.deleted[message_id] = message
        chat.events.append(message.snapshot("deleted"))
        self._changed.notify()

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._chats.get(params["chat_id"]) if isinstance(params["chat_id"], int) else None
        if chat is None:
            raise bad_request("chat not found")
        self._delete_one(chat, params["message_id"])
        return True

    # -- callbacks, commands, settings ---------------------------------------------------------

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self._callbacks.get(params["callback_query_id"])
        if query is None or query.answer is not None:
            raise bad_request(QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise bad_request(
                f"callback query answer text is too long ({len(text)} > "
                f"{CALLBACK_ANSWER_LIMIT} characters)"
            )
        query.answer = CallbackAnswer(
            callback_query_id=query.id,
            text=text,
            show_alert=bool(params.get("show_alert", False)),
            url=params.get("url"),
            cache_time=params.get("cache_time"),
        )
        chat = self._chats.get(query.chat_id)
        if chat is not None:
            chat.callback_answers.append(
                {
                    "number": len(chat.callback_answers) + 1,
                    "message_id": query.message_id,
                    "text": text,
                    "show_alert": query.answer.show_alert,
                }
            )
        self._changed.notify()
        return True

    def _scope_key(self, params: Mapping[str, Any]) -> tuple[str, int | None, int | None, str]:
        scope = params.get("scope") or {"type": "default"}
        language = params.get("language_code", "")
        if language and not LANGUAGE_CODE_RE.fullmatch(language):
            raise bad_request("language_code must be a two-letter ISO 639-1 code or empty")
        chat_id = scope.get("chat_id")
        if isinstance(chat_id, str):
            raise bad_request("chat not found")
        return scope["type"], chat_id, scope.get("user_id"), language

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands (at most 100)")
        for command in commands:
            if not COMMAND_RE.fullmatch(command["command"]):
                raise bad_request(
                    f"BOT_COMMAND_INVALID: {command['command']!r} (1-32 characters of a-z, 0-9, _)"
                )
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request(
                    f"command description must be 1-256 characters ({command['command']!r})"
                )
        key = self._scope_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True


def _update_chat_id(update: Mapping[str, Any]) -> int | None:
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or payload.get("message", {}).get("chat")
        if isinstance(chat, dict):
            return int(chat["id"])
    return None


def _short(params: Mapping[str, Any]) -> str:
    text = repr(dict(params))
    return text if len(text) <= 300 else text[:297] + "..."
