"""The outbox across a crash: a real `peduli run` killed with SIGKILL in the middle of sending a
batch of notifications, then started again.

Telegram has no idempotency key, so a message Telegram accepted whose answer never reached the
bot (killed between the send and the mark) is sent again. The bound this test pins: each recipient
gets each notification exactly once, except the ONE notification in flight at the kill, which it
gets at most twice; every notification is delivered.
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
from bot.storage.models import OutboxMessage
from bot.storage.repository import Repository
from emulator.server import BotApiEmulator
from flows.text import to_json
from tests.e2e.harness import environment_for_subprocess, settings_for, sqlite_url
from tests.e2e.test_processes import STARTUP, start_bot_process
from tests.notify import notify

RECIPIENTS = (7201, 7202, 7203)
PER_RECIPIENT = 4
HOLD_AT = 5  # Telegram accepts the 5th notification, and its answer never reaches the bot
NOTIFICATION = re.compile(r"PR-(\d{6})")


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(
                col(OutboxMessage.dedupe_key),
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
async def test_a_bot_killed_mid_batch_resends_at_most_the_one_notification_in_flight(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    sealer = sealer_from_settings(settings)
    repository = Repository(engine, sealer, notify=notify)
    users = {user_id: emulator.user(user_id) for user_id in RECIPIENTS}
    for user in users.values():
        await user.send_command("start")  # the chat is open; the bot answers once it runs
        repository.remember_chat(user.id, user.id)
    # 12 notifications, recipients interleaved, as a coverage import leaves them.
    total = len(RECIPIENTS) * PER_RECIPIENT
    recipient_of = {number: RECIPIENTS[number % len(RECIPIENTS)] for number in range(total)}
    with engine.begin() as connection:
        for number, recipient in recipient_of.items():
            document = notifications.worker_declined(f"PR-{number:06d}")
            connection.execute(
                sa.insert(OutboxMessage).values(
                    dedupe_key=f"kill:{number}",
                    recipient_user_id=recipient,
                    message=sealer.seal(json.dumps(to_json(document))),
                    created_at=datetime.now(UTC),
                    attempts=0,
                )
            )

    # The emulator as Telegram: it stores the message, then the answer is lost (held until the
    # process is dead).
    original = emulator._handlers["sendMessage"]
    accepted: list[int] = []
    release = asyncio.Event()

    async def send_message(params: dict[str, Any]) -> Any:
        result = await original(params)
        found = NOTIFICATION.search(str(params.get("text", "")))
        if found:
            accepted.append(int(found.group(1)))
            if len(accepted) == HOLD_AT:
                await release.wait()
        return result

    emulator._handlers["sendMessage"] = send_message

    env = environment_for_subprocess(settings)
    log = tmp_path / "bot.log"
    process = start_bot_process(env, log)
    try:
        await emulator.wait_until(
            lambda: len(accepted) >= HOLD_AT, timeout=STARTUP, what="the 5th notification"
        )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        release.set()
        in_flight = accepted[HOLD_AT - 1]

        # What the dead process left: the 4 sent before are marked, with their message ids; the
        # one in flight is claimed and unmarked; none after it was claimed.
        rows = outbox_rows(engine)
        marked = [row for row in rows if row["sent_at"] is not None]
        assert sorted(int(r["dedupe_key"].split(":")[1]) for r in marked) == sorted(
            accepted[: HOLD_AT - 1]
        )
        assert all(row["telegram_message_id"] is not None for row in marked)
        [claimed] = [row for row in rows if row["claimed_until"] is not None]
        assert claimed["dedupe_key"] == f"kill:{in_flight}" and claimed["sent_at"] is None
        assert claimed["claimed_until"] - datetime.now(UTC) <= timedelta(seconds=30)

        # Its 30 s lease runs out (moved back rather than waited for), and the bot comes back.
        with engine.begin() as connection:
            connection.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.claimed_until).is_not(None))
                .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        process = start_bot_process(env, log)
        await eventually(
            lambda: all(row["sent_at"] is not None for row in outbox_rows(engine)),
            "every notification marked sent",
        )
    finally:
        release.set()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)

    # What each recipient's chat shows: every notification; each once but the one in flight.
    received: Counter[tuple[int, int]] = Counter()
    last_message_id: dict[int, int] = {}
    for user_id, user in users.items():
        for message in user.messages:
            found = NOTIFICATION.search(message.text or "")
            if found:
                number = int(found.group(1))
                received[(user_id, number)] += 1
                last_message_id[number] = message.message_id
    expected = {(recipient_of[n], n): 1 for n in range(total)}
    expected[(recipient_of[in_flight], in_flight)] = 2
    assert dict(received) == expected, log.read_text()[-3000:]
    # Each row records the message id of the message that counts (the last one sent).
    for row in outbox_rows(engine):
        number = int(row["dedupe_key"].split(":")[1])
        assert row["telegram_message_id"] == last_message_id[number]
    engine.dispose()
