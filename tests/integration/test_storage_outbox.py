"""The outbox lease: several bot processes share one database, and each notification is sent by
one of them only (Repository.claim_notifications), on SQLite and PostgreSQL.

Two repositories over two engines stand for two processes: they share no connection pool and no
Python lock, only the database.

Every wait here is bounded (a barrier timeout, a result timeout, loops of at most as many rounds
as there are rows, asyncio.wait_for): a broken lease makes a test fail quickly, never hang.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from bot.outbox import OutboxDispatcher
from sqlalchemy import Engine
from sqlmodel import col

from bot import notifications
from bot.storage.db import create_db_engine
from bot.storage.models import OutboxMessage
from bot.storage.repository import OutboxItem, Repository
from bot.transport import Outgoing
from flows.text import to_json
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER
from tests.notify import notify

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
WAIT = 30.0  # seconds: the most any wait in this module may take before it fails the test


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on the same database: two bot processes."""
    first, second = create_db_engine(database_url), create_db_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def repos(engines: tuple[Engine, Engine], clock: MovableClock) -> tuple[Repository, Repository]:
    return (
        Repository(engines[0], SEALER, notify=notify, clock=clock),
        Repository(engines[1], SEALER, notify=notify, clock=clock),
    )


def enqueue(engine: Engine, count: int, recipient: int = 7) -> list[int]:
    """Outbox rows as the repository writes them (sealed JSON of a Text); their ids in order."""
    with engine.begin() as connection:
        for number in range(count):
            document = to_json(notifications.worker_declined(f"PR-{number:06d}"))
            connection.execute(
                sa.insert(OutboxMessage).values(
                    dedupe_key=f"test:{number}",
                    recipient_user_id=recipient,
                    message=SEALER.seal(json.dumps(document)),
                    created_at=T0,
                    attempts=0,
                )
            )
        return list(
            connection.scalars(sa.select(col(OutboxMessage.id)).order_by(col(OutboxMessage.id)))
        )


def ids(items: list[OutboxItem]) -> list[int]:
    return [item.id for item in items]


def claimed_until(engine: Engine) -> dict[int | None, datetime | None]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(col(OutboxMessage.id), col(OutboxMessage.claimed_until))
        )
        return dict(found.all())


# ---- claims --------------------------------------------------------------------------------------


def test_concurrent_claims_get_disjoint_rows_and_together_all(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine]
) -> None:
    """Four threads, two per process, start together at a barrier and claim small batches until
    nothing is left: no row is claimed twice, and every row is claimed.

    A thread stops after as many batches as there are rows (each batch holds at least one row),
    so a lease that lets a row be claimed again ends in the "claimed twice" assertion, not in an
    endless loop; the barrier and the results have timeouts."""
    everything = enqueue(engines[0], 60)
    workers = 4
    barrier = threading.Barrier(workers, timeout=WAIT)

    def drain(repository: Repository) -> list[list[int]]:
        batches = []
        barrier.wait()
        for _ in range(len(everything)):
            batch = ids(repository.claim_notifications(limit=3, lease=LEASE))
            if not batch:
                break
            assert batch == sorted(batch)
            batches.append(batch)
        return batches

    pool = ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(drain, repos[n % 2]) for n in range(workers)]
        results = [future.result(timeout=WAIT) for future in futures]
    finally:
        barrier.abort()  # a thread still waiting at the barrier leaves at once
        pool.shutdown(wait=False, cancel_futures=True)
    claimed = [row for batches in results for batch in batches for row in batch]
    assert len(claimed) == len(set(claimed)), "a row was claimed twice"
    assert sorted(claimed) == everything
    assert set(claimed_until(engines[0]).values()) == {T0 + LEASE}


def test_a_claim_is_leased_for_thirty_seconds_by_default(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    """Short: a row's claim only has to outlast its own send. A dead process's row waits 30 s."""
    first, second = repos
    [row] = enqueue(engines[0], 1)
    assert ids(first.claim_notifications()) == [row]
    assert claimed_until(engines[0]) == {row: T0 + timedelta(seconds=30)}
    clock.advance(seconds=30)
    assert second.claim_notifications() == []
    clock.advance(seconds=1)
    assert ids(second.claim_notifications()) == [row]


def test_claims_are_oldest_first_and_limited(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine]
) -> None:
    first, second = repos
    everything = enqueue(engines[0], 5)
    assert ids(first.claim_notifications(limit=2)) == everything[:2]
    assert ids(second.claim_notifications(limit=2)) == everything[2:4]
    assert ids(first.claim_notifications()) == everything[4:]
    assert first.claim_notifications() == []
    assert second.claim_notifications(limit=0) == []
    with pytest.raises(ValueError, match="lease"):
        first.claim_notifications(lease=timedelta(0))


def test_a_claimed_row_waits_for_its_lease_to_end(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    first, second = repos
    everything = enqueue(engines[0], 3)
    [item, *_] = claimed = first.claim_notifications(lease=LEASE)
    assert ids(claimed) == everything
    assert (item.recipient_user_id, item.chat_id, item.language, item.attempts) == (
        7,
        None,
        None,
        0,
    )
    assert item.message == to_json(notifications.worker_declined("PR-000000"))
    assert claimed_until(engines[1]) == dict.fromkeys(everything, T0 + LEASE)
    assert second.claim_notifications() == []
    assert first.claim_notifications() == []  # not even by the process that holds it
    clock.advance(seconds=119)
    assert second.claim_notifications() == []
    clock.advance(seconds=1)  # the lease ends at T0 + 2 min, exactly: still held
    assert second.claim_notifications() == []
    clock.advance(seconds=1)  # the first process died, or is very late: another takes over
    assert ids(second.claim_notifications(lease=LEASE)) == everything
    assert claimed_until(engines[0]) == dict.fromkeys(everything, clock.now + LEASE)
    assert first.claim_notifications() == []


def test_failed_rows_come_back_sent_and_given_up_rows_never(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    first, second = repos
    failed, given_up, sent, held = enqueue(engines[0], 4)
    assert ids(first.claim_notifications(lease=LEASE)) == [failed, given_up, sent, held]
    first.mark_notification_failed(failed, "TimeoutError", give_up=False)
    first.mark_notification_failed(given_up, "not delivered", give_up=True)
    first.mark_notification_sent(sent)
    state = claimed_until(engines[1])
    assert (state[failed], state[held]) == (None, T0 + LEASE)
    # The failed row is released at once (any process retries it); the others are not free.
    [retry] = second.claim_notifications(lease=LEASE)
    assert (retry.id, retry.attempts) == (failed, 1)
    clock.advance(minutes=3)  # both leases ended
    assert ids(first.claim_notifications(lease=LEASE)) == [failed, held]
    clock.advance(days=30)
    assert ids(second.claim_notifications(lease=LEASE)) == [failed, held]
    second.mark_notification_sent(failed)
    second.mark_notification_failed(held, "not delivered", give_up=True)
    clock.advance(days=30)
    assert first.claim_notifications() == []
    assert second.claim_notifications() == []
    with engines[0].connect() as connection:
        done = connection.execute(
            sa.select(col(OutboxMessage.sent_at), col(OutboxMessage.gave_up_at)).order_by(
                col(OutboxMessage.id)
            )
        ).all()
    assert [(sent_at is not None, gave_up_at is not None) for sent_at, gave_up_at in done] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
    ]


# ---- two dispatchers -----------------------------------------------------------------------------


class RecordingTransport:
    """Sends nothing; remembers what it was asked to send, slowly enough for the dispatchers'
    batches to overlap."""

    def __init__(self, sent: list[tuple[int, str]]) -> None:
        self.sent = sent

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        await asyncio.sleep(0.001)
        self.sent.append((chat_id, message.text))
        return len(self.sent)


async def drain(dispatcher: OutboxDispatcher, rows: int, limit: int = 4) -> int:
    """deliver_once until it delivers nothing, at most `rows` rounds (each round delivering at
    least one row), each bounded by a timeout."""
    total = 0
    for _ in range(rows):
        delivered = await asyncio.wait_for(dispatcher.deliver_once(limit=limit), WAIT)
        if not delivered:
            break
        total += delivered
    return total


async def test_two_dispatchers_send_each_notification_once(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine]
) -> None:
    everything = enqueue(engines[0], 24, recipient=7)
    repos[0].remember_chat(7, 7007)
    sent: list[tuple[int, str]] = []
    dispatchers = [
        OutboxDispatcher(repository, RecordingTransport(sent), asyncio.Event())  # type: ignore[arg-type]
        for repository in repos
    ]
    totals = await asyncio.gather(*(drain(d, len(everything)) for d in dispatchers))
    assert sum(totals) == len(everything) == len(sent)
    assert len(set(sent)) == len(sent), "a notification was sent twice"
    assert {chat for chat, _text in sent} == {7007}
    for number in range(24):  # each notification, exactly once
        assert sum(f"PR-{number:06d}" in text for _chat, text in sent) == 1
    assert repos[1].claim_notifications() == []


def outbox_state(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(
                col(OutboxMessage.id),
                col(OutboxMessage.claimed_until),
                col(OutboxMessage.sent_at),
                col(OutboxMessage.telegram_message_id),
            ).order_by(col(OutboxMessage.id))
        )
        return [dict(row._mapping) for row in found]


class SnapshotTransport:
    """At each send, records what the database says about every row: what a process killed at
    that moment would leave behind."""

    def __init__(self, engine: Engine, clock: MovableClock) -> None:
        self.engine = engine
        self.clock = clock
        self.snapshots: list[tuple[datetime, list[dict[str, Any]]]] = []

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.snapshots.append((self.clock.now, outbox_state(self.engine)))
        self.clock.advance(seconds=1)
        return 9000 + len(self.snapshots)


async def test_each_row_is_claimed_right_before_its_send_and_marked_before_the_next(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    """The duplicate window is one row: while a notification is being sent, every earlier one
    is marked sent (with its Telegram message id) and no later one is claimed yet, so a process
    killed at any send leaves at most that one row sent-but-unmarked. Its lease is 30 s."""
    everything = enqueue(engines[0], 5)
    repos[0].remember_chat(7, 7007)
    transport = SnapshotTransport(engines[0], clock)
    dispatcher = OutboxDispatcher(repos[0], transport, asyncio.Event())  # type: ignore[arg-type]
    assert await asyncio.wait_for(dispatcher.deliver_once(), WAIT) == len(everything)
    assert len(transport.snapshots) == len(everything)
    for index, (moment, rows) in enumerate(transport.snapshots):
        for row in rows[:index]:  # sent before: marked, with the message id
            assert row["sent_at"] is not None, f"row {row['id']} not marked before the next send"
            assert row["telegram_message_id"] == 9001 + rows.index(row)
            assert row["claimed_until"] is None
        in_flight = rows[index]
        assert in_flight["sent_at"] is None
        assert in_flight["claimed_until"] == moment + timedelta(seconds=30)
        for row in rows[index + 1 :]:  # not claimed yet: another process may take them
            assert row["claimed_until"] is None and row["sent_at"] is None
    assert [row["telegram_message_id"] for row in outbox_state(engines[0])] == [
        9001,
        9002,
        9003,
        9004,
        9005,
    ]


class SlowTransport:
    """Each send takes `seconds` (25: a congested network, Telegram's flood waits). Meanwhile
    the other process runs its dispatcher once."""

    def __init__(self, clock: MovableClock, sent: list[str], seconds: float) -> None:
        self.clock = clock
        self.sent = sent
        self.seconds = seconds
        self.other: OutboxDispatcher | None = None

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.clock.advance(seconds=self.seconds)
        if self.other is not None:
            await self.other.deliver_once()
        self.sent.append(message.text)
        return len(self.sent)


async def test_a_slow_batch_never_lets_another_process_send_the_same_row(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    """A batch taking longer than a lease: the rows waiting at its end must not lapse to the
    other process while the first one still means to send them."""
    everything = enqueue(engines[0], 6)
    repos[0].remember_chat(7, 7007)
    sent: list[str] = []
    slow = SlowTransport(clock, sent, seconds=25)
    fast = SlowTransport(clock, sent, seconds=0)
    first = OutboxDispatcher(repos[0], slow, asyncio.Event())  # type: ignore[arg-type]
    second = OutboxDispatcher(repos[1], fast, asyncio.Event())  # type: ignore[arg-type]
    slow.other = second
    await asyncio.wait_for(first.deliver_once(), WAIT)
    await drain(first, len(everything))
    for number in range(len(everything)):
        assert sum(f"PR-{number:06d}" in text for text in sent) == 1, sent
    assert len(sent) == len(everything)


class HangingTransport:
    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        await asyncio.Event().wait()  # a connection that never answers
        raise AssertionError("unreachable")


async def test_a_send_that_hangs_is_cut_off_and_its_row_released_for_a_retry(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine]
) -> None:
    """A send may not outlive its lease (another process would send the row again): it is cut
    off after send_timeout, well inside the lease, and the row is retried later."""
    [row] = enqueue(engines[0], 1)
    repos[0].remember_chat(7, 7007)
    dispatcher = OutboxDispatcher(
        repos[0],
        HangingTransport(),  # type: ignore[arg-type]
        asyncio.Event(),
        send_timeout=0.05,
    )
    assert await asyncio.wait_for(dispatcher.deliver_once(), WAIT) == 0
    with engines[0].connect() as connection:
        attempts, error, until = connection.execute(
            sa.select(
                col(OutboxMessage.attempts),
                col(OutboxMessage.last_error),
                col(OutboxMessage.claimed_until),
            )
        ).one()
    assert (attempts, error, until) == (1, "TimeoutError", None)
    assert ids(repos[1].claim_notifications()) == [row]


def test_a_send_timeout_must_end_inside_the_lease(repos: tuple[Repository, Repository]) -> None:
    for timeout, lease in ((30.0, timedelta(seconds=30)), (0.0, timedelta(seconds=30))):
        with pytest.raises(ValueError, match="shorter than the lease"):
            OutboxDispatcher(
                repos[0],
                HangingTransport(),  # type: ignore[arg-type]
                asyncio.Event(),
                lease=lease,
                send_timeout=timeout,
            )
    default = OutboxDispatcher(repos[0], HangingTransport(), asyncio.Event())  # type: ignore[arg-type]
    assert default.send_timeout < default.lease.total_seconds() <= 30
