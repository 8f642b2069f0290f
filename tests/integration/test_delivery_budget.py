"""The rate budget (bot.delivery.budget): the moving window holds the rate, one message a second
per chat, a 429 pauses every process sharing Redis, replies take their share; and the settings
that bound it."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from bot.app import build_service
from bot.delivery.budget import (
    NOTE_SECONDS,
    PAUSE_CHECK_SECONDS,
    RateBudget,
    budget_key,
    limits_storage,
)
from bot.delivery.engine import DeliveryEngine
from bot.service import Incoming
from bot.settings import Settings
from bot.storage.delivery_store import DeliveryStore
from bot.transport import SendResult, SendStatus
from flows.inputs import CommandIssued
from tests.clock import MovableClock
from tests.e2e.harness import NOW
from tests.integration.delivery_kit import T0, FakeTransport, add_users, enqueue, rows
from tests.integration.test_service_shared_redis import RecordingTransport
from tests.integration.test_storage_repository import SEALER


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for other in times if start <= other < start + 1.0) for start in times)


async def test_the_moving_window_never_exceeds_the_rate() -> None:
    budget = RateBudget("window", 10)
    times = []
    for chat in range(25):
        assert await budget.acquire(chat)
        times.append(time.time())
    assert busiest_second(times) <= 10
    assert times[-1] - times[0] >= 1.9  # 25 messages at 10/s: the last ones waited


async def test_one_message_a_second_to_one_chat() -> None:
    budget = RateBudget("chat", 100)
    assert await budget.acquire(7)
    start = time.time()
    assert await budget.acquire(8)  # another chat: at once
    assert time.time() - start < 0.5
    assert await budget.acquire(7)
    assert time.time() - start >= 0.9
    unchecked = RateBudget("chat-off", 100, per_chat=False)
    assert await unchecked.acquire(7) and await unchecked.acquire(7)


async def test_no_slot_before_the_deadline_takes_nothing() -> None:
    budget = RateBudget("deadline", 2)
    assert await budget.acquire(1) and await budget.acquire(2)
    assert not await budget.acquire(3, deadline=time.time() + 0.2)
    stats = await budget.limiter.get_window_stats(budget.window, budget.key)
    assert stats.remaining == 0


async def test_replies_take_their_share_without_waiting() -> None:
    budget = RateBudget("replies", 3)
    start = time.time()
    for _ in range(3):
        budget.note_reply()  # never blocks, even on a full window
    budget.note_reply()
    assert time.time() - start < 0.05
    await asyncio.sleep(NOTE_SECONDS * 3)  # the notes land
    assert not await budget.acquire(1, deadline=time.time() + 0.3)


async def test_replies_noted_together_take_the_window_in_one_call() -> None:
    """A burst of replies (one per update under load) is one call to the window's storage, not
    one task and one Redis call per reply, and each reply still takes its slot."""
    budget = RateBudget("burst", 100)
    tasks_before = len(asyncio.all_tasks())
    for _ in range(40):
        budget.note_reply()
    assert len(asyncio.all_tasks()) == tasks_before + 1
    await asyncio.sleep(NOTE_SECONDS * 3)
    assert budget.reply_hits == 1
    stats = await budget.limiter.get_window_stats(budget.window, budget.key)
    assert stats.remaining == budget.window.amount - 40
    budget.note_reply()  # the next burst: a call of its own
    await asyncio.sleep(NOTE_SECONDS * 3)
    assert budget.reply_hits == 2
    stats = await budget.limiter.get_window_stats(budget.window, budget.key)
    assert stats.remaining == budget.window.amount - 41


async def test_a_429_pauses_every_process_sharing_redis(redis_url: str, redis_prefix: str) -> None:
    first = RateBudget(redis_prefix, 25, limits_storage(redis_url))
    second = RateBudget(redis_prefix, 25, limits_storage(redis_url))
    other_bot = RateBudget(redis_prefix + "other", 25, limits_storage(redis_url))
    assert await second.paused_for() == 0
    await first.pause(3)
    await asyncio.sleep(PAUSE_CHECK_SECONDS)  # how stale another process's view may be
    assert 1 < await second.paused_for() <= 3.1  # Redis keeps whole seconds
    assert await other_bot.paused_for() == 0  # one budget per bot token
    assert not await second.acquire(1, deadline=time.time() + 0.3)
    await first.reset()
    await second.reset()
    assert await second.acquire(1, deadline=time.time() + 0.3)


async def test_the_window_is_shared_through_redis(redis_url: str, redis_prefix: str) -> None:
    first = RateBudget(redis_prefix, 4, limits_storage(redis_url), per_chat=False)
    second = RateBudget(redis_prefix, 4, limits_storage(redis_url), per_chat=False)
    for chat in range(2):
        assert await first.acquire(chat) and await second.acquire(chat)
    assert not await first.acquire(9, deadline=time.time() + 0.2)
    assert not await second.acquire(9, deadline=time.time() + 0.2)


async def test_two_engines_sharing_redis_both_stop_on_a_429(
    engine: Engine, redis_url: str, redis_prefix: str
) -> None:
    """The first engine is told 429 (retry after 5 s): the second, another process on the same
    bot token, sends nothing either; its claimed rows go back untried before their lease."""
    clock = MovableClock(T0)
    add_users(engine, range(1, 5))
    enqueue(engine, "notification", [1])
    limited = FakeTransport(lambda c, m: SendResult(SendStatus.RATE_LIMITED, retry_after=5))
    polite = FakeTransport()
    engines = [
        DeliveryEngine(
            DeliveryStore(engine, SEALER, clock),
            transport,  # type: ignore[arg-type]
            asyncio.Event(),
            RateBudget(redis_prefix, 25, limits_storage(redis_url)),
            lease=timedelta(seconds=1),
            send_timeout=0.5,
        )
        for transport in (limited, polite)
    ]
    assert await engines[0].deliver_once() == 0 and len(limited.calls) == 1
    enqueue(engine, "notification", [2, 3], tag="more")
    assert await engines[1].deliver_once() == 0
    assert polite.calls == []
    assert all(row.outcome is None and row.claims == 0 for row in rows(engine).values())


async def test_at_a_high_rate_slots_come_in_chunks_and_no_second_exceeds_the_rate() -> None:
    budget = RateBudget("chunks", 500, per_chat=False)
    assert (budget.chunk, budget.window.amount) == (10, 491)
    times = []
    for chat in range(1200):
        assert await budget.acquire(chat)
        times.append(time.time())
    # +1: the times are read after acquire returns, a hair after the window recorded them.
    # Without the smaller window (491) a second would see up to 509.
    assert busiest_second(times) <= 501
    assert RateBudget("slow", 25).chunk == 1 and RateBudget("slow", 25).window.amount == 25


def test_the_budget_key_hides_the_token() -> None:
    token = "123456:SECRET-part"
    assert budget_key(token) == budget_key(token) != budget_key("123456:other")
    assert "SECRET" not in budget_key(token) and "123456" not in budget_key(token)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_the_rate_is_25_by_default_and_never_above_telegrams_limit() -> None:
    assert settings().delivery_rate == 25
    assert settings(broadcast_rate=30).delivery_rate == 30
    with pytest.raises(ValidationError, match="above Telegram's limit of 30"):
        settings(broadcast_rate=31)
    assert settings(paid_broadcast=True).delivery_rate == 1000
    assert settings(paid_broadcast=True, broadcast_rate=400).delivery_rate == 400
    with pytest.raises(ValidationError, match="limit of 1000"):
        settings(paid_broadcast=True, broadcast_rate=1001)
    with pytest.raises(ValidationError):
        settings(broadcast_rate=0)


async def test_each_answered_turn_takes_its_share_of_the_budget(tmp_path: Path) -> None:
    """The service answers the speaker directly (never through the engine) and notes it in
    the budget, so bulk sends leave room for the reply."""
    built = build_service(
        settings(
            bot_token="123456:TEST",
            database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            data_key=base64.b64encode(b"k" * 32).decode(),
            data_key_file=tmp_path / "unused",
            broadcast_rate=5,
        ),
        clock=lambda: NOW,
    )
    try:
        budget = built.service.budget
        assert budget is not None and budget.rate == 5
        assert budget.key == budget_key("123456:TEST")
        for update_id in range(1, 4):
            await built.service.handle(
                Incoming(update_id, 7, 7, CommandIssued("start")), RecordingTransport()
            )
        await asyncio.sleep(NOTE_SECONDS * 3)  # the notes land
        stats = await budget.limiter.get_window_stats(budget.window, budget.key)
        assert stats.remaining == 2
    finally:
        await built.aclose()
