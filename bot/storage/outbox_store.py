"""Writing outbox rows: a notification is enqueued with the change it tells about, in the same
transaction. The delivery engine (bot.delivery) claims and marks them through
bot.storage.delivery_store, and sends each in its recipient's own language."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from bot.security.crypto import Sealer
from bot.storage.db import dialect_insert
from bot.storage.models import OutboxMessage
from flows.events import Notice
from flows.text import to_json


def enqueue(session: Session, sealer: Sealer, notice: Notice, now: datetime) -> None:
    """Add a notification unless one with this key exists (sent or not)."""
    document = json.dumps(to_json(notice.message), ensure_ascii=False, separators=(",", ":"))
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = (
        insert(OutboxMessage)
        .values(
            dedupe_key=notice.dedupe_key,
            recipient_user_id=notice.recipient_user_id,
            sponsorship_id=notice.sponsorship_id,
            message=sealer.seal(document),
            created_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    session.execute(statement)
