"""What the delivery engine asks of the rest of the bot, so that it knows neither how an
announcement is worded nor why a reminder is due: both are handed to it when it is built."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from bot.transport import Media, Outgoing


@dataclass(frozen=True)
class AnnouncementContent:
    """An announcement as stored (bot.storage.models.Announcement), what every recipient gets."""

    id: int
    body: str  # Telegram HTML
    media: Media | None
    button: str | None  # the flow its button opens, e.g. "sponsor"; None: no flow button
    paid_broadcast: bool = False


# The message one recipient gets, in their language (None: the default language). The same
# function renders the author's preview, so the preview is exactly what arrives.
AnnouncementRenderer = Callable[[AnnouncementContent, str | None], Outgoing]


@dataclass(frozen=True)
class DueReminder:
    """A reminder row about to be sent: its outbox id and dedupe key (which names its reason)."""

    id: int
    dedupe_key: str
    recipient_user_id: int


class ReminderGate(Protocol):
    """Asked right before reminder rows are sent: which of them are still due. A reminder whose
    reason is gone (the sign-up finished, the worker confirmed) is marked void, not sent."""

    def still_due(self, reminders: Collection[DueReminder]) -> set[int]: ...


class EveryReminderDue:
    """The gate until the reminder planner provides its own: nothing is voided."""

    def still_due(self, reminders: Collection[DueReminder]) -> set[int]:
        return {reminder.id for reminder in reminders}


def plain_announcement(content: AnnouncementContent, language: str | None) -> Outgoing:
    """The renderer until announcements provide theirs: the body alone."""
    del language
    return Outgoing(content.body)
