"""The port between the service and a messaging channel: what to send, and what a channel does.

Transports (bot/telegram_aiogram/, later python-telegram-bot) implement Transport; the service,
the presenters and the outbox speak only in Outgoing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """A rendered message: HTML text and at most one keyboard."""

    text: str
    inline_keyboard: tuple[tuple[tuple[str, str], ...], ...] = ()  # (label, callback data)
    contact_button: str | None = None  # one-time reply keyboard with request_contact
    remove_keyboard: bool = False


class Transport(Protocol):
    """What the service asks of a messaging channel. Implementations retry on 429 themselves."""

    async def send(self, chat_id: int, message: Outgoing) -> int | None: ...

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None: ...

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        """Take a message's buttons away, replacing its text with `html` when given."""
        ...

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None: ...

    async def delete(self, chat_id: int, message_id: int) -> None: ...

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None: ...
