"""The outbox lease: several bot processes share one database, and each row is sent by one of
them only (the delivery queue's claim, bot.storage.delivery_store, reached as
Repository.delivery), on SQLite and PostgreSQL.

Two repositories over two engines stand for two processes: they share no connection pool and no
Python lock, only the database.

What the delivery engine does with claimed rows is tested in test_delivery_engine.py; here the
queue's claims and marks are called directly, as the engine calls them.

Every wait here is bounded (a barrier timeout, a result timeout, loops of at most as many rounds
as there are rows): a broken lease makes a test fail quickly, never hang.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from bot import notifications
from bot.delivery.engine import DeliveryEngine
from bot.storage import delivery_store
from bot.storage.db import create_db_engine
from bot.storage.delivery_store import Delivery, Mark, backoff
from bot.storage.models import OutboxMessage
from bot.storage.repository import Repository
from flows.text import to_json
from tests.clock import MovableClock
from tests.integration.delivery_kit import (
    T0,
    FakeTransport,
    add_announcement,
    add_users,
    enqueue,
    fast_budget,
    rows,
)
from tests.integration.test_storage_repository import SEALER
from tests.notify import notify

LEASE = timedelta(minutes=2)
WAIT = 30.0  # seconds: the most any wait in this module may take before it fails the test
EVERYTHING = 100  # a claim's limit larger than any test's rows


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


def notifications_to(engine: Engine, recipients: range | list[int]) -> list[int]:
    """A notification row (sealed JSON of a Text naming PR-<recipient>) to each recipient, who
    has a chat with the bot; their ids in order."""
    add_users(engine, list(recipients))
    return enqueue(engine, "notification", recipients)


def ids(items: list[Delivery]) -> list[int]:
    return [item.id for item in items]


def claim(repo: Repository, limit: int = EVERYTHING, lease: timedelta = LEASE) -> list[int]:
    return ids(repo.delivery.claim(limit, lease))


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
    everything = notifications_to(engines[0], range(1, 61))
    workers = 4
    barrier = threading.Barrier(workers, timeout=WAIT)

    def drain(repository: Repository) -> list[list[int]]:
        batches = []
        barrier.wait()
        for _ in range(len(everything)):
            batch = claim(repository, limit=3)
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
    assert {row.claims for row in rows(engines[0]).values()} == {1}


def test_the_engine_leases_a_claim_for_thirty_seconds_by_default(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    """Short: a row's claim only has to outlast its own send. A dead process's row waits 30 s."""
    first, second = repos
    sent, dead = notifications_to(engines[0], [1, 2])
    seen: list[datetime | None] = []

    def answer(chat: int, _message: object) -> None:
        seen.append(claimed_until(engines[1])[sent])  # while the engine sends the row
        return None

    delivery = DeliveryEngine(
        first.delivery,
        FakeTransport(answer),  # type: ignore[arg-type]
        asyncio.Event(),
        fast_budget(),
        batch_size=1,
    )
    assert delivery.lease == timedelta(seconds=30)
    assert asyncio.run(asyncio.wait_for(delivery.deliver_once(), WAIT)) == 1
    assert seen == [T0 + timedelta(seconds=30)]
    # The next row is claimed with the same lease, and its process dies before the mark.
    assert claim(first, lease=delivery.lease) == [dead]
    assert claimed_until(engines[0]) == {sent: None, dead: T0 + timedelta(seconds=30)}
    clock.advance(seconds=30)
    assert claim(second) == []
    clock.advance(seconds=1)
    assert claim(second) == [dead]  # a notification: sent again, at least once


def test_claims_are_by_priority_then_oldest_first_and_limited(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine]
) -> None:
    """Notifications, then reminders, then announcements; within a kind, the oldest first."""
    first, second = repos
    add_users(engines[0], range(1, 6))
    announced = enqueue(
        engines[0], "announcement", [1, 2], announcement=add_announcement(engines[0])
    )
    reminded = enqueue(engines[0], "reminder", [3])
    notified = enqueue(engines[0], "notification", [4, 5])
    everything = notified + reminded + announced
    assert everything != sorted(everything)  # priority, not id, comes first
    assert claim(first, limit=2) == everything[:2]
    assert claim(second, limit=2) == everything[2:4]
    assert claim(first) == everything[4:]
    assert claim(first) == []
    assert claim(second, limit=0) == []
    with pytest.raises(ValueError, match="lease"):
        first.delivery.claim(EVERYTHING, timedelta(0))


def test_a_claim_builds_no_statement_once_its_batch_size_was_claimed(
    repos: tuple[Repository, Repository],
    engines: tuple[Engine, Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine claims after every turn with commands and mostly finds nothing: its SELECT is
    built once per batch size (building it cost more than running it)."""
    first, _second = repos
    add_users(engines[0], [1])
    assert claim(first, limit=7) == []  # built here, if not already
    built: list[str] = []
    real = delivery_store.select

    def counted(*args: object, **kwargs: object) -> object:
        built.append("select")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(delivery_store, "select", counted)
    assert claim(first, limit=7) == []
    notified = enqueue(engines[0], "notification", [1])
    assert claim(first, limit=7) == notified  # the same statement finds what is due now
    assert built == []


def test_a_claimed_row_waits_for_its_lease_to_end(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    """Until the lease ends nobody claims the row, not even its own process. Afterwards (the
    process died, or is very late) another takes a notification over; a reminder or an
    announcement may have arrived, so it becomes 'unknown' instead of being sent twice."""
    first, second = repos
    everything = notifications_to(engines[0], [7, 8, 9])
    add_users(engines[0], [10, 11], language="en")
    reminder = enqueue(engines[0], "reminder", [10])
    announcement = add_announcement(engines[0])
    announced = enqueue(engines[0], "announcement", [11], announcement=announcement)
    [item, *_] = claimed = first.delivery.claim(EVERYTHING, LEASE)
    assert ids(claimed) == everything + reminder + announced
    assert (item.kind, item.recipient_user_id, item.chat_id, item.language, item.attempts) == (
        "notification",
        7,
        7,
        None,
        0,
    )
    assert (item.announcement_id, item.dedupe_key) == (None, "notification:None:7")
    assert item.message == to_json(notifications.worker_declined("PR-000007"))
    assert [(d.kind, d.language, d.announcement_id, d.message) for d in claimed[3:]] == [
        ("reminder", "en", None, to_json(notifications.worker_declined("PR-000010"))),
        ("announcement", "en", announcement, None),
    ]
    assert claimed_until(engines[1]) == dict.fromkeys(ids(claimed), T0 + LEASE)
    assert claim(second) == []
    assert claim(first) == []  # not even by the process that holds it
    clock.advance(seconds=119)
    assert claim(second) == []
    clock.advance(seconds=1)  # the lease ends at T0 + 2 min, exactly: still held
    assert claim(second) == []
    clock.advance(seconds=1)  # the first process died, or is very late: another takes over
    assert claim(second) == everything
    assert claimed_until(engines[0]) == {
        **dict.fromkeys(everything, clock.now + LEASE),
        reminder[0]: None,
        announced[0]: None,
    }
    assert claim(first) == []
    state = rows(engines[0])
    assert [(state[row].outcome, state[row].claims) for row in ids(claimed)] == [
        (None, 2),
        (None, 2),
        (None, 2),
        ("unknown", 2),
        ("unknown", 2),
    ]
    assert state[reminder[0]].gave_up_at == clock.now and state[reminder[0]].sent_at is None
    assert state[reminder[0]].last_error == "claimed by a process that stopped"


def test_released_and_failed_rows_come_back_sent_and_given_up_rows_never(
    repos: tuple[Repository, Repository], engines: tuple[Engine, Engine], clock: MovableClock
) -> None:
    first, second = repos
    failed, given_up, sent, held, released = notifications_to(engines[0], range(1, 6))
    assert claim(first) == [failed, given_up, sent, held, released]
    first.delivery.mark(
        [
            Mark(failed, "transient", detail="TimeoutError", attempts=0),
            Mark(given_up, "refused", detail="not delivered"),
            Mark(sent, "sent", message_id=41),
            Mark(released, "release", detail="429"),
        ]
    )
    state = claimed_until(engines[1])
    assert (state[failed], state[released], state[held]) == (None, None, T0 + LEASE)
    # A release (not tried) is free at once, uncounted; a transient failure waits its backoff;
    # the others are not free.
    [again] = second.delivery.claim(EVERYTHING, LEASE)
    assert (again.id, again.attempts) == (released, 0)
    second.delivery.mark([Mark(released, "sent", message_id=42)])
    assert claim(second) == []
    clock.advance(seconds=backoff(1).total_seconds())
    [retry] = second.delivery.claim(EVERYTHING, LEASE)
    assert (retry.id, retry.attempts) == (failed, 1)
    clock.advance(minutes=3)  # both leases ended
    assert claim(first) == [failed, held]
    clock.advance(days=30)
    assert claim(second) == [failed, held]
    second.delivery.mark(
        [Mark(failed, "sent", message_id=43), Mark(held, "refused", detail="not delivered")]
    )
    clock.advance(days=30)
    assert claim(first) == []
    assert claim(second) == []
    done = rows(engines[0])
    assert [
        (row.outcome, row.sent_at is not None, row.gave_up_at is not None, row.attempts)
        for row in done.values()
    ] == [
        ("sent", True, False, 2),
        ("failed", False, True, 1),
        ("sent", True, False, 1),
        ("failed", False, True, 1),
        ("sent", True, False, 1),
    ]
    assert [row.telegram_message_id for row in done.values()] == [43, None, 41, None, 42]
    assert [row.last_error for row in done.values()] == [
        None,
        "not delivered",
        None,
        "not delivered",
        None,
    ]
