"""The append-only audit log of staff actions (the table audit_log, models.AuditEntry).

Every view, export, activation and message by a superadmin, operator or treasurer is recorded in
the same transaction as the action itself, so an action that happened is never missing from the
log. An entry holds no personal data: a month, agency codes, a reference, counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.models import AuditEntry
from flows.access import Scope

CLI = "cli"
TELEGRAM = "telegram"


@dataclass(frozen=True)
class Actor:
    """Who acts: a Telegram user within their scope, or the command line (whoever can run it
    holds the database and the key, so the CLI acts as a superadmin)."""

    scope: Scope
    user_id: int | None = None
    channel: str = TELEGRAM

    @classmethod
    def cli(cls) -> Actor:
        return cls(Scope.superadmin(), None, CLI)


def record(
    session: Session,
    actor: Actor,
    action: str,
    now: datetime,
    *,
    detail: str | None = None,
    row_count: int | None = None,
) -> None:
    """Add an entry to the log in the caller's transaction (it commits with the action)."""
    session.add(
        AuditEntry(
            at=now,
            actor_user_id=actor.user_id,
            channel=actor.channel,
            action=action,
            scope=actor.scope.label(),
            detail=detail,
            row_count=row_count,
        )
    )


def entries(
    session: Session,
    *,
    since: datetime | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> Sequence[AuditEntry]:
    """Entries oldest first, optionally from a moment on or of one action."""
    query = select(AuditEntry).order_by(col(AuditEntry.id))
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if action is not None:
        query = query.where(col(AuditEntry.action) == action)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()
