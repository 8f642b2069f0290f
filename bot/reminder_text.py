"""A reminder's outbox message as the person sees it: the text in their language and its
buttons (bot.storage.reminders.document wrote both). The delivery engine renders reminder rows
with this; a reader that knows only flows.text.from_json still gets the text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.i18n import Renderer
from bot.transport import Outgoing
from flows import callbacks
from flows.formatting import long_date
from flows.reminders import DayCount
from flows.text import Raw, from_json, t


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


def campaign_view(deadline: date | None, days: str | None, render: Renderer) -> Outgoing:
    """/kampanye: the campaign in force (or none) and how to set it."""
    if deadline is None:
        shown = render(t("reminders.campaign_none"))
    else:
        shown = render(
            t("reminders.campaign_shown", deadline=long_date(deadline), days=Raw(days or ""))
        )
    return Outgoing(shown + "\n\n" + render(t("reminders.campaign_usage")))


def upcoming_view(counts: Sequence[DayCount], days: int, render: Renderer) -> Outgoing:
    """/pengingat: one line per local day and kind, and the total."""
    if not counts:
        return Outgoing(render(t("reminders.upcoming_empty", days=days)))
    lines = [render(t("reminders.upcoming_title", days=days))]
    for count in counts:
        kind = render(t(f"reminders.kind_{count.kind}"))
        lines.append(
            render(
                t(
                    "reminders.upcoming_line",
                    day=long_date(count.day),
                    kind=Raw(kind),
                    count=count.count,
                )
            )
        )
    lines.append(render(t("reminders.upcoming_total", count=sum(c.count for c in counts))))
    return Outgoing("\n".join(lines))
