"""The emulator's shared state types: a private chat and the change signal.

The server owns the chats; a fake user reads its own chat. Both import these from here, so the
server, the users and the playground do not import each other in a circle (an import contract in
pyproject.toml says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.models import ChatMessage


class ChatUser(Protocol):
    """The person a private chat is with, as a chat shows them."""

    @property
    def id(self) -> int: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    def as_user(self) -> dict[str, Any]: ...


class Signal:
    """Wakes every waiter on any state change; waiters re-check their own condition.

    One signal for everything keeps the waiting logic obviously free of lost wake-ups: a waiter
    checks its condition and calls ``wait`` with no ``await`` in between.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, at_most: float) -> None:
        """Return on the next ``notify()`` or after ``at_most`` seconds, whichever is first."""
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(at_most, 0.0))


@dataclass
class Chat:
    """A private chat between the bot and one fake user."""

    id: int
    user: ChatUser
    type: str = "private"
    next_message_id: int = 1
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    deleted: dict[int, ChatMessage] = field(default_factory=dict)
    events: list[ChatMessage] = field(default_factory=list)
    started: bool = False
    last_activity: float = 0.0
    last_handed: float = 0.0
    retry_until: float = 0.0
    reply_keyboard: dict[str, Any] | None = None
    #: The bot's answers to this chat's button presses, in order: {"number", "message_id",
    #: "text", "show_alert"} (the playground page shows them as toasts and alerts).
    callback_answers: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        chat["first_name"] = self.user.first_name
        if self.user.last_name:
            chat["last_name"] = self.user.last_name
        if self.user.username:
            chat["username"] = self.user.username
        return chat

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id
