"""A reminder's outbox message as the person sees it: the text in their language and its
buttons (bot.storage.reminders.document wrote both). The delivery engine renders reminder rows
with this; a reader that knows only flows.text.from_json still gets the text."""

from __future__ import annotations

import json
from typing import Any

from bot.i18n import Renderer
from bot.transport import Outgoing
from flows import callbacks
from flows.text import from_json


def reminder_outgoing(message: str | dict[str, Any], language: str | None) -> Outgoing:
    """The Outgoing of an opened reminder message (its JSON, or the parsed document)."""
    document: dict[str, Any] = json.loads(message) if isinstance(message, str) else message
    render = Renderer(language)
    rows = []
    for row in document.get("buttons") or ():
        cells = []
        for button in row:
            label = render.plain(from_json(button["label"]))
            cells.append((label, callbacks.encode(callbacks.TIMELESS, str(button["value"]))))
        rows.append(tuple(cells))
    return Outgoing(text=render(from_json(document)), inline_keyboard=tuple(rows))
