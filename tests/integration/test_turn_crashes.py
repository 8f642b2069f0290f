"""A bot process that dies mid-turn, at each point where it can matter (bot.faults): the update,
delivered again to a fresh process, is handled exactly once and answered.

(a) "turn.before_commit": everything of the turn written, COMMIT not sent -> nothing of it stays;
    the redelivery is handled like a first delivery.
(b) "turn.after_commit": committed, answer not sent (with Redis, the session not yet in Redis)
    -> the redelivery sends the stored answer (deleting the typed NIK again), applies nothing a
    second time, and the session agrees with the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from bot.app import Built, build_service
from bot.faults import EXIT_STATUS
from bot.settings import Settings
from bot.storage.models import ProcessedUpdate, Sponsorship
from flows.inputs import TextReceived
from tests.e2e.harness import NOW
from tests.integration.turnkit import Chat, run_child, settings, texts
from tests.migrated import migrate

USER = 7301


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def configured(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return settings(f"sqlite:///{tmp_path / 'peduli.sqlite3'}", tmp_path)
    database = str(request.getfixturevalue("postgres_url"))
    if request.param == "postgresql":
        return settings(database, tmp_path)
    return settings(
        database,
        tmp_path,
        redis_url=request.getfixturevalue("redis_url"),
        redis_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def built(configured: Settings) -> AsyncIterator[Built]:
    migrate(configured.database_url)  # a copy of a migrated database: see tests/migrated.py
    made = build_service(configured, clock=lambda: NOW)
    yield made
    await made.aclose()


def forget_locks_of_the_dead(configured: Settings) -> None:
    """With Redis, the dead process's lock on the user stays until it expires (RedisUserLocks'
    timeout; a redelivery meanwhile is answered "busy"): expire it now instead of waiting."""
    if not configured.redis_url:
        return
    client = redis.Redis.from_url(configured.redis_url)
    try:
        locks = list(client.scan_iter(f"{configured.redis_prefix}*:lock:*"))
        if locks:
            client.delete(*locks)
    finally:
        client.close()


def sponsorships(built: Built) -> int:
    with built.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Sponsorship)) or 0)


def owed_answers(built: Built) -> int:
    with built.engine.connect() as connection:
        query = select(func.count()).where(ProcessedUpdate.answer.is_not(None))  # type: ignore[union-attr]
        return int(connection.scalar(query) or 0)


@pytest.mark.parametrize("fault", ["turn.before_commit", "turn.after_commit"])
async def test_simpan_pressed_in_a_process_that_dies_is_saved_once_and_answered(
    built: Built, configured: Settings, fault: str
) -> None:
    chat = Chat(built.service, USER)
    await chat.to_summary()
    simpan = chat.button("💾 Simpan")

    died = run_child(configured, simpan, fault)
    assert died.status == EXIT_STATUS, died.output
    assert died.calls == []  # the user was told nothing
    assert sponsorships(built) == (1 if fault == "turn.after_commit" else 0)

    forget_locks_of_the_dead(configured)
    again = run_child(configured, simpan)  # Telegram delivers the press again
    assert again.status == 0, again.output
    shown = texts(again.calls)
    assert "Tersimpan" in shown, again.output
    assert [c.kind for c in again.calls].count("answer") == 1  # the spinner stops
    assert sponsorships(built) == 1  # never a second sponsorship
    document = await built.state.sessions.load(USER)  # the session agrees with the database
    assert document is None or document.get("flow") != "sponsorship", document
    assert owed_answers(built) == 0

    third = run_child(configured, simpan)  # answered now: nothing more
    assert third.status == 0 and third.calls == [], third.output
    status = await chat.say("/status")
    assert "Ujang Suryana" in status and "Periksa data sebelum disimpan" not in status


@pytest.mark.parametrize("configured", ["sqlite", "redis"], indirect=True)
@pytest.mark.parametrize("fault", ["turn.before_commit", "turn.after_commit"])
async def test_a_typed_nik_in_a_process_that_dies_is_answered_and_deleted(
    built: Built, configured: Settings, fault: str
) -> None:
    chat = Chat(built.service, USER)
    await chat.to_nik()
    nik = chat.incoming(TextReceived("3205014501900001", 777))

    died = run_child(configured, nik, fault)
    assert died.status == EXIT_STATUS and died.calls == [], died.output

    forget_locks_of_the_dead(configured)
    again = run_child(configured, nik)
    assert again.status == 0, again.output
    assert "3205********0001 menunjukkan" in texts(again.calls), again.output
    assert [(c.kind, c.message_id) for c in again.calls if c.kind == "delete"] == [("delete", 777)]
    document = await built.state.sessions.load(USER)
    assert document is not None and document["step"] == "nik_confirm"
    assert run_child(configured, nik).calls == []


@pytest.mark.parametrize("configured", ["sqlite", "redis"], indirect=True)
async def test_an_answer_lost_with_its_process_comes_before_the_next_reply(
    built: Built, configured: Settings
) -> None:
    """Long polling does not deliver an update again once fetched: the answer of a turn that
    committed in a process that died comes with the user's next message instead."""
    chat = Chat(built.service, USER)
    await chat.to_summary()
    died = run_child(configured, chat.button("💾 Simpan"), "turn.after_commit")
    assert died.status == EXIT_STATUS, died.output

    forget_locks_of_the_dead(configured)
    shown = await chat.say("/status")
    assert shown.index("Tersimpan") < shown.index("Ujang Suryana"), shown
    # Both answers delivered; with Redis sessions their rows wait for flush_delay (the marks
    # in Redis say they were sent): cleared now, as a process left idle does.
    await built.service.journal.flush_delivered()
    assert sponsorships(built) == 1 and owed_answers(built) == 0
    assert "Tersimpan" not in await chat.say("/status")  # sent once
