"""Contracts for conversation state and update handling; each has an SQL and a Redis version.

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


class UpdateDeduplicator(Protocol):
    """Telegram may deliver the same update twice (webhook retries): process each update_id once."""

    async def claim(self, update_id: int) -> bool:
        """True the first time an update_id is claimed, False afterwards (across processes)."""
        ...

    async def release(self, update_id: int) -> None:
        """Forget a claim, so a redelivery after a failed handling is processed again."""
        ...


class UserLocks(Protocol):
    """Serializes load-handle-save for one user, across processes when they share Redis."""

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]: ...
