"""The delivery queue across a crash: a real `peduli run` killed with SIGKILL in the middle of
sending, then started again.

Telegram has no idempotency key, so a message Telegram accepted whose answer never reached the
bot (killed between the send and the mark) is in doubt. The bounds this test pins: only rows
claimed and unmarked at the kill (one or two batches of the engine) are in doubt; after the
restart, those of an announcement are 'unknown' and never sent again, notifications among them
are sent again (at least once); every other row is delivered exactly once; nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from bot import notifications
from bot.security.crypto import sealer_from_settings
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.models import Announcement, OutboxMessage
from bot.storage.repository import Repository
from emulator.server import BotApiEmulator
from flows.text import to_json
from tests.e2e.harness import environment_for_subprocess, settings_for, sqlite_url
from tests.e2e.test_processes import STARTUP, start_bot_process
from tests.notify import notify

NOTIFIED = (7201, 7202, 7203)
ANNOUNCED = tuple(range(7301, 7341))  # 40 people, one announcement each
PER_RECIPIENT = 2
HOLD_AT = 10  # Telegram accepts the 10th announcement, and its answer never reaches the bot
NOTIFICATION = re.compile(r"PR-(\d{6})")
ANNOUNCEMENT = "Pengumuman kampanye"


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(
                col(OutboxMessage.dedupe_key),
                col(OutboxMessage.kind),
                col(OutboxMessage.outcome),
                col(OutboxMessage.recipient_user_id),
                col(OutboxMessage.claimed_until),
                col(OutboxMessage.sent_at),
                col(OutboxMessage.telegram_message_id),
            ).order_by(col(OutboxMessage.id))
        )
        return [dict(row._mapping) for row in found]


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Poll the database (a separate process writes it) until predicate holds, for at most
    STARTUP seconds."""
    for _ in range(int(STARTUP * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
async def test_a_bot_killed_mid_send_loses_nothing_and_repeats_no_announcement(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    sealer = sealer_from_settings(settings)
    repository = Repository(engine, sealer, notify=notify)
    users = {user_id: emulator.user(user_id) for user_id in NOTIFIED + ANNOUNCED}
    emulator.open_chats(NOTIFIED + ANNOUNCED)
    for user_id in users:
        repository.remember_chat(user_id, user_id)
    total = len(NOTIFIED) * PER_RECIPIENT
    recipient_of = {number: NOTIFIED[number % len(NOTIFIED)] for number in range(total)}
    now = datetime.now(UTC)
    with engine.begin() as connection:
        announcement = connection.execute(
            sa.insert(Announcement)
            .values(
                author_user_id=1,
                channel="cli",
                scope="all",
                audience="everyone",
                body=ANNOUNCEMENT,
                status="sending",
                created_at=now,
            )
            .returning(col(Announcement.id))
        ).scalar_one()
        for user_id in ANNOUNCED:
            connection.execute(
                sa.insert(OutboxMessage).values(
                    dedupe_key=f"announce:{user_id}",
                    recipient_user_id=user_id,
                    kind="announcement",
                    priority=2,
                    announcement_id=announcement,
                    created_at=now,
                )
            )
        for number, recipient in recipient_of.items():
            document = notifications.worker_declined(f"PR-{number:06d}")
            connection.execute(
                sa.insert(OutboxMessage).values(
                    dedupe_key=f"kill:{number}",
                    recipient_user_id=recipient,
                    message=sealer.seal(json.dumps(to_json(document))),
                    created_at=now,
                    attempts=0,
                )
            )

    # The emulator as Telegram: it stores the message, then the answer is lost (held until the
    # process is dead).
    original = emulator._handlers["sendMessage"]
    accepted: list[str] = []
    release = asyncio.Event()

    async def send_message(params: dict[str, Any]) -> Any:
        result = await original(params)
        if ANNOUNCEMENT in str(params.get("text", "")):
            accepted.append(str(params["chat_id"]))
            if len(accepted) == HOLD_AT:
                await release.wait()
        return result

    emulator._handlers["sendMessage"] = send_message

    env = environment_for_subprocess(settings)
    log = tmp_path / "bot.log"
    process = start_bot_process(env, log)
    try:
        await emulator.wait_until(
            lambda: len(accepted) >= HOLD_AT, timeout=STARTUP, what="the 10th announcement"
        )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        release.set()

        # What the dead process left: marked rows with their message ids, a few claimed and
        # unmarked (at most two batches: 2 x 12 at 25/s), the rest untouched.
        rows = outbox_rows(engine)
        marked = [row for row in rows if row["sent_at"] is not None]
        assert all(row["telegram_message_id"] is not None for row in marked)
        in_doubt = {row["dedupe_key"] for row in rows if row["claimed_until"] is not None}
        assert 1 <= len(in_doubt) <= 24
        assert not any(row["sent_at"] for row in rows if row["dedupe_key"] in in_doubt)

        # The leases run out (moved back rather than waited for), and the bot comes back.
        with engine.begin() as connection:
            connection.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.claimed_until).is_not(None))
                .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        process = start_bot_process(env, log)
        await eventually(
            lambda: all(row["outcome"] is not None for row in outbox_rows(engine)),
            "every row settled",
        )
    finally:
        release.set()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    rows = outbox_rows(engine)
    by_key = {row["dedupe_key"]: row for row in rows}
    # Announcements: each person got it at most once; those in doubt are 'unknown', all others
    # 'sent' and received exactly once. Nothing lost.
    for user_id in ANNOUNCED:
        got = sum(ANNOUNCEMENT in (m.text or "") for m in users[user_id].messages)
        row = by_key[f"announce:{user_id}"]
        if row["dedupe_key"] in in_doubt:
            assert row["outcome"] == "unknown" and got <= 1
        else:
            assert row["outcome"] == "sent" and got == 1, log.read_text()[-3000:]
    # Notifications: every one arrived; only those in doubt may have arrived twice.
    received: Counter[int] = Counter()
    for user_id in NOTIFIED:
        for message in users[user_id].messages:
            found = NOTIFICATION.search(message.text or "")
            if found:
                received[int(found.group(1))] += 1
    for number in range(total):
        assert by_key[f"kill:{number}"]["outcome"] == "sent"
        limit = 2 if f"kill:{number}" in in_doubt else 1
        assert 1 <= received[number] <= limit
    engine.dispose()
