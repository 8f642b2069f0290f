"""The port between the service and a messaging channel: what to send, and what a channel does.

Transports (bot/telegram_aiogram/, bot/telegram_ptb/) implement Transport; the service,
the presenters and the outbox speak only in Outgoing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal, Protocol

TEXT_LIMIT = 4096  # characters of a message; measured on the HTML, which is never shorter
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>")


@dataclass(frozen=True)
class Outgoing:
    """A rendered message: HTML text and at most one keyboard."""

    text: str
    inline_keyboard: tuple[tuple[tuple[str, str], ...], ...] = ()  # (label, callback data)
    contact_button: str | None = None  # one-time reply keyboard with request_contact
    remove_keyboard: bool = False


@dataclass(frozen=True)
class Media:
    """A photo or document Telegram already holds (its file_id), sent with the text as caption."""

    kind: Literal["photo", "document"]
    file_id: str


class SendStatus(StrEnum):
    SENT = "sent"  # accepted: message_id is set
    RATE_LIMITED = "rate_limited"  # 429: wait retry_after seconds, then try again
    BLOCKED = "blocked"  # 403: blocked by the user, deactivated, or never started the bot
    REFUSED = "refused"  # 400: Telegram will never take this request as it is
    TRANSIENT = "transient"  # 5xx, a network error or a timeout: worth a later retry


@dataclass(frozen=True)
class SendResult:
    """What Telegram answered one send, tried once: the delivery engine (bot.delivery) decides
    what to do about it, so a transport never sleeps out a 429 behind the engine's back."""

    status: SendStatus
    message_id: int | None = None
    retry_after: float | None = None
    detail: str = ""  # a short reason for the log and the failure report; no personal data


class Transport(Protocol):
    """What the service asks of a messaging channel. Implementations retry on 429 themselves."""

    async def send(self, chat_id: int, message: Outgoing) -> int | None: ...

    async def deliver(
        self,
        chat_id: int,
        message: Outgoing,
        *,
        media: Media | None = None,
        paid_broadcast: bool = False,
    ) -> SendResult:
        """One attempt at sending `message` (with `media`, its text is the caption), reporting
        what Telegram answered instead of retrying. paid_broadcast: allow_paid_broadcast, which
        lifts the bulk limit to 1000 messages a second for a fee in Stars."""
        ...

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None: ...

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        """Take a message's buttons away, replacing its text with `html` when given."""
        ...

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None: ...

    async def delete(self, chat_id: int, message_id: int) -> None: ...

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None: ...

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        """Send a file (an export) under `filename`, with an HTML caption."""
        ...


def split_message(message: Outgoing, limit: int = TEXT_LIMIT) -> list[Outgoing]:
    """A message too long for one Telegram message, as several: cut at line ends (an over-long
    line at a space), never inside a tag or an entity; a tag open at a cut is closed before it
    and opened again after it. The keyboard goes with the last part."""
    parts = split_html(message.text, limit)
    return [Outgoing(text) for text in parts[:-1]] + [replace(message, text=parts[-1])]


def split_html(html: str, limit: int = TEXT_LIMIT) -> list[str]:
    if len(html) <= limit:
        return [html]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []  # tags open here: (name, the opening tag as written)
    body, has_text = "", False
    for piece in _pieces(html, limit // 2):
        after = _open_after(stack, piece)
        if has_text and len(body) + len(piece) + len(_closing(after)) > limit:
            chunks.append(body + _closing(stack))
            body, has_text = "".join(tag for _name, tag in stack), False
        body += piece
        has_text = has_text or bool(_TAG.sub("", piece).strip())
        stack = after
    chunks.append(body + _closing(stack))
    return [chunk for chunk in chunks if _TAG.sub("", chunk).strip()]


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _tag in reversed(stack))


def _open_after(stack: list[tuple[str, str]], piece: str) -> list[tuple[str, str]]:
    opened = list(stack)
    for match in _TAG.finditer(piece):
        name = match.group(2).lower()
        if not match.group(1):
            opened.append((name, match.group(0)))
            continue
        for index in range(len(opened) - 1, -1, -1):
            if opened[index][0] == name:
                del opened[index:]
                break
    return opened


def _pieces(html: str, longest: int) -> list[str]:
    """Lines (each with its line break); a line over `longest` characters cut at a space, or
    anywhere, outside tags and entities."""
    pieces: list[str] = []
    for line in html.splitlines(keepends=True):
        while len(line) > longest:
            cut = _cut_point(line, longest)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return pieces


def _cut_point(line: str, longest: int) -> int:
    """The last place at or before `longest` that is outside a tag and an entity, preferring
    just after a space; at least 1, so a line always shrinks."""
    safe, space = 0, 0
    inside_tag = inside_entity = False
    for index, char in enumerate(line[: longest + 1]):
        if not inside_tag and not inside_entity and index > 0:
            safe = index
            if line[index - 1] == " ":
                space = index
        if char == "<":
            inside_tag = True
        elif char == ">" and inside_tag:
            inside_tag = False
        elif char == "&" and not inside_tag:
            inside_entity = True
        elif char == ";" and inside_entity:
            inside_entity = False
    return space or safe or len(line)
