"""Fake Telegram users: the person's side of a private chat with the bot, for tests.

A ``FakeUser`` does what a person does in a Telegram client (types text, taps inline or reply
keyboard buttons, shares a contact, sends a photo) and sees what a person sees (the bot's
messages with edits applied, the keyboards). Each action queues the update Telegram would send
the bot and returns it.

Waiting for the bot is event-driven: ``replies_since`` wakes on every emulator state change.
When the test harness reports the bot's handling (``BotApiEmulator.track_handling``: the bot
runs in the test's process), a turn ends on an explicit signal: every update handled and no
background work pending. Otherwise (a bot the test cannot observe) it ends when the chat has
been quiet for a short period, or, with ``replies_counted``, when the turn's known number of
events arrived. Tests never sleep blindly nor miss the last message of a turn.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from emulator.formatting import detect_user_entities
from emulator.models import ApiCall, CallbackAnswer, ChatMessage, Rejection, StoredFile
from emulator.personas import mobile_number
from emulator.state import Chat, Signal

#: After a 429, a polite bot comes back after retry_after seconds plus its own latency: wait at
#: least this long past retry_after before calling the turn finished.
RETRY_GRACE = 0.5

#: How long a wait for the bot may take before it fails the test. With explicit end-of-turn
#: signals it only expires on a failure, so it is generous (a loaded 2-core CI machine).
TURN_TIMEOUT = 30.0


def make_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (0, 128, 255)) -> bytes:
    """A small valid PNG, for fake users' photos and for tests of the bot's uploads."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class EmulatorSide(Protocol):
    """What a fake user needs of the emulator (``BotApiEmulator`` is the one implementation).

    A protocol rather than an import of the server, so that the server may import this module
    without a circle: the server creates fake users, a fake user acts through this interface.
    """

    quiet_period: float
    calls: list[ApiCall]
    rejections: list[Rejection]
    _unhanded: dict[int, int]
    _changed: Signal

    @property
    def handling_tracked(self) -> bool: ...
    @property
    def pending_update_count(self) -> int: ...
    @property
    def unreported_updates(self) -> list[int]: ...
    def is_blocked(self, user_id: int) -> bool: ...
    def block(self, user_id: int, *, notify_bot: bool = True) -> None: ...
    def unblock(self, user_id: int, *, notify_bot: bool = True) -> None: ...
    def bot_idle(self) -> bool: ...
    def acknowledged(self, chat_id: int) -> bool: ...
    def callback_answer(self, callback_query_id: str) -> CallbackAnswer | None: ...
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - as BotApiEmulator.wait_until
        what: str = "condition",
    ) -> None: ...
    def _chat_for(self, user: FakeUser) -> Chat: ...
    def _existing_chat(self, user: FakeUser) -> Chat | None: ...
    def _user_message(self, user: FakeUser, content: dict[str, Any]) -> dict[str, Any]: ...
    def _user_callback(self, user: FakeUser, message: ChatMessage, data: str) -> dict[str, Any]: ...
    def _store_file(
        self, data: bytes | None, filename: str, content_type: str, kind: str
    ) -> StoredFile: ...
    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]: ...


class FakeUser:
    """One person in a private chat with the bot (chat id == user id)."""

    def __init__(
        self,
        emulator: EmulatorSide,
        user_id: int,
        *,
        first_name: str = "Budi",
        language_code: str | None = "id",
        username: str | None = None,
        last_name: str | None = None,
        phone_number: str | None = None,
    ) -> None:
        self.emulator = emulator
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        # A real operator prefix and length: the bot accepts the contact (emulator.personas).
        self.phone_number = phone_number or mobile_number(user_id)
        self._last_action_mark = 0

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.first_name!r})"

    # ---------------------------------------------------------------------------- identity

    def as_user(self) -> dict[str, Any]:
        """This person as a Bot API ``User`` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat_id(self) -> int:
        return self.id

    @property
    def blocked(self) -> bool:
        return self.emulator.is_blocked(self.id)

    def block(self) -> None:
        """Block the bot (sends to this user then fail with 403)."""
        self.emulator.block(self.id)

    def unblock(self) -> None:
        self.emulator.unblock(self.id)

    # ------------------------------------------------------------------------------ actions

    def _chat(self) -> Chat:
        return self.emulator._chat_for(self)

    def _before_action(self) -> None:
        self._last_action_mark = self.mark()

    async def send_text(self, text: str) -> dict[str, Any]:
        """Type and send a text; a leading "/command" gets its bot_command entity."""
        if not text:
            raise ValueError("Telegram clients do not send empty messages")
        self._before_action()
        content: dict[str, Any] = {"text": text}
        entities = detect_user_entities(text)
        if entities:
            content["entities"] = entities
        return self.emulator._user_message(self, content)

    async def send_command(self, command: str, arg: str = "") -> dict[str, Any]:
        """Send ``/command arg`` (``arg`` is what a deep link's start parameter delivers)."""
        text = f"/{command.lstrip('/')}"
        return await self.send_text(f"{text} {arg}" if arg else text)

    async def share_contact(
        self, phone_number: str | None = None, *, own: bool = True, first_name: str | None = None
    ) -> dict[str, Any]:
        """Share a contact: one's own (contact.user_id == user id) or someone else's."""
        self._before_action()
        contact: dict[str, Any] = {
            "phone_number": phone_number or self.phone_number,
            "first_name": first_name or (self.first_name if own else "Siti"),
            "user_id": self.id if own else self.id + 1_000_000,
        }
        if own and self.last_name:
            contact["last_name"] = self.last_name
        return self.emulator._user_message(self, {"contact": contact})

    def _file(self, data: bytes, filename: str, content_type: str, kind: str) -> dict[str, Any]:
        stored = self.emulator._store_file(data, filename, content_type, kind)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
        }

    async def send_photo(
        self, data: bytes | None = None, *, caption: str | None = None
    ) -> dict[str, Any]:
        """Send a photo (a tiny PNG unless ``data`` is given); the bot can getFile it."""
        self._before_action()
        payload = data if data is not None else make_png()
        stored = self.emulator._store_file(payload, "photo.png", "image/png", "photo")
        content: dict[str, Any] = {"photo": self.emulator._photo_sizes(stored)}
        if caption:
            content["caption"] = caption
        return self.emulator._user_message(self, content)

    async def send_document(
        self,
        data: bytes = b"%PDF-1.4\n%fake\n",
        *,
        filename: str = "dokumen.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Send a file as a document."""
        self._before_action()
        document = self._file(data, filename, mime_type, "document")
        document.update(file_name=filename, mime_type=mime_type)
        content: dict[str, Any] = {"document": document}
        if caption:
            content["caption"] = caption
        return self.emulator._user_message(self, content)

    async def send_sticker(self, emoji: str = "👍") -> dict[str, Any]:
        """Send a (static, 512x512) sticker."""
        self._before_action()
        sticker = self._file(b"RIFF\x00\x00\x00\x00WEBP", "sticker.webp", "image/webp", "sticker")
        sticker.update(
            type="regular", width=512, height=512, is_animated=False, is_video=False, emoji=emoji
        )
        return self.emulator._user_message(self, {"sticker": sticker})

    async def send_voice(self, duration: int = 3) -> dict[str, Any]:
        """Send a voice note of ``duration`` seconds."""
        self._before_action()
        voice = self._file(b"OggS\x00fake-voice", "voice.ogg", "audio/ogg", "voice")
        voice.update(duration=duration, mime_type="audio/ogg")
        return self.emulator._user_message(self, {"voice": voice})

    async def send_location(
        self, latitude: float = -6.2088, longitude: float = 106.8456
    ) -> dict[str, Any]:
        """Send a location (Jakarta unless told otherwise)."""
        self._before_action()
        location = {"latitude": latitude, "longitude": longitude}
        return self.emulator._user_message(self, {"location": location})

    def _keyboard_message(self, message_id: int | None) -> ChatMessage:
        if message_id is not None:
            chat = self._chat()
            message = chat.messages.get(message_id)
            if message is None:
                raise LookupError(f"message {message_id} is not in the chat (deleted?)")
            return message
        for message in reversed(self.messages):
            if message.inline_keyboard:
                return message
        raise LookupError(f"no bot message with an inline keyboard in the chat of {self!r}")

    async def press(self, label: str, *, message_id: int | None = None) -> dict[str, Any]:
        """Tap the inline button labelled ``label`` on the newest message with an inline
        keyboard (or on message ``message_id``); returns the callback_query update."""
        message = self._keyboard_message(message_id)
        for row in message.inline_keyboard:
            for button in row:
                if button["text"] == label:
                    if "callback_data" not in button:
                        raise LookupError(f"button {label!r} is not a callback button: {button}")
                    self._before_action()
                    return self.emulator._user_callback(self, message, button["callback_data"])
        raise LookupError(
            f"no inline button {label!r} on message {message.message_id}; "
            f"buttons: {message.button_labels}"
        )

    async def press_data(self, callback_data: str, message_id: int | None = None) -> dict[str, Any]:
        """Send a callback query with any data, even one no button carries (a forged press)."""
        message = self._keyboard_message(message_id)
        self._before_action()
        return self.emulator._user_callback(self, message, callback_data)

    async def tap(self, label: str) -> dict[str, Any]:
        """Tap a reply keyboard button: sends its text, or the contact when it requests one."""
        keyboard = self._chat().reply_keyboard
        if keyboard is None:
            raise LookupError(f"no reply keyboard is shown to {self!r}")
        for row in keyboard["keyboard"]:
            for button in row:
                if button["text"] != label:
                    continue
                if keyboard.get("one_time_keyboard"):
                    self._chat().reply_keyboard = None
                if button.get("request_contact"):
                    return await self.share_contact()
                if button.get("request_location"):
                    return await self.send_location()
                return await self.send_text(label)
        labels = [b["text"] for row in keyboard["keyboard"] for b in row]
        raise LookupError(f"no reply keyboard button {label!r}; buttons: {labels}")

    # ---------------------------------------------------------------------- what the user sees

    @property
    def messages(self) -> list[ChatMessage]:
        """The bot's messages in this chat as they are now (edits applied, deleted ones gone)."""
        chat = self.emulator._existing_chat(self)
        if chat is None:
            return []
        return [m for _, m in sorted(chat.messages.items()) if m.from_bot]

    @property
    def history(self) -> list[ChatMessage]:
        """Every message of the chat, both sides, deleted ones included (``deleted=True``)."""
        chat = self.emulator._existing_chat(self)
        if chat is None:
            return []
        merged = {**chat.deleted, **chat.messages}
        return [merged[key] for key in sorted(merged)]

    @property
    def documents(self) -> list[StoredFile]:
        """The files the bot sent to this chat as documents, oldest first (name and bytes)."""
        return [m.document for m in self.messages if m.document is not None]

    @property
    def last_message(self) -> ChatMessage | None:
        """The newest bot message still in the chat."""
        messages = self.messages
        return messages[-1] if messages else None

    def inline_buttons(self, message: ChatMessage | None = None) -> list[list[tuple[str, str]]]:
        """(label, callback_data or url) rows of ``message`` or of the newest keyboard message."""
        if message is None:
            try:
                message = self._keyboard_message(None)
            except LookupError:
                return []
        return message.buttons

    def reply_keyboard(self, message: ChatMessage | None = None) -> list[list[str]] | None:
        """Labels of the reply keyboard shown now (or the one ``message`` carried), or None."""
        if message is not None:
            markup = message.reply_markup
        else:
            chat = self.emulator._existing_chat(self)
            markup = chat.reply_keyboard if chat else None
        if not markup or "keyboard" not in markup:
            return None
        return [[button["text"] for button in row] for row in markup["keyboard"]]

    def callback_answer(self, update: dict[str, Any]) -> CallbackAnswer | None:
        """The bot's answer to the callback query of ``update`` (None while unanswered)."""
        return self.emulator.callback_answer(update["callback_query"]["id"])

    async def wait_callback_answer(
        self,
        update: dict[str, Any],
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
    ) -> CallbackAnswer:
        """Wait until the bot answered the callback query of ``update``."""
        query_id = update["callback_query"]["id"]
        await self.emulator.wait_until(
            lambda: self.emulator.callback_answer(query_id) is not None,
            timeout,
            what=f"an answer to callback query {query_id} ({self._diagnostics()})",
        )
        answer = self.emulator.callback_answer(query_id)
        assert answer is not None
        return answer

    # --------------------------------------------------------------------------------- waiting

    def mark(self) -> int:
        """A point in this chat's event log; pass it to ``replies_since``."""
        chat = self.emulator._existing_chat(self)
        return len(chat.events) if chat else 0

    async def replies_since(
        self,
        mark: int,
        *,
        min_count: int = 1,
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
        quiet: float | None = None,
    ) -> list[ChatMessage]:
        """What the bot did in this chat since ``mark``: sent, edited and deleted messages.

        With ``emulator.track_handling`` (and no ``quiet`` given): returns once at least
        ``min_count`` events happened and the bot is idle (every update handled, its outbox
        done); no quiet period. Otherwise: once at least ``min_count`` events happened, every
        update of this user has been handed to the bot, and the chat has seen no API call for
        ``quiet`` seconds (the emulator's ``quiet_period`` by default; a 429's retry_after
        extends it). Raises ``AssertionError`` with the recent calls and rejections if
        ``min_count`` is not reached within ``timeout``. ``min_count=0`` checks that the bot
        stays silent.
        """
        if self.emulator.handling_tracked and quiet is None:
            return await self._replies_when_idle(mark, min_count, timeout)
        quiet = self.emulator.quiet_period if quiet is None else quiet
        deadline = time.monotonic() + timeout
        while True:
            chat = self._chat()
            events = chat.events[mark:]
            now = time.monotonic()
            if len(events) >= min_count:
                settle_at = max(
                    max(chat.last_activity, chat.last_handed) + quiet,
                    chat.retry_until + max(quiet, RETRY_GRACE),
                )
                waiting_for_bot = any(c == chat.id for c in self.emulator._unhanded.values())
                if (not waiting_for_bot and now >= settle_at) or now >= deadline:
                    return list(events)
                wait = deadline - now if waiting_for_bot else settle_at - now
            else:
                if now >= deadline:
                    raise AssertionError(
                        f"{self!r} expected {min_count} bot message(s) within {timeout}s, got "
                        f"{len(events)}. {self._diagnostics()}"
                    )
                wait = deadline - now
            await self.emulator._changed.wait(min(wait, deadline - now) if wait > 0 else 0.001)

    async def _replies_when_idle(
        self,
        mark: int,
        min_count: int,
        timeout: float,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
    ) -> list[ChatMessage]:
        def done() -> bool:
            return len(self._chat().events) - mark >= min_count and self.emulator.bot_idle()

        try:
            await self.emulator.wait_until(done, timeout)
        except AssertionError:
            got = len(self._chat().events) - mark
            raise AssertionError(
                f"{self!r} waited {timeout}s for {min_count} bot message(s) and an idle bot; got "
                f"{got} message(s); updates not reported handled: "
                f"{self.emulator.unreported_updates or 'none'}; bot idle: "
                f"{self.emulator.bot_idle()}. {self._diagnostics()}"
            ) from None
        return list(self._chat().events[mark:])

    async def replies_counted(
        self,
        mark: int,
        count: int,
        *,
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
    ) -> list[ChatMessage]:
        """Exactly ``count`` bot events since ``mark``, for a bot the test cannot observe (one
        in another process): waits until the bot acknowledged every update of this chat and
        ``count`` events happened, and fails if more happened by then. The count must be the
        turn's own: acknowledgement alone does not mean the turn is over."""

        def done() -> bool:
            return len(self._chat().events) - mark >= count and self.emulator.acknowledged(
                self.chat_id
            )

        what = f"{count} bot event(s) in the chat of {self!r} ({self._diagnostics()})"
        await self.emulator.wait_until(done, timeout, what=what)
        events = list(self._chat().events[mark:])
        shown = [(m.event, (m.text or "")[:60]) for m in events]
        assert len(events) == count, f"expected {count} bot event(s), got {len(events)}: {shown}"
        return events

    async def wait_for_reply(
        self,
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
        after: int | None = None,
    ) -> ChatMessage:
        """The first bot event (message, edit or deletion) after ``after`` (by default: after
        this user's last action). Returns as soon as it exists; no quiet period."""
        start = self._last_action_mark if after is None else after
        await self.emulator.wait_until(
            lambda: self.mark() > start,
            timeout,
            what=f"a reply to {self!r} ({self._diagnostics()})",
        )
        return self._chat().events[start]

    async def say(
        self,
        text: str,
        *,
        min_count: int = 1,
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
    ) -> list[ChatMessage]:
        """Send a text and return the bot's whole reply turn (see ``replies_since``)."""
        mark = self.mark()
        await self.send_text(text)
        return await self.replies_since(mark, min_count=min_count, timeout=timeout)

    async def choose(
        self,
        label: str,
        *,
        message_id: int | None = None,
        min_count: int = 1,
        timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
    ) -> list[ChatMessage]:
        """Press an inline button and return the bot's reply turn (edits count)."""
        mark = self.mark()
        await self.press(label, message_id=message_id)
        return await self.replies_since(mark, min_count=min_count, timeout=timeout)

    def _diagnostics(self) -> str:
        calls = [
            f"{c.method}({'ok' if c.ok else c.description})"
            for c in self.emulator.calls[-8:]
            if c.method != "getUpdates"
        ]
        rejections = [f"{r.method}: {r.description}" for r in self.emulator.rejections[-5:]]
        pending = self.emulator.pending_update_count
        return (
            f"Recent calls: {calls or 'none'}; rejections: {rejections or 'none'}; "
            f"updates not yet fetched by the bot: {pending}"
        )
