"""What an update costs the database, counted (never timed) over a real conversation: one write
transaction for the turn (the user's record, the session, the commands, the journal's row and the
answer together), the chat written only when it changed, the delivered answers cleared in the next
turn's transaction when other updates are in flight (when none is: at once with SQL sessions, with
Redis sessions after a delay unless a turn comes first), the delivery engine
woken only by a turn with commands, and a pool as large as the threads that use it.

On SQLite, PostgreSQL, and PostgreSQL with Redis sessions."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text

from bot.app import Built, build_service
from bot.settings import Settings
from bot.storage import db
from bot.storage.db import create_db_engine, immediate
from bot.storage.models import ProcessedUpdate
from bot.storage.state import RedisSessionStore
from bot.transport import Outgoing
from tests.e2e.harness import NOW
from tests.integration.turnkit import Chat, Recorder, settings
from tests.migrated import migrate

USER = 7401
OTHER = 7402


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
    migrate(configured.database_url)
    made = build_service(configured, clock=lambda: NOW)
    yield made
    await made.aclose()


class Counts:
    """Transactions and statements on an engine (every thread), from SQLAlchemy's events."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        self.statements: list[str] = []
        self._lock = threading.Lock()
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _commit(self, _connection: Any) -> None:
        with self._lock:
            self.counts["commit"] += 1

    def _rollback(self, _connection: Any) -> None:
        with self._lock:
            self.counts["rollback"] += 1

    def _statement(self, *args: Any) -> None:
        with self._lock:
            self.statements.append(" ".join(str(args[2]).split()).lower())

    @contextmanager
    def during(self) -> Iterator[Counter[str]]:
        """The counts of the block only; "chat_writes": statements writing a chat id into
        telegram_users (remembering the chat; a command setting the language does not)."""
        before, mark = Counter(self.counts), len(self.statements)
        found: Counter[str] = Counter()
        yield found
        found.update(self.counts - before)
        found["chat_writes"] = sum(
            1
            for statement in self.statements[mark:]
            if statement.startswith(("insert into telegram_users", "update telegram_users"))
            and "chat_id" in statement
        )


async def test_a_whole_conversation_costs_one_turn_transaction_per_update(built: Built) -> None:
    """Sign-up and sponsorship, 22 updates handled one at a time: the turn's transaction and
    the clearing of its delivered answer (nothing else in flight), nothing more. The invitation
    after Simpan reads nothing of its own: the turn gave it the sponsor's name for the message
    to forward, so no read-only transaction (a rollback) is left."""
    counts = Counts(built.engine)
    chat = Chat(built.service, USER)
    with counts.during() as spent:
        await chat.to_summary()
        saved = await chat.press("💾 Simpan")
    assert "Tersimpan" in saved and "Dra. Siti Aminah" in saved  # the invitation, signed
    updates = chat.next_update - 1
    assert updates == 22  # the journey as tests/e2e/harness.py walks it
    assert spent["commit"] <= 2 * updates, spent
    assert spent["rollback"] == 0, spent  # no read outside a turn's transaction
    assert spent["chat_writes"] == 1, spent  # the first update's chat only


def journal_statements(statements: list[str]) -> Counter[str]:
    """The turn journal's own statements by kind: reads of the journal or the SQL session
    store, writes of the session, writes of the journal's row."""
    found: Counter[str] = Counter()
    for statement in statements:
        if statement.startswith("select") and (
            "from processed_updates" in statement or "from conversation_sessions" in statement
        ):
            found["reads"] += 1
        if statement.startswith("insert into conversation_sessions"):
            found["session_writes"] += 1
        if "insert into processed_updates" in statement:
            found["row_writes"] += 1
    return found


async def test_a_turn_reads_its_backlog_and_session_in_one_statement_and_writes_them_in_one(
    built: Built,
) -> None:
    """Per update the journal reads once (the user's answers owed, whether the update was
    processed, and with SQL sessions the session document, in one statement) and writes the
    journal's row; on PostgreSQL with SQL sessions the session's upsert rides in the same
    statement (a WITH), on SQLite it is one statement more."""
    counts = Counts(built.engine)
    chat = Chat(built.service, USER)
    mark = len(counts.statements)
    await chat.to_summary()
    assert "Tersimpan" in await chat.press("💾 Simpan")
    updates = chat.next_update - 1
    spent = journal_statements(counts.statements[mark:])
    assert spent["reads"] == updates, spent
    assert spent["row_writes"] == updates, spent
    redis = built.service.journal.sessions is not built.service.journal._sql_sessions
    sqlite = built.engine.dialect.name == "sqlite"
    assert spent["session_writes"] == (updates if sqlite and not redis else 0), spent
    # All the turn's statements, the clearing of delivered answers included (SQLite's BEGIN
    # left out): at most this many per update, Simpan's commands included (before: 8 and 9).
    statements = [s for s in counts.statements[mark:] if not s.startswith("begin")]
    # The kept statistics' own (bot.storage.counts): a change's footprint read before and after
    # the flush, its deltas, the sponsor's row locked on PostgreSQL; only where a sponsor or a
    # sponsorship changes (the sign-up and Simpan), counted apart.
    kept = [s for s in statements if _kept_counts(s)]
    assert len(kept) <= 8, kept
    per_update = 7 if sqlite else 6
    turn = [s for s in statements if not _kept_counts(s)]
    assert len(turn) <= per_update * updates, turn


def _kept_counts(statement: str) -> bool:
    return (
        "stats_deltas" in statement
        or statement.startswith("select sponsors.id, sponsors.agency_code, sponsors.funder_type")
        or (statement.startswith("select sponsors.id from sponsors") and "for update" in statement)
    )


async def test_the_turn_journal_builds_no_statement_per_turn(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's statements are built once, when it is made (JournalStatements), the
    unfinished_flows and telegram_users upserts once per process: building one per call
    (coercions, a cache key per execution) cost more than running it."""
    from bot.storage import lookups, reminders, state

    async def steps(chat: Chat) -> None:
        await chat.say("/start")
        await chat.press("🇮🇩 Bahasa Indonesia")
        await chat.say("198503152010011001")
        await chat.press("✅ Ya, benar")  # the same draft moved on
        await chat.say("/batal")  # the unfinished flow ends: its row deleted

    await steps(Chat(built.service, OTHER, first_update=10_000))  # unfinished_flows' cases
    built_now: list[str] = []

    def counting(made: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            built_now.append(made.__name__)
            return made(*args, **kwargs)

        return counted

    for name in ("select", "update", "delete", "dialect_insert", "bindparam", "union_all"):
        for module in (state, reminders):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting(getattr(module, name)))
    for name in ("dialect_insert", "bindparam"):  # the chat remembered, the language set
        monkeypatch.setattr(lookups, name, counting(getattr(lookups, name)))
    await steps(Chat(built.service, USER))
    await built.service.journal.flush_delivered()
    assert built_now == []


async def test_an_unchanged_chat_is_not_written_again_a_changed_one_is(built: Built) -> None:
    counts = Counts(built.engine)
    chat = Chat(built.service, USER)
    with counts.during() as first:
        await chat.say("/start")
    assert first["chat_writes"] == 1
    with counts.during() as same:
        await chat.say("/start")
        await chat.press("🇮🇩 Bahasa Indonesia")  # a command writes the row, not the chat
        await chat.say("/bantuan")
    assert same["chat_writes"] == 0, same

    moved = Chat(built.service, USER, first_update=chat.next_update)
    moved_incoming = moved.incoming(chat.incoming(text_input("/start")).input)
    with counts.during() as changed:  # the same person in another chat id: remembered
        await built.service.handle(
            type(moved_incoming)(**{**moved_incoming.__dict__, "chat_id": 99_001}),
            moved.transport,
        )
    assert changed["chat_writes"] == 1, changed
    with built.engine.connect() as connection:
        chat_id = connection.scalar(
            text(f"SELECT chat_id FROM telegram_users WHERE user_id={USER}")
        )
    assert chat_id == 99_001


async def test_an_unreachable_person_writing_again_is_reachable(built: Built) -> None:
    chat = Chat(built.service, USER)
    await chat.say("/start")
    with built.engine.begin() as connection:
        connection.execute(
            text("UPDATE telegram_users SET unreachable_at = :at WHERE user_id = :user"),
            {"at": NOW, "user": USER},
        )
    await chat.say("/start")
    with built.engine.connect() as connection:
        found = connection.scalar(
            text(f"SELECT unreachable_at FROM telegram_users WHERE user_id={USER}")
        )
    assert found is None


class HeldTransport(Recorder):
    """A transport whose sends wait until released: an update kept in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.reached.set()
        await self.release.wait()
        return await super().send(chat_id, message)


def owed_answers(built: Built) -> int:
    with built.engine.connect() as connection:
        query = select(func.count()).where(ProcessedUpdate.answer.is_not(None))  # type: ignore[union-attr]
        return int(connection.scalar(query) or 0)


async def test_with_other_updates_in_flight_a_delivered_answer_is_cleared_by_the_next_turn(
    built: Built,
) -> None:
    """Under load the clearing costs no transaction of its own: it rides on the next turn's."""
    counts = Counts(built.engine)
    chat = Chat(built.service, USER)
    await chat.say("/start")
    other = Chat(built.service, OTHER, first_update=10_000)
    held = HeldTransport()
    other.transport = held
    in_flight = asyncio.create_task(other.handle(other.incoming(text_input("/start").input)))
    await held.reached.wait()  # the other's turn committed; its answer is being sent
    assert owed_answers(built) == 1
    with counts.during() as spent:
        shown = await chat.press("🇮🇩 Bahasa Indonesia")
    assert "Ketik NIP" in shown
    assert spent["commit"] == 1, spent  # the turn only: its delivered answer waits
    assert owed_answers(built) == 2  # the other's and this one's, both still in their rows
    held.release.set()
    await in_flight
    # The last update in flight clears every answer delivered, in one transaction: at once with
    # SQL sessions; with Redis sessions (the marks are there) after flush_delay.
    await settle_clearing(built)
    assert owed_answers(built) == 0
    with counts.during() as next_turn:
        await chat.say("198503152010011001")
        await settle_clearing(built)
    assert next_turn["commit"] == 2 and owed_answers(built) == 0


async def settle_clearing(built: Built) -> None:
    """Wait for a clearing TurnJournal._flush_soon scheduled (Redis sessions), if any."""
    later = built.service.journal._flush_later
    if later is not None:
        await later


def redis_sessions(built: Built) -> bool:
    return isinstance(built.service.journal.sessions, RedisSessionStore)


async def test_with_redis_sessions_an_idle_turns_answer_is_cleared_by_the_next_turn_or_later(
    built: Built,
) -> None:
    """Nothing else in flight: with SQL sessions the delivered answer's row is cleared at once
    (a transaction of its own); with Redis sessions, whose marks say it already, it waits for
    the next turn's transaction, and only a process left idle clears it after flush_delay."""
    built.service.journal.flush_delay = 0.3
    counts = Counts(built.engine)
    chat = Chat(built.service, USER)
    with counts.during() as first:
        await chat.say("/start")
    if not redis_sessions(built):
        assert first["commit"] == 2 and owed_answers(built) == 0
        return
    assert first["commit"] == 1 and owed_answers(built) == 1  # the turn only: the row waits
    with counts.during() as second:
        await chat.press("🇮🇩 Bahasa Indonesia")
    # The second turn's transaction cleared the first answer; its own waits in turn.
    assert second["commit"] == 1 and owed_answers(built) == 1
    await asyncio.sleep(0.1)
    assert owed_answers(built) == 1  # not before flush_delay
    with counts.during() as idle:
        await settle_clearing(built)
    assert idle["commit"] == 1 and owed_answers(built) == 0


async def test_answers_delivered_but_not_cleared_are_not_sent_again_after_a_restart(
    built: Built, configured: Settings
) -> None:
    """The process stops (Built.aclose) with delivered answers not cleared yet: they are
    cleared then, and a new process sends nothing twice."""
    chat = Chat(built.service, USER)
    await chat.say("/start")
    built.service._in_flight += 1  # another update in flight: the clearing waits
    try:
        await chat.press("🇮🇩 Bahasa Indonesia")
    finally:
        built.service._in_flight -= 1
    assert owed_answers(built) == 1
    await built.aclose()
    restarted = build_service(configured, clock=lambda: NOW)
    try:
        assert owed_answers(restarted) == 0
        again = Chat(restarted.service, USER, first_update=chat.next_update)
        shown = await again.say("198503152010011001")
        assert "NIP ini menunjukkan" in shown and "Ketik NIP" not in shown
    finally:
        await restarted.aclose()


async def test_another_process_does_not_send_an_answer_this_one_delivered(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Two processes sharing PostgreSQL and Redis: the answer one delivered and has not
    cleared yet (other updates in flight there) is marked in Redis, so the process taking the
    user's next update does not send it again; it clears the row in its own turn."""
    configured = settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    migrate(postgres_url)
    one = build_service(configured, clock=lambda: NOW)
    two = build_service(configured, clock=lambda: NOW)
    try:
        chat = Chat(one.service, USER)
        await chat.say("/start")
        one.service._in_flight += 1
        try:
            assert "Ketik NIP" in await chat.press("🇮🇩 Bahasa Indonesia")
        finally:
            one.service._in_flight -= 1
        assert owed_answers(one) == 1  # delivered, not cleared in SQL
        elsewhere = Chat(two.service, USER, first_update=chat.next_update)
        shown = await elsewhere.say("198503152010011001")
        assert "Ketik NIP" not in shown and "NIP ini menunjukkan" in shown, shown
        # Its own answer's row waits for flush_delay; the one the first process delivered was
        # cleared in its turn (this flush clears only what this process delivered).
        await two.service.journal.flush_delivered()
        assert owed_answers(two) == 0
    finally:
        await one.aclose()
        await two.aclose()


async def test_only_a_turn_with_commands_wakes_the_delivery_engine(built: Built) -> None:
    chat = Chat(built.service, USER)
    await chat.say("/start")  # no command: nothing for the outbox
    assert not built.service.outbox_ready.is_set()
    await chat.press("🇮🇩 Bahasa Indonesia")  # SetLanguage: a command
    assert built.service.outbox_ready.is_set()


def test_the_pool_keeps_a_connection_for_every_thread(tmp_path: Path) -> None:
    """More threads at once than SQLAlchemy's default pool (5): no connection is opened and
    thrown away per use (on PostgreSQL a new server session each time)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    opened: list[int] = []
    event.listen(engine.pool, "connect", lambda *_: opened.append(1))
    threads = ThreadPoolExecutor()._max_workers  # asyncio.to_thread's default executor's size
    barrier = threading.Barrier(threads)

    def use() -> None:
        with engine.connect() as connection:
            barrier.wait(timeout=30)  # every thread holds a connection at once
            connection.execute(text("SELECT 1"))

    try:
        for _ in range(3):
            with ThreadPoolExecutor(threads) as executor:
                list(executor.map(lambda _: use(), range(threads)))
        assert engine.pool.size() >= threads + 1  # type: ignore[attr-defined]
        assert len(opened) == threads  # opened once each, then kept
    finally:
        engine.dispose()


def text_input(words: str) -> Any:
    """An Incoming for `words` (a command when it starts with "/"), of a throwaway Chat."""
    from flows.inputs import CommandIssued, TextReceived

    probe = Chat(None, 0)  # type: ignore[arg-type]
    return probe.incoming(
        CommandIssued(words[1:]) if words.startswith("/") else TextReceived(words, 500)
    )


def test_sqlite_writers_of_one_process_queue_for_the_write_lock_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second writer waits on the process's gate (bot.storage.db.WriterGate), not in SQLite's
    busy handler: with SQLite's busy timeout at 0 it would fail at once with "database is
    locked". The gate is given back at commit, at rollback and when a transaction fails."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 5_000)  # a gate kept: fail, not hang
    engine = create_db_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}")
    event.listen(engine, "connect", no_busy_wait)  # after the engine's own connect settings
    writer = immediate(engine)
    with writer.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    first_in, first_may_go = threading.Event(), threading.Event()

    def first() -> None:
        with writer.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            first_in.set()
            first_may_go.wait(timeout=30)

    def write_seven() -> None:
        with writer.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (7)"))

    def second() -> None:
        first_in.wait(timeout=30)
        with writer.begin() as connection:  # waits for the first to commit
            connection.execute(text("INSERT INTO t VALUES (2)"))

    try:
        with ThreadPoolExecutor(2) as executor:
            done = [executor.submit(first), executor.submit(second)]
            first_in.wait(timeout=30)
            first_may_go.set()
            for future in done:
                future.result(timeout=60)
        with pytest.raises(RuntimeError), writer.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (3)"))
            raise RuntimeError("rolled back")
        with writer.connect() as connection:  # a rollback, without commit
            connection.begin()
            connection.execute(text("INSERT INTO t VALUES (4)"))
            connection.rollback()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT group_concat(n) FROM t")) == "1,2"
        with writer.begin() as connection:  # the gate was given back each time
            connection.execute(text("INSERT INTO t VALUES (5)"))
        with writer.connect() as kept:  # committed, its connection not given back yet
            kept.begin()
            kept.execute(text("INSERT INTO t VALUES (6)"))
            kept.commit()
            with ThreadPoolExecutor(1) as executor:
                executor.submit(write_seven).result(timeout=60)
    finally:
        engine.dispose()


def no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    cursor.close()


async def test_an_answer_being_cleared_by_another_transaction_is_not_owed(built: Built) -> None:
    """On PostgreSQL the user's next turn may read the row of an answer this process delivered
    while another turn's transaction, not committed yet, clears it: not sent again."""
    chat = Chat(built.service, USER)
    await chat.say("/start")
    built.service._in_flight += 1  # another update in flight: the clearing waits
    try:
        await chat.press("🇮🇩 Bahasa Indonesia")
    finally:
        built.service._in_flight -= 1
    taken = built.service.journal._take_marks()  # as a turn of another user does at its start
    assert list(taken) == [chat.next_update - 1] and owed_answers(built) == 1
    shown = await chat.say("198503152010011001")  # that transaction has not committed yet
    assert "Ketik NIP" not in shown and "NIP ini menunjukkan" in shown, shown
    built.service.journal._cleared(taken)


async def test_a_turn_does_not_wait_for_the_transaction_clearing_its_last_answer(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """PostgreSQL + Redis: another turn's transaction has taken this user's delivered answer to
    clear it (its row locked) and has not committed; the user's next turn writes nothing to that
    row, so it commits without waiting (else it would wait until the statement timeout, 10 s,
    and answer "busy")."""
    from sqlalchemy.orm import Session as OrmSession

    from bot.service import Handled

    configured = settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    migrate(postgres_url)
    built = build_service(configured, clock=lambda: NOW)
    journal = built.service.journal
    try:
        chat = Chat(built.service, USER)
        await chat.say("/start")
        built.service._in_flight += 1  # another update in flight: the clearing waits
        try:
            await chat.press("🇮🇩 Bahasa Indonesia")
        finally:
            built.service._in_flight -= 1
        taken = journal._take_marks()
        with OrmSession(built.engine) as other, other.begin():
            journal._forget_within(other, taken)  # the row is locked until this commits
            shown = await chat.say("198503152010011001")
            assert chat.last_handled is Handled.ANSWERED, shown
            assert "NIP ini menunjukkan" in shown
        journal._cleared(taken)
        await journal.flush_delivered()  # the last turn's own answer, waiting for flush_delay
        assert owed_answers(built) == 0
    finally:
        await built.aclose()


async def test_a_session_redis_did_not_take_is_never_used_after_a_newer_one(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Redis failed to take a turn's session (its copy stays in the journal), and the later
    turns' answers are cleared lazily (other updates in flight): each turn starts from the
    session of the turn before, never from that older copy."""
    configured = settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    migrate(postgres_url)
    built = build_service(configured, clock=lambda: NOW)
    journal = built.service.journal
    publish = journal.publish

    async def redis_fails(user_id: int, document: dict[str, object]) -> bool:
        return False

    built.service._in_flight += 1  # other updates in flight throughout
    try:
        chat = Chat(built.service, USER)
        await chat.say("/start")
        journal.publish = redis_fails  # type: ignore[method-assign]
        assert "Ketik NIP" in await chat.press("🇮🇩 Bahasa Indonesia")
        journal.publish = publish  # type: ignore[method-assign]
        assert "NIP ini menunjukkan" in await chat.say("198503152010011001")
        assert "Ketik nama lengkap" in await chat.press("✅ Ya, benar")
        assert "instansi" in await chat.say("Dra. Siti Aminah")
    finally:
        built.service._in_flight -= 1
        journal.publish = publish  # type: ignore[method-assign]
        await built.aclose()


async def test_an_older_copy_still_being_cleared_elsewhere_is_not_taken_for_the_session(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """PostgreSQL + Redis: another transaction has taken the answer of the user's turn N to
    clear it and has not committed (its session copy still visible); turns N+1 and N+2 each
    start from the session of the turn before, not from that copy."""
    configured = settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    migrate(postgres_url)
    built = build_service(configured, clock=lambda: NOW)
    journal = built.service.journal
    built.service._in_flight += 1  # other updates in flight throughout
    try:
        chat = Chat(built.service, USER)
        await chat.say("/start")
        assert "Ketik NIP" in await chat.press("🇮🇩 Bahasa Indonesia")  # turn N
        taken = journal._take_marks()  # another turn's transaction, not committed yet
        assert "NIP ini menunjukkan" in await chat.say("198503152010011001")
        assert "Ketik nama lengkap" in await chat.press("✅ Ya, benar")
        assert "instansi" in await chat.say("Dra. Siti Aminah")
        journal._restore_marks(taken)
    finally:
        built.service._in_flight -= 1
        await built.aclose()


async def test_a_users_backlog_reads_none_of_another_users_rows(built: Built) -> None:
    """The pending condition is in parentheses: "user_id = ? AND answer IS NOT NULL OR session
    IS NOT NULL" read every user's rows holding a session copy (Redis sessions keep one per
    turn until delivered), to drop them after."""
    journal = built.service.journal
    with built.engine.begin() as connection:
        for update_id, user_id in ((501, USER), (502, OTHER), (503, OTHER)):
            connection.execute(
                text(
                    "INSERT INTO processed_updates (update_id, user_id, claimed_at, answer,"
                    " session) VALUES (:update_id, :user_id, :at, 'a', 's')"
                ),
                {"update_id": update_id, "user_id": user_id, "at": NOW},
            )
    with built.engine.connect() as connection:
        for statement in (journal._sql.backlog, journal._sql.pending):
            rows = connection.execute(statement, {"user_id": USER, "update_id": 9}).all()
            assert [row[0] for row in rows if row[0] is not None] == [501]
            rows = connection.execute(statement, {"user_id": USER, "update_id": 503}).all()
            assert sorted(row[0] for row in rows if row[0] is not None) == [501, 503]


async def test_on_postgresql_one_statement_outside_a_turn_goes_without_begin_and_commit(
    built: Built,
) -> None:
    """Clearing a delivered answer when nothing else is in flight is one UPDATE: on
    PostgreSQL it runs in autocommit (psycopg sends BEGIN and COMMIT as round trips of their
    own), while the turn stays one transaction."""
    postgresql = built.engine.dialect.name == "postgresql"
    autocommit: dict[str, list[bool]] = {"clear": [], "turn": []}

    def noted(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi = connection.connection.dbapi_connection
        on = bool(getattr(dbapi, "autocommit", False)) if postgresql else False
        if statement.startswith("UPDATE processed_updates"):
            autocommit["clear"].append(on)
        if "INSERT INTO processed_updates" in statement:
            autocommit["turn"].append(on)

    event.listen(built.engine, "before_cursor_execute", noted)
    built.service.journal.flush_delay = 0.05
    chat = Chat(built.service, USER)
    await chat.say("/start")
    await chat.press("🇮🇩 Bahasa Indonesia")
    await settle_clearing(built)
    assert autocommit["turn"] == [False, False]
    if redis_sessions(built):  # the first cleared in the second turn, the last after the delay
        assert autocommit["clear"] == [False, True]
    else:
        assert autocommit["clear"] == [postgresql, postgresql]
