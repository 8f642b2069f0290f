"""The outbox lease: several bot processes share one database, and each notification is sent by
one of them only (Repository.claim_notifications), on SQLite and PostgreSQL.

Two repositories over two engines stand for two processes: they share no connection pool and no
Python lock, only the database.

What the delivery engine does with claimed rows is tested in test_delivery_engine.py.

Every wait here is bounded (a barrier timeout, a result timeout, loops of at most as many rounds
as there are rows, asyncio.wait_for): a broken lease makes a test fail quickly, never hang.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from bot import notifications
from bot.storage.db import create_db_engine
from bot.storage.models import OutboxMessage
from bot.storage.repository import OutboxItem, Repository
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
