"""What a user did, as frozen values the engine understands. Transports map updates to these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class TextReceived:
    text: str
    message_id: int | None = None
    html: str | None = None  # the text with its formatting as Telegram HTML (entities), if any


@dataclass(frozen=True)
class ChoicePicked:
    """An inline button pressed; seq is the prompt it belongs to: an old prompt's press is stale."""

    seq: int
    value: str
    message_id: int | None = None


@dataclass(frozen=True)
class ContactShared:
    phone: str
    is_own: bool  # the contact's user_id equals the sender's id
    message_id: int | None = None


@dataclass(frozen=True)
class CommandIssued:
    """A slash command, without the slash and any @botname: "start", "batal", "bantuan", ..."""

    name: str
    argument: str = ""


@dataclass(frozen=True)
class UnsupportedReceived:
    """A photo, sticker, voice note, document, location...: something the bot cannot read here."""

    kind: str


@dataclass(frozen=True)
class MediaReceived:
    """A photo or document Telegram holds (its file_id), with its caption as Telegram HTML. Only
    /umumkan reads it; everywhere else it is answered like any unsupported message."""

    kind: str  # "photo" | "document"
    file_id: str
    caption_html: str = ""
    message_id: int | None = None


Input: TypeAlias = (
    TextReceived
    | ChoicePicked
    | ContactShared
    | CommandIssued
    | UnsupportedReceived
    | MediaReceived
)
