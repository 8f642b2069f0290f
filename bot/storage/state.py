"""Conversation state, update de-duplication and per-user locks (contracts in ports.py).

Two families:
- SQL (the single-process default): sessions and claimed update ids live in the same database as
  everything else, so a restart loses nothing; locks are in-process asyncio locks, which is all a
  single process needs.
- Redis (REDIS_URL set): shared by several bot processes; locks work across them.

The SQL stores run their short synchronous statements in asyncio.to_thread so the event loop never
waits on disk or network.

Session documents hold the answers of a conversation in progress, which can include a worker's
NIK or phone number. Pass a Sealer and documents are sealed at rest (AES-GCM), in SQL and Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import LockError, LockNotOwnedError
from sqlalchemy import Engine, delete, select

from bot.security.crypto import SealedDataError, Sealer
from bot.storage.db import dialect_insert, immediate
from bot.storage.models import ConversationSession, ProcessedUpdate, utc_now
from bot.storage.ports import SessionStore, UpdateDeduplicator, UserLocks

logger = logging.getLogger(__name__)

SESSION_TTL_SECONDS = 90 * 24 * 3600
DEDUP_TTL_SECONDS = 2 * 24 * 3600


class LockTimeout(TimeoutError):
    """A user's lock stayed taken longer than the wait allowed (another process is stuck)."""


def _encode(document: dict[str, Any], sealer: Sealer | None) -> str:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return sealer.seal(text) if sealer is not None else text


def _decode_or_drop(stored: str, sealer: Sealer | None, user_id: int) -> dict[str, Any] | None:
    """The document; None when no configured key opens it (sealed under a key since replaced):
    the user then starts afresh instead of meeting an error at every message, /batal included.
    The bot refuses to start with a wrong key (bot.storage.keys), so this is a last resort."""
    try:
        return _decode(stored, sealer)
    except SealedDataError:
        logger.warning("the conversation of user %s cannot be opened with the data key", user_id)
        return None


def _decode(stored: str, sealer: Sealer | None) -> dict[str, Any]:
    # Plain JSON always starts with "{"; a sealed token starts with its key id. Reading both lets
    # a deployment turn sealing on without losing conversations in progress.
    if not stored.startswith("{"):
        if sealer is None:
            raise ValueError("session document is sealed but this store has no Sealer")
        stored = sealer.open(stored)
    document = json.loads(stored)
    if not isinstance(document, dict):
        raise ValueError("session document is not a JSON object")
    return document


# ---- SQL ---------------------------------------------------------------------------------------


class SqlSessionStore:
    def __init__(self, engine: Engine, *, sealer: Sealer | None = None) -> None:
        self._engine = engine
        self._writer = immediate(engine)
        self._sealer = sealer
        self._table = ConversationSession.__table__  # type: ignore[attr-defined]

    async def load(self, user_id: int) -> dict[str, Any] | None:
        stored = await asyncio.to_thread(self._load, user_id)
        return None if stored is None else _decode_or_drop(stored, self._sealer, user_id)

    async def save(self, user_id: int, document: dict[str, Any]) -> None:
        await asyncio.to_thread(self._save, user_id, _encode(document, self._sealer))

    async def delete(self, user_id: int) -> None:
        await asyncio.to_thread(self._delete, user_id)

    def _load(self, user_id: int) -> str | None:
        with self._engine.connect() as connection:
            return connection.scalar(
                select(self._table.c.document).where(self._table.c.user_id == user_id)
            )

    def _save(self, user_id: int, stored: str) -> None:
        now = utc_now()
        statement = dialect_insert(self._engine.dialect.name)(self._table).values(
            user_id=user_id, document=stored, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=["user_id"], set_={"document": stored, "updated_at": now}
        )
        with self._writer.begin() as connection:
            connection.execute(statement)

    def _delete(self, user_id: int) -> None:
        with self._writer.begin() as connection:
            connection.execute(delete(self._table).where(self._table.c.user_id == user_id))


class SqlUpdateDeduplicator:
    """Claims are rows of processed_updates; rows older than `retention` are pruned now and then
    (Telegram does not redeliver updates that old, so their ids need not be remembered)."""

    def __init__(
        self,
        engine: Engine,
        *,
        retention: timedelta = timedelta(days=2),
        prune_interval: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._writer = immediate(engine)
        self._retention = retention
        self._prune_interval = prune_interval
        self._clock = clock
        self._next_prune: datetime | None = None
        self._table = ProcessedUpdate.__table__  # type: ignore[attr-defined]

    async def claim(self, update_id: int) -> bool:
        return await asyncio.to_thread(self._claim, update_id)

    async def release(self, update_id: int) -> None:
        await asyncio.to_thread(self._release, update_id)

    async def prune(self) -> int:
        """Forget claims older than the retention period; returns how many were removed."""
        return await asyncio.to_thread(self._prune, self._clock())

    def _claim(self, update_id: int) -> bool:
        now = self._clock()
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + self._prune_interval
            self._prune(now)
        statement = (
            dialect_insert(self._engine.dialect.name)(self._table)
            .values(update_id=update_id, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(self._table.c.update_id)  # rowcount is -1 here with psycopg 3
        )
        with self._writer.begin() as connection:
            return connection.execute(statement).first() is not None

    def _release(self, update_id: int) -> None:
        with self._writer.begin() as connection:
            connection.execute(delete(self._table).where(self._table.c.update_id == update_id))

    def _prune(self, now: datetime) -> int:
        with self._writer.begin() as connection:
            result = connection.execute(
                delete(self._table).where(self._table.c.claimed_at < now - self._retention)
            )
            return result.rowcount


class LocalUserLocks:
    """asyncio locks per user for one process. An entry lives only while someone holds or waits
    for it, so the map does not grow with the number of users ever seen."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def _hold(self, user_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users == 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        return self._hold(user_id)


# ---- Redis -------------------------------------------------------------------------------------


class RedisSessionStore:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "peduli:",
        ttl_seconds: int = SESSION_TTL_SECONDS,
        *,
        sealer: Sealer | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._sealer = sealer

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}session:{user_id}"

    async def load(self, user_id: int) -> dict[str, Any] | None:
        stored = await self._client.get(self._key(user_id))
        if stored is None:
            return None
        text = stored.decode("utf-8") if isinstance(stored, bytes) else str(stored)
        return _decode_or_drop(text, self._sealer, user_id)

    async def save(self, user_id: int, document: dict[str, Any]) -> None:
        await self._client.set(
            self._key(user_id), _encode(document, self._sealer).encode("utf-8"), ex=self._ttl
        )

    async def delete(self, user_id: int) -> None:
        await self._client.delete(self._key(user_id))


class RedisUpdateDeduplicator:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "peduli:",
        ttl_seconds: int = DEDUP_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, update_id: int) -> str:
        return f"{self._prefix}update:{update_id}"

    async def claim(self, update_id: int) -> bool:
        return bool(await self._client.set(self._key(update_id), b"1", nx=True, ex=self._ttl))

    async def release(self, update_id: int) -> None:
        await self._client.delete(self._key(update_id))


class RedisUserLocks:
    """Locks shared by every process using the same Redis.

    redis-py's lock stores a random token and releases with a compare-and-delete script, so a
    process never frees a lock another one took after ours expired. The lock expires after
    timeout_seconds (a crashed holder cannot block a user for ever); while a holder is alive, a
    background task extends it, so a slow handler does not lose its lock halfway.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "peduli:",
        timeout_seconds: float = 60,
        wait_seconds: float = 30,
        *,
        poll_seconds: float = 0.02,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_seconds
        self._wait = wait_seconds
        self._poll = poll_seconds

    @asynccontextmanager
    async def _hold(self, user_id: int) -> AsyncIterator[None]:
        lock = self._client.lock(
            f"{self._prefix}lock:{user_id}",
            timeout=self._timeout,
            sleep=self._poll,
            blocking=True,
            blocking_timeout=self._wait,
        )
        if not await lock.acquire():
            raise LockTimeout(f"user {user_id} stayed locked for {self._wait} s")
        keeper = asyncio.create_task(self._keep_alive(lock))
        try:
            yield
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper
            try:
                await lock.release()
            except LockNotOwnedError:
                logger.warning("lock of user %s expired before release", user_id)

    async def _keep_alive(self, lock: Any) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self._timeout / 3)
            try:
                await lock.reacquire()
            except LockError:
                logger.warning(
                    "could not extend a user lock after %.0f s", time.monotonic() - started
                )
                return

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        return self._hold(user_id)


# ---- wiring ------------------------------------------------------------------------------------


class State(NamedTuple):
    """The three state services; a tuple: `sessions, deduplicator, locks = build_state(...)`."""

    sessions: SessionStore
    deduplicator: UpdateDeduplicator
    locks: UserLocks

    async def aclose(self) -> None:
        """Close the Redis connection pool, if any (the SQL engine belongs to the caller)."""
        if isinstance(self.sessions, RedisSessionStore):
            await self.sessions.client.aclose()


def build_state(
    engine: Engine,
    redis_url: str | None,
    prefix: str = "peduli:",
    *,
    sealer: Sealer | None = None,
) -> State:
    """Redis stores when redis_url is set, else SQL stores on engine and in-process locks."""
    if redis_url:
        client = aioredis.Redis.from_url(redis_url)
        return State(
            RedisSessionStore(client, prefix, sealer=sealer),
            RedisUpdateDeduplicator(client, prefix),
            RedisUserLocks(client, prefix),
        )
    return State(
        SqlSessionStore(engine, sealer=sealer), SqlUpdateDeduplicator(engine), LocalUserLocks()
    )
