"""Plain records the emulator keeps and hands to tests.

They are dataclasses on purpose: tests compare and print them, and nothing here depends on
aiohttp or on a bot library, so the user-side API stays usable from any test tier.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal


class ApiError(Exception):
    """A Bot API refusal: becomes ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    """400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (or a file a fake user sent), bytes kept for tests."""

    data: bytes
    filename: str = "file"
    content_type: str = "application/octet-stream"

    def __repr__(self) -> str:  # keeps call logs readable
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


@dataclass
class StoredFile:
    """A file known to the emulator by file_id (uploaded by the bot or sent by a fake user)."""

    file_id: str
    file_unique_id: str
    data: bytes | None
    filename: str
    content_type: str
    file_path: str


@dataclass
class ApiCall:
    """One Bot API call as the emulator saw it (HTTP or webhook-response), successful or not."""

    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    source: Literal["http", "webhook-response", "internal"] = "http"


@dataclass
class Rejection:
    """A refused call. Tests assert ``emulator.rejections == []`` to prove the bot is clean.

    ``error_code`` lets a test that provokes a refusal on purpose (a blocked user: 403, a burst:
    429) filter it out instead of disabling the check.
    """

    method: str
    params: dict[str, Any]
    description: str
    error_code: int = 400


@dataclass
class CallbackAnswer:
    """What the bot answered to one callback query."""

    callback_query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


@dataclass
class WebhookDelivery:
    """One HTTP attempt at delivering an update to the webhook."""

    update_id: int
    attempt: int
    status: int | None
    error: str | None = None


EventKind = Literal["sent", "edited", "deleted"]


@dataclass
class ChatMessage:
    """A message in a chat as a person would see it, or a snapshot of it in a chat's event log.

    ``text`` is the text or the caption; ``raw`` is the Telegram ``Message`` object. In the list
    returned by ``FakeUser.replies_since`` each item is a snapshot taken when the event happened,
    with ``event`` telling whether the bot sent, edited or deleted the message.
    """

    message_id: int
    from_bot: bool
    date: int
    raw: dict[str, Any]
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    document: StoredFile | None = None  # a file the bot sent as a document: name and bytes
    edit_count: int = 0
    deleted: bool = False
    event: EventKind = "sent"

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows (button dicts), empty when the message has none."""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            rows: list[list[dict[str, Any]]] = self.reply_markup["inline_keyboard"]
            return rows
        return []

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        """Inline buttons as (label, callback_data or url or "") rows."""
        return [
            [(b["text"], b.get("callback_data") or b.get("url") or "") for b in row]
            for row in self.inline_keyboard
        ]

    @property
    def button_labels(self) -> list[str]:
        """All inline button labels, row by row, flattened."""
        return [label for row in self.buttons for label, _ in row]

    def snapshot(self, event: EventKind) -> ChatMessage:
        """A deep copy frozen at this moment, for the event log."""
        clone = copy.deepcopy(self)
        clone.event = event
        return clone
