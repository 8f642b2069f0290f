"""One contract suite for every SessionStore, UserLocks and the TurnJournal over each session store.

Each backend is run as two "processes": two engines or two Redis clients over the same data, so
the suite checks what is shared between processes, not just what one object remembers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine

from bot.security.crypto import Sealer
from bot.storage.db import create_db_engine
from bot.storage.ports import SessionStore, UserLocks
from bot.storage.repository import Repository
from bot.storage.state import (
    LocalUserLocks,
    LockTimeout,
    RedisSessionStore,
    RedisUserLocks,
    SqlSessionStore,
    TurnAbandoned,
    TurnAlreadyCommitted,
    TurnJournal,
    build_state,
)
from tests.migrated import migrate
from tests.notify import notify

SEALER = Sealer(bytes(range(32)))


@dataclass
class Process:
    sessions: SessionStore
    journal: TurnJournal
    locks: UserLocks
    repository: Repository


@dataclass
class Backend:
    name: str
    spawn: Callable[[], Process]
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _sql_backend(name: str, url: str) -> Backend:
    migrate(url)
    engines: list[Engine] = []

    def spawn() -> Process:
        engine = create_db_engine(url)
        engines.append(engine)
        sessions = SqlSessionStore(engine, sealer=SEALER)
        return Process(
            sessions,
            TurnJournal(engine, sessions, sealer=SEALER),
            LocalUserLocks(),
            Repository(engine, SEALER, notify=notify),
        )

    async def dispose() -> None:
        for engine in engines:
            engine.dispose()

    return Backend(name, spawn, cleanups=[dispose])


def _redis_backend(url: str, prefix: str, database_url: str) -> Backend:
    """Sessions and locks in Redis; the turn journal in SQL, where a turn's commands commit."""
    migrate(database_url)
    clients: list[aioredis.Redis] = []
    engines: list[Engine] = []

    def spawn() -> Process:
        client = aioredis.Redis.from_url(url)
        clients.append(client)
        engine = create_db_engine(database_url)
        engines.append(engine)
        sessions = RedisSessionStore(client, prefix, sealer=SEALER)
        return Process(
            sessions,
            TurnJournal(engine, sessions, sealer=SEALER),
            RedisUserLocks(client, prefix, timeout_seconds=5, wait_seconds=5),
            Repository(engine, SEALER, notify=notify),
        )

    async def close() -> None:
        if clients:
            keys = [key async for key in clients[0].scan_iter(f"{prefix}*")]
            if keys:
                await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()
        for engine in engines:
            engine.dispose()

    return Backend("redis", spawn, cleanups=[close])


@pytest.fixture(params=["sql-sqlite", "sql-postgresql", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sql-sqlite":
        made = _sql_backend(request.param, f"sqlite:///{tmp_path / 'state.sqlite3'}")
    elif request.param == "sql-postgresql":
        made = _sql_backend(request.param, request.getfixturevalue("postgres_url"))
    else:
        made = _redis_backend(
            request.getfixturevalue("redis_url"),
            request.getfixturevalue("redis_prefix"),
            f"sqlite:///{tmp_path / 'journal.sqlite3'}",
        )
    yield made
    for cleanup in made.cleanups:
        await cleanup()


# ---- sessions ----------------------------------------------------------------------------------

DOCUMENT: dict[str, Any] = {
    "flow": "sponsorship",
    "version": 3,
    "step": "worker_nik",
    "answers": {
        "worker": {"full_name": "Siti Nurhaliza", "village": "Désa Sukamaju", "aksara": "ᮞᮥᮔ᮪ᮓ"},
        "emoji": "🙏 terima kasih",
        "amounts": [16800, 0, -1],
        "ok": True,
        "nothing": None,
        "ratio": 0.5,
    },
    "attempts": {"worker_nik": 2},
}


async def test_session_round_trip(backend: Backend) -> None:
    one, two = backend.spawn(), backend.spawn()
    assert await one.sessions.load(42) is None
    await one.sessions.save(42, DOCUMENT)
    assert await two.sessions.load(42) == DOCUMENT
    assert await two.sessions.load(43) is None  # users do not see each other's sessions


async def test_session_overwrite_and_delete(backend: Backend) -> None:
    process = backend.spawn()
    await process.sessions.save(7, DOCUMENT)
    await process.sessions.save(8, {"step": "other user"})
    replaced = {"step": "done", "answers": {}}
    await process.sessions.save(7, replaced)
    assert await process.sessions.load(7) == replaced
    await process.sessions.delete(7)
    assert await process.sessions.load(7) is None
    await process.sessions.delete(7)  # deleting twice is fine
    assert await process.sessions.load(8) == {"step": "other user"}


async def test_session_of_large_user_id(backend: Backend) -> None:
    process = backend.spawn()
    big = 2**52 + 7  # Telegram ids exceed 32 bits
    await process.sessions.save(big, {"n": big})
    assert await process.sessions.load(big) == {"n": big}


# ---- the turn journal ---------------------------------------------------------------------------

ANSWER: dict[str, Any] = {"effects": [{"$": "ShowStatus"}], "nik": "3205014501900001"}


async def _commit(
    process: Process,
    update_id: int,
    user_id: int,
    document: dict[str, Any],
    *,
    deadline: float | None = None,
    conclude: Callable[[Any, list[Any]], tuple[dict[str, Any], dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A turn without domain commands through the real unit of work (Repository.apply), then
    its session published (written to Redis, with Redis sessions), as the service does."""

    def run(then: Callable[[Any, list[Any]], None]) -> Any:
        return process.repository.apply(user_id, [], then=then)

    committed = await process.journal.commit(
        update_id,
        user_id,
        run,
        conclude or (lambda _db, _outcomes: (document, ANSWER)),
        deadline=deadline,
    )
    assert await process.journal.publish(user_id, committed[0]) is True
    return committed


async def test_a_committed_turn_is_seen_everywhere_with_its_session_and_answer(
    backend: Backend,
) -> None:
    one, two = backend.spawn(), backend.spawn()
    assert await two.journal.seen(1001) is False
    await _commit(one, 1001, 42, DOCUMENT)
    assert await two.journal.seen(1001) is True  # another process sees the update processed
    assert await two.journal.seen(1002) is False
    assert await two.sessions.load(42) == DOCUMENT
    owed = await two.journal.pending(42)
    assert [(p.update_id, p.answer) for p in owed] == [(1001, ANSWER)]
    assert await two.journal.pending(43) == []  # users do not see each other's answers
    await two.journal.delivered(1001)
    assert await one.journal.pending(42) == [] and await one.journal.seen(1001) is True


async def test_an_update_commits_once_and_a_second_commit_changes_nothing(
    backend: Backend,
) -> None:
    one, two = backend.spawn(), backend.spawn()
    await _commit(one, 2001, 42, DOCUMENT)
    with pytest.raises(TurnAlreadyCommitted):
        await _commit(two, 2001, 42, {"step": "applied twice"})
    assert await one.sessions.load(42) == DOCUMENT  # rolled back with the refused mark


async def test_concurrent_commits_of_one_update_commit_once(backend: Backend) -> None:
    processes = [backend.spawn(), backend.spawn()]
    results = await asyncio.gather(
        *(_commit(processes[i % 2], 555_000_111, i, {"n": i}) for i in range(6)),
        return_exceptions=True,
    )
    committed = [r for r in results if not isinstance(r, BaseException)]
    assert len(committed) == 1
    assert all(isinstance(r, TurnAlreadyCommitted) for r in results if r not in committed)


async def test_a_turn_failing_before_its_commit_leaves_no_mark_and_no_session(
    backend: Backend,
) -> None:
    process = backend.spawn()

    def broken(_db: Any, _outcomes: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        await _commit(process, 3001, 42, DOCUMENT, conclude=broken)
    with pytest.raises(TurnAbandoned):  # its time ran out before the commit
        await _commit(process, 3002, 42, DOCUMENT, deadline=time.monotonic() - 1)
    assert await process.journal.seen(3001) is False and await process.journal.seen(3002) is False
    assert await process.sessions.load(42) is None and await process.journal.pending(42) == []
    await _commit(process, 3001, 42, DOCUMENT)  # the redelivery is handled like the first time
    assert await process.sessions.load(42) == DOCUMENT


# ---- per-user locks ----------------------------------------------------------------------------


async def _hold_and_record(
    locks: UserLocks, user_id: int, name: str, order: list[str], entered: asyncio.Event
) -> None:
    async with locks.hold(user_id):
        order.append(f"enter {name}")
        entered.set()
        await asyncio.sleep(0.15)
        order.append(f"exit {name}")


async def test_lock_serializes_one_user(backend: Backend) -> None:
    process = backend.spawn()
    await _assert_serialized(process.locks, process.locks)


async def test_lock_serializes_one_user_across_processes(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Redis only: the SQL configuration is single-process and its locks are in-process."""
    backend = _redis_backend(redis_url, redis_prefix, f"sqlite:///{tmp_path / 'j.sqlite3'}")
    try:
        await _assert_serialized(backend.spawn().locks, backend.spawn().locks)
    finally:
        for cleanup in backend.cleanups:
            await cleanup()


async def _assert_serialized(first: UserLocks, second: UserLocks) -> None:
    order: list[str] = []
    a_in, b_in = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(_hold_and_record(first, 9, "a", order, a_in))
    await asyncio.wait_for(a_in.wait(), 5)
    task_b = asyncio.create_task(_hold_and_record(second, 9, "b", order, b_in))
    await asyncio.wait_for(asyncio.gather(task_a, task_b), 10)
    assert order == ["enter a", "exit a", "enter b", "exit b"]


async def test_lock_does_not_block_other_users(backend: Backend) -> None:
    process = backend.spawn()
    other_done = asyncio.Event()

    async def other_user() -> None:
        async with process.locks.hold(2):
            other_done.set()

    async with process.locks.hold(1):
        # If user 2 waited for user 1's lock this would time out: we hold it until user 2 is done.
        await asyncio.wait_for(asyncio.gather(other_user(), other_done.wait()), 5)


async def test_lock_is_released_on_error(backend: Backend) -> None:
    process = backend.spawn()
    with pytest.raises(RuntimeError):
        async with process.locks.hold(3):
            raise RuntimeError("handler failed")
    async with asyncio.timeout(5), process.locks.hold(3):
        pass


# ---- implementation specifics ------------------------------------------------------------------


async def test_local_locks_forget_free_users() -> None:
    locks = LocalUserLocks()
    async with locks.hold(1):
        waiter = asyncio.create_task(_enter(locks, 1))
        await asyncio.sleep(0.01)
        assert len(locks) == 1
    await waiter
    assert len(locks) == 0


async def _enter(locks: UserLocks, user_id: int) -> None:
    async with locks.hold(user_id):
        pass


async def test_redis_lock_wait_gives_up(redis_url: str, redis_prefix: str) -> None:
    first = aioredis.Redis.from_url(redis_url)
    second = aioredis.Redis.from_url(redis_url)
    try:
        patient = RedisUserLocks(first, redis_prefix, timeout_seconds=5, wait_seconds=5)
        impatient = RedisUserLocks(second, redis_prefix, timeout_seconds=5, wait_seconds=0.2)
        async with patient.hold(11):
            with pytest.raises(LockTimeout):
                async with impatient.hold(11):
                    pytest.fail("entered a lock another process holds")
        async with impatient.hold(11):
            pass
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_lock_is_extended_while_held(redis_url: str, redis_prefix: str) -> None:
    """A holder slower than the lock timeout keeps the lock (a keeper task extends it)."""
    first = aioredis.Redis.from_url(redis_url)
    second = aioredis.Redis.from_url(redis_url)
    try:
        slow = RedisUserLocks(first, redis_prefix, timeout_seconds=0.3, wait_seconds=5)
        other = RedisUserLocks(second, redis_prefix, timeout_seconds=0.3, wait_seconds=0.1)
        async with slow.hold(12):
            await asyncio.sleep(0.6)  # twice the timeout
            with pytest.raises(LockTimeout):
                async with other.hold(12):
                    pass
    finally:
        await first.aclose()
        await second.aclose()


async def test_journal_prunes_old_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prune.sqlite3'}"
    migrate(url)
    engine = create_db_engine(url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    sessions = SqlSessionStore(engine)
    process = Process(
        sessions,
        TurnJournal(engine, sessions, clock=lambda: now),
        LocalUserLocks(),
        Repository(engine, SEALER, notify=notify),
    )
    try:
        await _commit(process, 1, 7, {"n": 1})
        now += timedelta(days=1)
        await _commit(process, 2, 7, {"n": 2})
        now += timedelta(days=1, hours=12)
        assert await process.journal.prune() == 1  # only the turn older than two days
        assert await process.journal.seen(1) is False
        assert await process.journal.seen(2) is True
    finally:
        engine.dispose()


class _RedisFails(RedisSessionStore):
    async def save(self, user_id: int, document: dict[str, Any]) -> None:
        raise ConnectionError("Redis is down")


async def test_redis_session_is_rolled_forward_from_the_journal(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The turn committed in SQL but its session did not reach Redis (the process died, or Redis
    failed): the next catch_up writes it, and delivering the answer alone does not drop the copy
    that is still needed."""
    url = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    backend = _redis_backend(redis_url, redis_prefix, url)
    try:
        survivor = backend.spawn()
        await survivor.sessions.save(42, {"step": "summary"})
        assert isinstance(survivor.sessions, RedisSessionStore)
        failing = _RedisFails(survivor.sessions.client, redis_prefix, sealer=SEALER)
        engine = create_db_engine(url)
        backend.cleanups.append(lambda: asyncio.to_thread(engine.dispose))
        journal = TurnJournal(engine, failing, sealer=SEALER)
        repository = survivor.repository
        document, _ = await journal.commit(
            4001,
            42,
            lambda then: repository.apply(42, [], then=then),
            lambda _db, _o: ({"step": "saved"}, ANSWER),
        )
        assert await journal.publish(42, document) is False  # Redis failed after the commit
        assert await survivor.sessions.load(42) == {"step": "summary"}  # stale, for now
        await journal.delivered(4001, session_written=False)  # the answer did go out

        owed, seen = await survivor.journal.catch_up(42, 4002)  # the next turn, under the lock
        assert await survivor.sessions.load(42) == {"step": "saved"} and owed == [] and not seen
        await survivor.sessions.save(42, {"step": "later"})  # that next turn
        await survivor.journal.catch_up(42, 4003)
        assert await survivor.sessions.load(42) == {"step": "later"}  # rolled forward only once

        await _commit(survivor, 4010, 42, {"step": "after a crash"})
        await survivor.sessions.save(42, {"step": "as if the process died before publishing"})
        owed, _ = await survivor.journal.catch_up(42, 4010)  # the redelivery
        assert await survivor.sessions.load(42) == {"step": "after a crash"}
        assert [p.update_id for p in owed] == [4010]
    finally:
        for cleanup in backend.cleanups:
            await cleanup()


async def test_journal_seals_answers_and_sessions_and_drops_them_once_done(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    backend = _redis_backend(redis_url, redis_prefix, url)
    engine = create_db_engine(url)
    try:
        process = backend.spawn()
        await _commit(process, 5001, 42, {"nik": "3205014501900001"})
        with engine.connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT answer, session FROM processed_updates WHERE update_id = 5001"
            ).one()
        assert row[0] and "3205014501900001" not in row[0]
        assert row[1] and "3205014501900001" not in row[1]  # the copy of the session, sealed
        await process.journal.delivered(5001)
        with engine.connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT answer, session FROM processed_updates WHERE update_id = 5001"
            ).one()
        assert tuple(row) == (None, None)
    finally:
        engine.dispose()
        for cleanup in backend.cleanups:
            await cleanup()


async def test_sealed_sessions_hide_personal_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sealed.sqlite3'}"
    migrate(url)
    engine = create_db_engine(url)
    try:
        plain, sealed = SqlSessionStore(engine), SqlSessionStore(engine, sealer=SEALER)
        await plain.save(1, {"nik": "3205014501900001"})
        await sealed.save(2, {"nik": "3205014501900001"})
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT user_id, document FROM conversation_sessions")
            stored = {user_id: document for user_id, document in rows}
        assert "3205014501900001" in stored[1]
        assert "3205014501900001" not in stored[2]
        assert await sealed.load(2) == {"nik": "3205014501900001"}
        assert await sealed.load(1) == {"nik": "3205014501900001"}  # plain JSON still readable
        with pytest.raises(ValueError, match="no Sealer"):
            await plain.load(2)
    finally:
        engine.dispose()


async def test_build_state_chooses_backend(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'build.sqlite3'}")
    try:
        sessions, journal, locks = build_state(engine, None)
        assert isinstance(sessions, SqlSessionStore)
        assert isinstance(journal, TurnJournal) and journal.sessions is sessions
        assert isinstance(locks, LocalUserLocks)
        state = build_state(engine, redis_url, redis_prefix, sealer=SEALER)
        assert isinstance(state.sessions, RedisSessionStore)
        assert state.journal.sessions is state.sessions
        assert isinstance(state.locks, RedisUserLocks)
        await state.sessions.save(5, {"nik": "3205014501900001"})
        raw = await state.sessions.client.get(f"{redis_prefix}session:5")
        assert b"3205014501900001" not in raw
        assert await state.sessions.load(5) == {"nik": "3205014501900001"}
        await state.sessions.delete(5)
        await state.aclose()
    finally:
        engine.dispose()
