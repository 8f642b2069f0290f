"""Contracts for conversation state and update handling; each has an SQL and a Redis version.

Whether an update was processed is not a contract of its own: it is recorded by the turn journal
(bot.storage.state.TurnJournal) in the turn's own transaction.

One contract suite (tests/integration/test_state_contracts.py) runs against every implementation.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class SessionStore(Protocol):
    """Conversation sessions as plain JSON documents, one per Telegram user."""

    async def load(self, user_id: int) -> dict[str, Any] | None: ...

    async def save(self, user_id: int, document: dict[str, Any]) -> None: ...

    async def delete(self, user_id: int) -> None: ...


class UserLocks(Protocol):
    """Serializes load-handle-save for one user, across processes when they share Redis."""

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]: ...
