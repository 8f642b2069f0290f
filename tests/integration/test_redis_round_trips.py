"""What an update costs Redis, counted (never timed) against the real Redis: two round trips on
the common path (the lock taken with the session and the delivered marks read, in one script;
the session, the marks and the reply's hit in the rate window written with the lock released,
in another), with the guarantees of separate calls: only the lock's owner extends or releases
it, every key keeps its expiry, and the reply is counted in the window the delivery engines of
every process read (the `limits` library's)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from limits import RateLimitItemPerHour
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio.connection import AbstractConnection

from bot.app import Built, build_service
from bot.delivery.budget import NAMESPACE, RateBudget, limits_storage
from bot.settings import Settings
from bot.storage.state import SESSION_TTL_SECONDS, RedisSessionStore, RedisUserLocks
from tests.e2e.harness import NOW
from tests.integration.turnkit import Chat, settings
from tests.migrated import migrate

USER = 7801
WARM_UP = 7800


@pytest.fixture
def configured(tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str) -> Settings:
    return settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)


@pytest.fixture
async def built(configured: Settings) -> AsyncIterator[Built]:
    migrate(configured.database_url)
    made = build_service(configured, clock=lambda: NOW)
    yield made
    await made.aclose()


class RoundTrips:
    """Requests sent to Redis by any redis-py asyncio connection of this process (the state's
    and the rate budget's alike): one per command, one per pipeline."""

    def __init__(self) -> None:
        self.sent = 0

    @contextmanager
    def counting(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
        original = AbstractConnection.send_packed_command

        async def send(connection: AbstractConnection, *args: Any, **kwargs: Any) -> None:
            self.sent += 1
            await original(connection, *args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(AbstractConnection, "send_packed_command", send)
            yield self


async def test_a_whole_conversation_costs_at_most_two_redis_round_trips_per_update(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-up and sponsorship, 22 updates: each takes two round trips, counted per update."""
    budget = built.service.budget
    assert budget is not None and budget.shared_window() is not None  # the window is in Redis
    warm = Chat(built.service, WARM_UP, first_update=90_000)
    await warm.say("/start")  # connections opened, scripts loaded
    await asyncio.sleep(0)  # a note_reply task of the warm-up's, if any, done

    chat = Chat(built.service, USER)
    per_update: list[int] = []
    handle = chat.handle

    async def counted(incoming: Any) -> Any:
        trips = RoundTrips()
        with trips.counting(monkeypatch):
            calls = await handle(incoming)
            await asyncio.sleep(0)  # a reply noted in a task of its own would be counted too
            for _ in range(3):
                await asyncio.sleep(0)
        per_update.append(trips.sent)
        return calls

    chat.handle = counted  # type: ignore[method-assign]
    await chat.to_summary()
    assert "Tersimpan" in await chat.press("💾 Simpan")
    assert len(per_update) == 22, per_update
    assert max(per_update) <= 2, per_update


async def test_a_lock_is_extended_and_released_only_by_its_owner(
    redis_url: str, redis_prefix: str
) -> None:
    """The lock expired while its holder was slow and another process took it: the first
    holder neither extends it (keep-alive), nor deletes it when it closes its turn or leaves."""
    client = aioredis.Redis.from_url(redis_url)
    locks = RedisUserLocks(client, redis_prefix, timeout_seconds=0.3, wait_seconds=1)
    sessions = RedisSessionStore(client, redis_prefix)
    name = locks.name(21)
    try:
        async with locks.holding(21) as held:
            assert 0 < await client.pttl(name) <= 300  # the lock's expiry
            await client.set(name, "another process", px=60_000)
            await asyncio.sleep(0.25)  # the keeper's beat (timeout / 3) passes twice
            assert await client.pttl(name) > 1_000  # not extended: not ours
        assert await client.get(name) == b"another process"  # not released either

        async with locks.holding(22) as held:
            await client.set(locks.name(22), "another process", px=60_000)
            keys = [sessions.key(22), sessions.delivered_key(22)]
            await locks.close_turn(held, 22, keys, [b"", 60, "", 60])
        assert await client.get(locks.name(22)) == b"another process"

        async with locks.holding(23) as held:  # ours: released by close_turn
            await locks.close_turn(
                held, 23, [sessions.key(23), sessions.delivered_key(23)], [b"", 60, "", 60]
            )
            assert await client.exists(locks.name(23)) == 0
    finally:
        await client.delete(name, locks.name(22))
        await client.aclose()


async def test_a_turn_writes_its_session_and_marks_with_their_expiry(built: Built) -> None:
    sessions = built.state.sessions
    assert isinstance(sessions, RedisSessionStore)
    client = sessions.client
    chat = Chat(built.service, USER)
    await chat.say("/start")
    session_ttl = await client.ttl(sessions.key(USER))
    assert SESSION_TTL_SECONDS - 600 < session_ttl <= SESSION_TTL_SECONDS
    marks_ttl = await client.ttl(sessions.delivered_key(USER))
    retention = built.state.journal.marks_ttl
    assert retention == 2 * 24 * 3600
    assert retention - 600 < marks_ttl <= retention
    assert await client.get(sessions.delivered_key(USER)) == str(chat.next_update - 1).encode()
    locks = built.state.locks
    assert isinstance(locks, RedisUserLocks)
    assert await client.exists(locks.name(USER)) == 0  # released


async def test_replies_are_counted_in_the_window_every_process_reads(
    built: Built, redis_url: str
) -> None:
    """Each committed turn's reply takes a slot of the delivery engine's window, in Redis: a
    budget of another process (its own client) sees them; a full window takes no more."""
    budget = built.service.budget
    assert budget is not None
    # A window of this test's own (tests share the Redis), an hour long (a second's could
    # empty while the test looks at it).
    budget.key = f"test-{uuid.uuid4().hex}"
    budget.window = RateLimitItemPerHour(3, namespace=NAMESPACE)
    elsewhere = RateBudget(budget.key, 25.0, limits_storage(redis_url))
    limiter = MovingWindowRateLimiter(elsewhere.storage)
    await elsewhere.limiter.clear(budget.window, budget.key)
    try:
        chat = Chat(built.service, USER)
        await chat.say("/start")
        stats = await limiter.get_window_stats(budget.window, budget.key)
        assert stats.remaining == 2
        await chat.press("🇮🇩 Bahasa Indonesia")
        await chat.say("/bantuan")
        await chat.say("/bantuan")  # the window is full: this reply is not counted
        stats = await limiter.get_window_stats(budget.window, budget.key)
        assert stats.remaining == 0
        window = budget.shared_window()
        assert window is not None
        raw = aioredis.Redis.from_url(redis_url)
        try:
            assert await raw.llen(window.key) == 3
            assert 0 < await raw.ttl(window.key) <= 3600
        finally:
            await raw.aclose()
    finally:
        await elsewhere.limiter.clear(budget.window, budget.key)


def test_lock_tokens_are_unique_per_holder_process_and_fork(redis_url: str) -> None:
    """Tokens are a random prefix and a counter (no uuid per lock): two lock objects (two
    processes) never share one, nor a process forked after the object was made."""
    client = aioredis.Redis.from_url(redis_url)  # never connects here
    one, two = RedisUserLocks(client), RedisUserLocks(client)
    tokens = [one._new_token(), one._new_token(), two._new_token()]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only writes its token
        os.write(write, one._new_token().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        tokens.append(pipe.read())
    tokens.append(one._new_token())  # the parent's next one: the same counter as the child's
    assert len(set(tokens)) == len(tokens), tokens
