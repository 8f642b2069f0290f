"""The delivery engine (bot.delivery.engine) over the real queue (bot.storage.delivery_store), on
SQLite and PostgreSQL: priority, held announcements, outcomes of every answer Telegram can give,
a process killed holding rows, two processes sharing the database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from bot.delivery.contracts import AnnouncementContent, DueReminder
from bot.delivery.engine import DeliveryEngine, batch_size_for
from bot.storage.db import create_db_engine
from bot.storage.delivery_store import MAX_ATTEMPTS, DeliveryStore, backoff
from bot.storage.models import OutboxMessage, TelegramUser
from bot.storage.repository import Repository
from bot.transport import Media, Outgoing, SendResult, SendStatus
from tests.clock import MovableClock
from tests.integration.delivery_kit import (
    T0,
    FakeTransport,
    add_announcement,
    add_users,
    enqueue,
    fast_budget,
    outcomes,
    rows,
    set_status,
)
from tests.integration.test_storage_repository import SEALER
from tests.notify import notify

WAIT = 30.0


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def store(engine: Engine, clock: MovableClock) -> DeliveryStore:
    return DeliveryStore(engine, SEALER, clock)


def make_engine(
    store: DeliveryStore, transport: FakeTransport, batch_size: int = 4, **kwargs: object
) -> DeliveryEngine:
    return DeliveryEngine(
        store,
        transport,  # type: ignore[arg-type]
        asyncio.Event(),
        fast_budget(),
        batch_size=batch_size,
        **kwargs,  # type: ignore[arg-type]
    )


async def drain(engine: DeliveryEngine, limit: int = 100) -> int:
    """deliver_once until a round claims nothing (at most `limit` rounds)."""
    total = 0
    for _ in range(limit):
        before = len(engine.transport.calls)  # type: ignore[attr-defined]
        total += await asyncio.wait_for(engine.deliver_once(), WAIT)
        if len(engine.transport.calls) == before:  # type: ignore[attr-defined]
            break
    return total


# ---- priority and what is held -------------------------------------------------------------------


async def test_notifications_go_before_reminders_before_announcements(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, range(1, 31))
    announcement = add_announcement(engine)
    enqueue(engine, "announcement", range(1, 11), announcement=announcement)
    enqueue(engine, "reminder", range(11, 14))
    enqueue(engine, "notification", range(21, 24))
    transport = FakeTransport()
    assert await drain(make_engine(store, transport)) == 16
    assert transport.chats == [21, 22, 23, 11, 12, 13, *range(1, 11)]


async def test_a_notification_enqueued_mid_announcement_goes_in_the_next_batch(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, range(1, 101))
    announcement = add_announcement(engine)
    enqueue(engine, "announcement", range(1, 41), announcement=announcement)
    transport = FakeTransport()
    delivery = make_engine(store, transport, batch_size=5)
    await delivery.deliver_once()
    enqueue(engine, "notification", [99])
    await delivery.deliver_once()
    assert transport.chats[5] == 99  # first of the very next batch, 35 announcement rows left


@pytest.mark.parametrize("status", ["paused", "cancelled", "awaiting_approval", "draft", "done"])
async def test_rows_of_an_announcement_not_sending_are_held(
    engine: Engine, store: DeliveryStore, status: str
) -> None:
    add_users(engine, range(1, 6))
    held = add_announcement(engine, status=status)
    enqueue(engine, "announcement", range(1, 4), announcement=held)
    transport = FakeTransport()
    delivery = make_engine(store, transport)
    assert await drain(delivery) == 0 and transport.calls == []
    set_status(engine, held, "sending")  # resumed
    assert await drain(delivery) == 3


async def test_not_before_defers_a_row(
    engine: Engine, store: DeliveryStore, clock: MovableClock
) -> None:
    add_users(engine, [5])
    [row] = enqueue(engine, "reminder", [5])
    with engine.begin() as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.id) == row)
            .values(not_before=T0 + timedelta(hours=5))
        )
    transport = FakeTransport()
    delivery = make_engine(store, transport)
    assert await drain(delivery) == 0
    clock.advance(hours=5)
    assert await drain(delivery) == 1


# ---- what Telegram answers ----------------------------------------------------------------------


async def test_blocked_marks_the_person_unreachable_and_later_rows_to_them_are_skipped(
    engine: Engine, store: DeliveryStore, clock: MovableClock
) -> None:
    add_users(engine, [1, 2])
    announcement = add_announcement(engine)
    enqueue(engine, "announcement", [1, 2], announcement=announcement)

    def answer(chat: int, message: Outgoing) -> SendResult | None:
        return SendResult(SendStatus.BLOCKED, detail="bot was blocked") if chat == 2 else None

    transport = FakeTransport(answer)
    delivery = make_engine(store, transport)
    assert await drain(delivery) == 1
    by_user = {row.recipient_user_id: row for row in rows(engine).values()}
    assert by_user[2].outcome == "blocked" and by_user[2].gave_up_at is not None
    with engine.connect() as connection:
        unreachable = dict(
            connection.execute(sa.select(TelegramUser.user_id, TelegramUser.unreachable_at)).all()  # type: ignore[call-overload]
        )
    assert unreachable[1] is None and unreachable[2] is not None

    enqueue(engine, "notification", [2, 1], tag="later")
    enqueue(engine, "reminder", [2], tag="later")
    calls = len(transport.calls)
    assert await drain(delivery) == 1  # only person 1's
    assert transport.chats[calls:] == [1]
    assert outcomes(engine) == {"sent": 2, "blocked": 1, "skipped": 2}

    # Person 2 unblocks and writes to the bot again: reachable, their next rows are sent.
    transport.answer = None
    repository = Repository(engine, SEALER, notify=notify, clock=clock)
    repository.remember_chat(2, 2)
    enqueue(engine, "notification", [2], tag="again")
    assert await drain(delivery) == 1
    assert transport.chats[-1] == 2


async def test_opt_outs_skip_their_kind_only(engine: Engine, store: DeliveryStore) -> None:
    add_users(engine, [1], announcements_off_at=T0)
    add_users(engine, [2], reminders_off_at=T0)
    announcement = add_announcement(engine)
    enqueue(engine, "announcement", [1, 2], announcement=announcement)
    enqueue(engine, "reminder", [1, 2])
    enqueue(engine, "notification", [1, 2])
    transport = FakeTransport()
    assert await drain(make_engine(store, transport)) == 4
    assert Counter(transport.chats) == {1: 2, 2: 2}
    skipped = {
        (row.kind, row.recipient_user_id)
        for row in rows(engine).values()
        if row.outcome == "skipped"
    }
    assert skipped == {("announcement", 1), ("reminder", 2)}


async def test_refused_fails_at_once(engine: Engine, store: DeliveryStore) -> None:
    add_users(engine, [1])
    enqueue(engine, "notification", [1])
    transport = FakeTransport(
        lambda c, m: SendResult(SendStatus.REFUSED, detail="chat 1234567 gone")
    )
    assert await drain(make_engine(store, transport)) == 0
    [row] = rows(engine).values()
    assert (row.outcome, row.attempts, row.last_error) == ("failed", 1, "chat # gone")
    assert len(transport.calls) == 1


async def test_transient_failures_back_off_and_give_up_after_the_bound(
    engine: Engine, store: DeliveryStore, clock: MovableClock
) -> None:
    add_users(engine, [1])
    enqueue(engine, "announcement", [1], announcement=add_announcement(engine))
    transport = FakeTransport(lambda c, m: SendResult(SendStatus.TRANSIENT, detail="502"))
    delivery = make_engine(store, transport)
    for attempt in range(1, MAX_ATTEMPTS):
        assert await delivery.deliver_once() == 0
        [row] = rows(engine).values()
        assert (row.attempts, row.outcome, row.claimed_until, row.claims) == (
            attempt,
            None,
            None,
            0,
        )
        assert row.not_before == clock.now + backoff(attempt)
        assert await delivery.deliver_once() == 0 and len(transport.calls) == attempt  # waits
        clock.advance(seconds=backoff(attempt).total_seconds())
    assert await delivery.deliver_once() == 0
    [row] = rows(engine).values()
    assert (row.attempts, row.outcome) == (MAX_ATTEMPTS, "failed") and row.gave_up_at
    clock.advance(days=1)
    assert await drain(delivery) == 0 and len(transport.calls) == MAX_ATTEMPTS
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]


async def test_a_429_releases_the_row_uncounted_and_pauses_the_budget(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, [1, 2])
    enqueue(engine, "notification", [1])
    answers = [SendResult(SendStatus.RATE_LIMITED, retry_after=3)]
    transport = FakeTransport(lambda c, m: answers.pop() if answers else None)
    delivery = make_engine(store, transport)
    assert await delivery.deliver_once() == 0
    [row] = rows(engine).values()
    assert (row.attempts, row.claimed_until, row.claims, row.outcome) == (0, None, 0, None)
    assert delivery.budget.pauses == 1
    assert 2 < await delivery.budget.paused_for() <= 3
    await delivery.budget.reset()
    assert await delivery.deliver_once() == 1


async def test_a_hanging_send_is_cut_off_inside_the_lease_and_retried(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, [1])
    enqueue(engine, "notification", [1])
    transport = FakeTransport()
    transport.delay = 5
    delivery = make_engine(store, transport, send_timeout=0.05)
    assert await delivery.deliver_once() == 0
    [row] = rows(engine).values()
    assert (row.attempts, row.last_error, row.claimed_until) == (1, "TimeoutError", None)
    for timeout, lease in ((30.0, timedelta(seconds=30)), (0.0, timedelta(seconds=30))):
        with pytest.raises(ValueError, match="shorter than the lease"):
            make_engine(store, transport, send_timeout=timeout, lease=lease)


# ---- a process killed holding rows -------------------------------------------------------------


async def test_a_stopping_engine_finishes_and_marks_the_batch_in_flight(
    engine: Engine, store: DeliveryStore
) -> None:
    """A graceful stop (SIGTERM, a deploy) mid-announcement: the batch being sent is let finish
    and is marked, so an ordinary restart leaves no row in doubt ('unknown' is for kill -9)."""
    add_users(engine, range(1, 4))
    announcement = add_announcement(engine)
    enqueue(engine, "announcement", [1, 2, 3], announcement=announcement)
    transport = FakeTransport()
    delivery = make_engine(store, transport)
    transport.delay = 2.0  # the sends are under way when the stop comes (grace: 5 s)
    running = asyncio.create_task(delivery.run())

    def claimed() -> bool:
        return all(row.claimed_until is not None for row in rows(engine).values())

    for _ in range(int(WAIT / 0.01)):
        if claimed():
            break
        await asyncio.sleep(0.01)
    assert claimed() and transport.calls == []  # the batch is claimed and being sent
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert sorted(transport.chats) == [1, 2, 3]
    assert outcomes(engine) == {"sent": 3}
    assert all(row.claimed_until is None for row in rows(engine).values())


async def test_rows_whose_process_died_are_unknown_or_resent_by_kind(
    engine: Engine, store: DeliveryStore, clock: MovableClock
) -> None:
    """A kill -9 between the send and the mark: the lease ends unmarked. Announcements and
    reminders become 'unknown' (maybe delivered: never twice); notifications go again."""
    add_users(engine, range(1, 10))
    announcement = add_announcement(engine)
    enqueue(engine, "notification", [1])
    enqueue(engine, "reminder", [2])
    enqueue(engine, "announcement", [3, 4], announcement=announcement)
    dead = store.claim(10, timedelta(seconds=30))  # claimed, then the process died
    assert len(dead) == 4
    enqueue(engine, "announcement", [5], announcement=announcement)  # never claimed
    transport = FakeTransport()
    delivery = make_engine(store, transport)
    assert await drain(delivery) == 1 and transport.chats == [5]  # the dead rows wait
    clock.advance(seconds=31)
    assert await drain(delivery) == 1 and transport.chats == [5, 1]
    by_user = {row.recipient_user_id: row for row in rows(engine).values()}
    assert [by_user[u].outcome for u in (1, 2, 3, 4, 5)] == [
        "sent",
        "unknown",
        "unknown",
        "unknown",
        "sent",
    ]
    assert by_user[1].claims == 2 and by_user[5].claims == 1


async def test_two_engines_never_send_a_row_twice(database_url: str, clock: MovableClock) -> None:
    engines = [create_db_engine(database_url), create_db_engine(database_url)]
    try:
        add_users(engines[0], range(1, 121))
        announcement = add_announcement(engines[0])
        enqueue(engines[0], "announcement", range(1, 101), announcement=announcement)
        enqueue(engines[0], "notification", range(101, 121))
        transports = [FakeTransport(), FakeTransport()]
        for transport in transports:
            transport.delay = 0.001
        deliveries = [
            make_engine(DeliveryStore(e, SEALER, clock), t, batch_size=3)
            for e, t in zip(engines, transports, strict=True)
        ]
        totals = await asyncio.gather(*(drain(d, 200) for d in deliveries))
        chats = transports[0].chats + transports[1].chats
        assert sum(totals) == 120 == len(chats) == len(set(chats))
        assert all(totals), "both processes took part"
        assert outcomes(engines[0]) == {"sent": 120}
    finally:
        for e in engines:
            e.dispose()


# ---- rendering, the reminder gate --------------------------------------------------------------


async def test_announcements_are_rendered_once_per_recipient_language_with_media(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, [1], language="en")
    add_users(engine, [2], language="id")
    announcement = add_announcement(
        engine, body="Halo", media_kind="photo", media_file_id="FILE1", paid_broadcast=True
    )
    enqueue(engine, "announcement", [1, 2], announcement=announcement)
    seen: list[tuple[int, str | None]] = []

    def renderer(content: AnnouncementContent, language: str | None) -> Outgoing:
        seen.append((content.id, language))
        return Outgoing(f"{content.body} [{language}]")

    transport = FakeTransport()
    assert await drain(make_engine(store, transport, renderer=renderer)) == 2
    assert seen == [(announcement, "en"), (announcement, "id")]
    assert transport.calls == [
        (1, "Halo [en]", Media("photo", "FILE1"), True),
        (2, "Halo [id]", Media("photo", "FILE1"), True),
    ]


async def test_notifications_are_rendered_in_the_recipients_language(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, [1], language="en")
    add_users(engine, [2], language="id")
    enqueue(engine, "notification", [1, 2])
    transport = FakeTransport()
    assert await drain(make_engine(store, transport, paid_broadcast=True)) == 2
    english, indonesian = transport.calls
    assert "PR-000001" in english[1] and "PR-000002" in indonesian[1]
    assert english[1] != indonesian[1].replace("PR-000002", "PR-000001")
    assert english[3] and indonesian[3]  # the paid-broadcast setting applies to every send


class OnlyEven:
    def __init__(self) -> None:
        self.asked: list[DueReminder] = []

    def still_due(self, reminders: object) -> set[int]:
        self.asked.extend(reminders)  # type: ignore[call-overload]
        return {r.id for r in self.asked if r.recipient_user_id % 2 == 0}


async def test_reminders_no_longer_due_are_void_not_sent(
    engine: Engine, store: DeliveryStore
) -> None:
    add_users(engine, range(1, 5))
    enqueue(engine, "reminder", range(1, 5))
    enqueue(engine, "notification", [1])
    gate = OnlyEven()
    transport = FakeTransport()
    assert await drain(make_engine(store, transport, reminder_gate=gate)) == 3
    assert sorted(transport.chats) == [1, 2, 4]
    assert {r.dedupe_key for r in gate.asked} == {f"reminder:None:{u}" for u in range(1, 5)}
    assert outcomes(engine) == {"sent": 3, "void": 2}


def test_the_batch_is_half_a_second_of_the_budget() -> None:
    assert [batch_size_for(rate) for rate in (0.5, 1, 25, 30, 1000)] == [1, 1, 12, 15, 500]


@pytest.fixture
def unused() -> Iterator[None]:
    yield


class SnapshotTransport(FakeTransport):
    """At each send, what the database holds about every row: what a kill -9 would leave."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.snapshots: list[dict[int, object]] = []

    async def deliver(self, chat_id: int, message: Outgoing, **kwargs: object) -> SendResult:
        self.snapshots.append(rows(self.engine))
        return await super().deliver(chat_id, message, **kwargs)  # type: ignore[arg-type]


async def test_at_any_send_only_the_current_batch_is_in_flight(
    engine: Engine, store: DeliveryStore
) -> None:
    """The window a kill -9 can leave sent-but-unmarked is one batch: every row of an earlier
    batch is marked sent (with Telegram's message id), no row of a later one is claimed."""
    add_users(engine, range(1, 8))
    ids = enqueue(engine, "notification", range(1, 8))
    transport = SnapshotTransport(engine)
    assert await drain(make_engine(store, transport, batch_size=3)) == 7
    for index, snapshot in enumerate(transport.snapshots):
        batch = index // 3
        for position, row_id in enumerate(ids):
            row: Any = snapshot[row_id]
            if position // 3 < batch:
                assert row.outcome == "sent" and row.telegram_message_id is not None
                assert row.claimed_until is None
            elif position // 3 == batch:
                assert row.claimed_until is not None and row.sent_at is None
            else:
                assert row.claimed_until is None and row.claims == 0


async def test_rows_that_get_no_slot_within_the_lease_are_released_untried(
    engine: Engine, store: DeliveryStore
) -> None:
    """A long 429 pause: the claimed rows must not be sent after their lease (another process
    may have them by then); they go back to the queue untried."""
    add_users(engine, [1, 2])
    enqueue(engine, "notification", [1, 2])
    transport = FakeTransport()
    delivery = make_engine(store, transport, lease=timedelta(seconds=1), send_timeout=0.5)
    await delivery.budget.pause(30)
    assert await asyncio.wait_for(delivery.deliver_once(), WAIT) == 0
    assert transport.calls == []
    for row in rows(engine).values():
        assert (row.claimed_until, row.claims, row.attempts, row.outcome) == (None, 0, 0, None)


async def test_a_failed_mark_is_retried_so_sent_rows_are_not_left_in_doubt(
    engine: Engine, store: DeliveryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_users(engine, [1, 2])
    enqueue(engine, "announcement", [1, 2], announcement=add_announcement(engine))
    mark = store.mark
    failures = [sa.exc.OperationalError("UPDATE", {}, Exception("connection reset"))]

    def flaky(marks: list[Any]) -> None:
        if failures:
            raise failures.pop()
        mark(marks)

    monkeypatch.setattr(store, "mark", flaky)
    monkeypatch.setattr("bot.delivery.engine.MARK_RETRY_SECONDS", 0.01)
    transport = FakeTransport()
    assert await make_engine(store, transport).deliver_once() == 2
    assert failures == [] and outcomes(engine) == {"sent": 2}
