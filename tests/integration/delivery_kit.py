"""Rows, announcements and transports for the delivery engine's tests (bot.delivery)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from bot import notifications
from bot.delivery.budget import RateBudget
from bot.storage.models import DELIVERY_PRIORITY, Announcement, OutboxMessage, TelegramUser
from bot.transport import Media, Outgoing, SendResult, SendStatus
from flows.text import to_json
from tests.integration.test_storage_repository import SEALER

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def add_users(engine: Engine, user_ids: range | list[int], **values: Any) -> None:
    """People who talked to the bot (their chat id is their user id)."""
    with engine.begin() as connection:
        connection.execute(
            sa.insert(TelegramUser),
            [
                {"user_id": u, "chat_id": u, "created_at": T0, "updated_at": T0, **values}
                for u in user_ids
            ],
        )


def add_announcement(
    engine: Engine, body: str = "<b>Pengumuman</b>", status: str = "sending", **values: Any
) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                sa.insert(Announcement)
                .values(
                    author_user_id=1,
                    channel="cli",
                    scope="all",
                    audience="everyone",
                    body=body,
                    status=status,
                    created_at=T0,
                    **values,
                )
                .returning(col(Announcement.id))
            ).scalar_one()
        )


def set_status(engine: Engine, announcement: int, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(Announcement)
            .where(col(Announcement.id) == announcement)
            .values(status=status)
        )


def enqueue(
    engine: Engine,
    kind: str,
    recipients: range | list[int],
    *,
    announcement: int | None = None,
    tag: str = "",
) -> list[int]:
    """One row per recipient; notifications and reminders carry a sealed Text naming
    PR-<recipient>."""
    rows = []
    for user in recipients:
        message = None
        if kind != "announcement":
            document = to_json(notifications.worker_declined(f"PR-{user:06d}"))
            message = SEALER.seal(json.dumps(document))
        rows.append(
            {
                "dedupe_key": f"{kind}:{tag}{announcement}:{user}",
                "recipient_user_id": user,
                "kind": kind,
                "priority": DELIVERY_PRIORITY[kind],
                "announcement_id": announcement,
                "message": message,
                "created_at": T0,
                "attempts": 0,
                "claims": 0,
            }
        )
    with engine.begin() as connection:
        return list(
            connection.execute(
                sa.insert(OutboxMessage).returning(col(OutboxMessage.id)), rows
            ).scalars()
        )


def rows(engine: Engine) -> dict[int, Any]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return {row.id: row for row in found}


def outcomes(engine: Engine) -> dict[str | None, int]:
    counted: dict[str | None, int] = {}
    for row in rows(engine).values():
        counted[row.outcome] = counted.get(row.outcome, 0) + 1
    return counted


def fast_budget(rate: float = 1000.0) -> RateBudget:
    """A budget that does not slow a test down: no per-chat second."""
    return RateBudget("test", rate, per_chat=False)


class FakeTransport:
    """Answers deliver() as told by `answer` (default: sent); records every call."""

    def __init__(self, answer: Callable[[int, Outgoing], SendResult | None] | None = None) -> None:
        self.answer = answer
        self.calls: list[tuple[int, str, Media | None, bool]] = []
        self.delay = 0.0

    async def deliver(
        self,
        chat_id: int,
        message: Outgoing,
        *,
        media: Media | None = None,
        paid_broadcast: bool = False,
    ) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.calls.append((chat_id, message.text, media, paid_broadcast))
        result = self.answer(chat_id, message) if self.answer else None
        return result or SendResult(SendStatus.SENT, message_id=len(self.calls))

    @property
    def chats(self) -> list[int]:
        return [chat for chat, *_ in self.calls]
