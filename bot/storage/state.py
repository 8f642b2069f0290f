"""Conversation state, the turn journal and per-user locks (contracts in ports.py).

Two families:
- SQL (the single-process default): sessions live in the same database as everything else, so a
  restart loses nothing and a turn's session is saved in the turn's own transaction; locks are
  in-process asyncio locks, which is all a single process needs.
- Redis (REDIS_URL set): sessions and locks shared by several bot processes; locks work across
  them. The turn journal stays in SQL, where the turn's commands commit.

The turn journal (TurnJournal, processed_updates) is what makes an update "processed": its row
commits with the turn, never before (see the class). There is no claim taken before the turn, so
a process that dies mid-turn leaves nothing that would make a redelivery be ignored.

The SQL stores run their short synchronous statements in asyncio.to_thread so the event loop never
waits on disk or network. Every store call has a time limit: Redis commands REDIS_TIMEOUT_SECONDS,
SQL statements and connections the limits set in bot.storage.db.

Session documents hold the answers of a conversation in progress, which can include a worker's
NIK or phone number; answers waiting in the journal can too. Pass a Sealer and both are sealed at
rest (AES-GCM), in SQL and Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    suppress,
)
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

import redis.asyncio as aioredis
from redis import exceptions as redis_exc
from redis.exceptions import RedisError
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Executable,
    Integer,
    bindparam,
    cast,
    delete,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.orm import Session

from bot import faults
from bot.security.crypto import SealedDataError, Sealer
from bot.storage.db import dialect_insert, immediate
from bot.storage.models import TURN_PENDING, ConversationSession, ProcessedUpdate, utc_now
from bot.storage.ports import SessionStore, UserLocks

logger = logging.getLogger(__name__)

#: With Redis sessions, how long answers delivered while nothing else was in flight wait for the
#: next turn's transaction to clear their rows before a transaction of their own does it. Their
#: marks are in Redis already (another process or a restart reads them there), so the rows are
#: housekeeping; under a steady trickle of updates (a paced 100/s keeps about one in flight) the
#: next turn clears them in its own transaction, instead of one more transaction per update.
FLUSH_DELAY_SECONDS = 1.0

STORE_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,  # the turn's time limit, a lock wait, TurnAbandoned, socket timeouts
    OSError,  # the network
    sqlalchemy_exc.OperationalError,  # connection lost or refused, statement timeout, SQLite busy
    sqlalchemy_exc.InterfaceError,
    sqlalchemy_exc.TimeoutError,  # no pooled connection in time
    redis_exc.ConnectionError,
    redis_exc.TimeoutError,
    redis_exc.ReadOnlyError,  # a replica during failover
)
"""Failures of a store, not of the code: the user is told "busy" (a bug gets the apology)."""

SESSION_TTL_SECONDS = 90 * 24 * 3600


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
        self._writer = single_statement(engine, write=True)
        self._reader = single_statement(engine, write=False)
        self._sealer = sealer
        self._table = ConversationSession.__table__  # type: ignore[attr-defined]
        table = self._table
        user_id = bindparam("user_id", type_=BigInteger)
        self._select = select(table.c.document).where(table.c.user_id == user_id)
        self._delete_one = delete(table).where(table.c.user_id == user_id)
        self._upsert = session_upsert(engine.dialect.name)

    async def load(self, user_id: int) -> dict[str, Any] | None:
        stored = await asyncio.to_thread(self._load, user_id)
        return None if stored is None else _decode_or_drop(stored, self._sealer, user_id)

    async def save(self, user_id: int, document: dict[str, Any]) -> None:
        await asyncio.to_thread(self._save, user_id, _encode(document, self._sealer))

    async def delete(self, user_id: int) -> None:
        await asyncio.to_thread(self._delete, user_id)

    def _load(self, user_id: int) -> str | None:
        with self._reader.connect() as connection:
            return connection.scalar(self._select, {"user_id": user_id})

    def _save(self, user_id: int, stored: str) -> None:
        with self._writer.begin() as connection:
            self.write(connection, user_id, stored, utc_now())

    def read(self, db: Connection | Session, user_id: int) -> str | None:
        """The encoded document inside the caller's transaction (the turn journal's)."""
        return _connection(db).scalar(self._select, {"user_id": user_id})

    def write(self, db: Connection | Session, user_id: int, stored: str, now: datetime) -> None:
        """Upsert an encoded document inside the caller's transaction (the turn journal's)."""
        _connection(db).execute(
            self._upsert, {"user_id": user_id, "document": stored, "updated_at": now}
        )

    def _delete(self, user_id: int) -> None:
        with self._writer.begin() as connection:
            connection.execute(self._delete_one, {"user_id": user_id})


def single_statement(engine: Engine, *, write: bool) -> Engine:
    """The engine for ONE statement outside a turn (clearing delivered answers, saving or
    reading a session, the backlog): on PostgreSQL in autocommit, a statement alone being
    atomic, so no BEGIN and COMMIT (or ROLLBACK) round trips around it (psycopg sends BEGIN as
    a command of its own, and a ROLLBACK makes it forget its prepared statements); on SQLite a
    write takes an immediate transaction as every write (writers queue for the lock)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return immediate(engine) if write else engine


def _connection(db: Connection | Session) -> Connection:
    """The Connection of the caller's transaction: the journal's statements are Core, built once,
    and run on it (an ORM Session's execute costs more, for nothing they need)."""
    return db.connection() if isinstance(db, Session) else db


def session_upsert(dialect_name: str) -> Any:
    """The SQL session store's upsert (user_id, document, updated_at as bind parameters)."""
    table = ConversationSession.__table__  # type: ignore[attr-defined]
    insert = dialect_insert(dialect_name)(table).values(
        user_id=bindparam("user_id", type_=BigInteger),
        document=bindparam("document", type_=table.c.document.type),
        updated_at=bindparam("updated_at", type_=table.c.updated_at.type),
    )
    return insert.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"document": insert.excluded.document, "updated_at": insert.excluded.updated_at},
    )


class TurnAlreadyCommitted(RuntimeError):
    """Another handling of the same update committed first; this one was rolled back."""


class TurnAbandoned(TimeoutError):
    """The turn's deadline passed before its commit: rolled back, so "not processed" is true."""


@dataclass(frozen=True)
class PendingTurn:
    """A committed turn whose answer was not delivered yet."""

    update_id: int
    answer: dict[str, Any]


class Prepared(NamedTuple):
    """What a turn reads before its transaction (TurnJournal.prepare): with Redis sessions,
    the session document and the updates whose answers were marked delivered there."""

    document: dict[str, Any] | None
    delivered: frozenset[int]


class TurnResult(NamedTuple):
    """What TurnJournal.turn did: the answers owed from earlier turns (oldest first), whether
    the update was processed already, the turn's (session document, answer) when it committed
    now, and, when nothing new committed, the journal's newest session copy (update_id, sealed)
    still to write to Redis (settle_seen)."""

    owed: list[PendingTurn]
    seen: bool
    committed: tuple[dict[str, Any], dict[str, Any]] | None
    copy: tuple[int, str] | None


Unit = Callable[[], AbstractContextManager[Session]]
"""Opens the turn's one transaction (Repository.unit): commits on leaving, rolls back on error."""
TurnBody = Callable[[Session, dict[str, Any] | None], tuple[dict[str, Any], dict[str, Any]] | None]
"""Inside the turn's transaction, given the session document: (new session document, answer),
or None to record nothing."""


class Backlog(NamedTuple):
    """What catch_up found: answers owed to the user, and whether the update was processed."""

    owed: list[PendingTurn]
    seen: bool


Conclude = Callable[[Session, list[Any]], tuple[dict[str, Any], dict[str, Any]]]
"""Inside the turn's transaction, after its commands: (new session document, answer to send)."""
RunCommands = Callable[[Callable[[Session, list[Any]], None]], Any]
"""Runs the turn's commands in one transaction, calling the given hook before the commit
(Repository.apply with `then=`)."""


class TurnJournal:
    """Makes an update's turn one outcome: its commands, its session document, the update id
    marked processed and its answer commit together, or none of them does.

    The commit point is the row of processed_updates, written in the transaction of the turn's
    commands (Repository.apply's `then` hook). So:
    - an update whose turn never committed (the process died before, a store failed, the deadline
      passed) has no row: a redelivery is handled like the first delivery;
    - an update whose turn committed has a row: it is never applied again; its answer stays in
      the row (sealed) until `delivered`, and catch_up returns it to be sent until then.

    Sessions in SQL (the default): the session document is written in the same transaction.
    Sessions in Redis: the document is kept (sealed) in the row too, and `publish` writes it to
    Redis after the commit. If the process dies in between, or Redis fails, `catch_up` (called
    under the user's lock before each turn, and before anything reads the session) finds the
    row and writes its document to Redis ("roll forward"). Turns of one user are serialised by
    the lock, and catch_up settles every row it finds before the next turn can commit, so the
    newest row with a document is the user's latest committed turn. The copy is dropped with
    the answer once delivered, or, when it never reached Redis, by the catch_up that wrote it.

    Guarantee with Redis sessions, precisely: the SQL commit decides; Redis holds at worst the
    session of the turn before, and only until the user's next update (or the redelivery) is
    handled, which rewrites it before reading it. If the user's lock is lost (Redis down for
    longer than the lock's expiry while a turn runs), two turns of one user may overlap; the
    journal still commits each update once.
    """

    def __init__(
        self,
        engine: Engine,
        sessions: SessionStore,
        *,
        sealer: Sealer | None = None,
        retention: timedelta = timedelta(days=2),
        prune_interval: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._writer = single_statement(engine, write=True)
        self._reader = single_statement(engine, write=False)
        self._sessions = sessions
        self._sql_sessions = sessions if isinstance(sessions, SqlSessionStore) else None
        self._sealer = sealer
        self._retention = retention
        self._prune_interval = prune_interval
        self._clock = clock
        self._next_prune: datetime | None = None
        self._table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
        self._sql = JournalStatements.build(engine.dialect.name, sql_sessions=self._sql_sessions)
        # Answers delivered, rows not cleared yet: {update_id: session written to Redis};
        # waiting for a transaction, and taken by one that has not committed yet. Both are
        # not owed: on PostgreSQL a turn may read a row while another clears it.
        self._marks: dict[int, bool] = {}
        self._flushing: dict[int, bool] = {}
        self._marks_lock = threading.Lock()
        self.flush_delay = FLUSH_DELAY_SECONDS
        self._flush_later: asyncio.Task[None] | None = None

    @property
    def sessions(self) -> SessionStore:
        return self._sessions

    # ---- the one-transaction turn (the service's path) -----------------------------------------

    async def prepare(self, user_id: int) -> Prepared:
        """Before a turn, under the user's lock: with Redis sessions, the session and the
        updates another process delivered answers for last (one round trip); with SQL
        sessions nothing (the turn's transaction reads them)."""
        if isinstance(self._sessions, RedisSessionStore):
            document, delivered = await self._sessions.load_with_delivered(user_id)
            return Prepared(document, delivered)
        return Prepared(None, frozenset())

    def open(self, user_id: int, locks: UserLocks) -> AbstractAsyncContextManager[OpenTurn]:
        """The user's lock, then `prepare`; leaving releases the lock. The service's way into a
        turn: OpenTurn.close after the sends publishes the session and notes the deliveries.

        Sessions and locks in the same Redis (build_state): taking the lock and reading the
        session and the delivered marks are one Lua script, one round trip (retried while
        another holds the lock), and close is one more (RedisOpenTurn): two per update."""
        sessions = self._sessions
        if (
            isinstance(locks, RedisUserLocks)
            and isinstance(sessions, RedisSessionStore)
            and same_redis(locks.client, sessions.client)
        ):
            return self._open_in_redis(user_id, locks, sessions)
        return self._open(user_id, locks)

    @asynccontextmanager
    async def _open(self, user_id: int, locks: UserLocks) -> AsyncIterator[OpenTurn]:
        async with locks.hold(user_id):
            yield OpenTurn(self, user_id, await self.prepare(user_id))

    @asynccontextmanager
    async def _open_in_redis(
        self, user_id: int, locks: RedisUserLocks, sessions: RedisSessionStore
    ) -> AsyncIterator[OpenTurn]:
        reads = (sessions.key(user_id), sessions.delivered_key(user_id))
        async with locks.holding(user_id, reads) as held:
            stored, marked = held.values
            document, delivered = sessions.parse(user_id, stored, marked)
            prepared = Prepared(document, delivered)
            yield RedisOpenTurn(self, user_id, prepared, sessions, locks, held)

    @property
    def marks_ttl(self) -> int:
        """Seconds a delivered mark stays in Redis: as long as the journal keeps its row."""
        return int(self._retention.total_seconds())

    def turn(
        self,
        update_id: int,
        user_id: int,
        unit: Unit,
        body: TurnBody,
        *,
        prepared: Prepared,
        deadline: float | None = None,
    ) -> TurnResult:
        """A whole turn in ONE transaction, in a worker thread, under the user's lock: the
        delivered marks of earlier turns cleared, the user's backlog read (answers owed, whether
        this update was processed), the session read (SQL) or taken from the journal's newest
        copy (Redis: it is the latest committed, Redis may lag), then `body` (the user's record,
        the engine, the commands), then the session, the update's row and its answer written.

        `body` returns None to record nothing for this update (declined). A processed update
        (seen) runs no body. Raises TurnAlreadyCommitted / TurnAbandoned as `commit` does; the
        transaction then rolls back, and the delivered marks taken stay for the next one."""
        marks = self._take_marks()
        try:
            with unit() as db:
                result = self._turn_within(db, update_id, user_id, body, prepared, deadline, marks)
        except BaseException:
            self._restore_marks(marks)
            raise
        self._cleared(marks)
        if result.committed is not None:
            faults.reached("turn.after_commit")
        return result

    def _turn_within(
        self,
        db: Session,
        update_id: int,
        user_id: int,
        body: TurnBody,
        prepared: Prepared,
        deadline: float | None,
        marks: dict[int, bool],
    ) -> TurnResult:
        now = self._clock()
        connection = _connection(db)
        self._maybe_prune_within(connection, now)
        self._forget_within(connection, marks)
        known = self._delivered_here()
        # The backlog and, with SQL sessions, the session document: one statement.
        rows, seen, stored = self._backlog_within(connection, user_id, update_id)
        # The newest update the Redis marks name: its turn's session and marks were written in
        # one script (RedisOpenTurn.close), after every answer of the user up to it was sent or
        # given up. A process clears its delivered rows in whichever transaction takes their
        # marks, and those commit in any order: an older row of the user may outlive a newer
        # one, and was taken for owed (sent twice) or its copy for the latest session (the
        # user sent back a step) by the other process (two processes under load).
        settled = max(prepared.delivered, default=None)

        def delivered_elsewhere(update: int) -> bool:
            return update in prepared.delivered or (settled is not None and update <= settled)

        # Delivered by another process (its Redis mark), not cleared there yet: cleared here,
        # the answers only (a session copy is settled below: used, then superseded).
        elsewhere = [
            update
            for update, answer, _ in rows
            if answer and delivered_elsewhere(update) and update not in known
        ]
        if elsewhere:
            self._forget_within(connection, dict.fromkeys(elsewhere, False), user_id=user_id)
        owed = [
            PendingTurn(update, _decode(answer, self._sealer))
            for update, answer, _ in rows
            if answer and update not in known and not delivered_elsewhere(update)
        ]
        copies = [(update, session) for update, _, session in rows if session]
        # The copies Redis may lack: not those of answers this process delivered (their
        # sessions reached Redis before; a newer turn's may be there already, while another
        # transaction still clears such a copy), nor those up to `settled` (Redis holds that
        # turn's session or a later one).
        needed = [
            (update, session)
            for update, session in copies
            if update not in known and not delivered_elsewhere(update)
        ]
        if seen:
            return TurnResult(owed, True, None, needed[-1] if needed else None)
        if self._sql_sessions is not None:
            document = None if stored is None else _decode_or_drop(stored, self._sealer, user_id)
        elif needed:  # Redis lags behind the journal: the newest copy is the latest committed
            document = _decode(needed[-1][1], self._sealer)
            logger.info("user %s: session rolled forward from update %s", user_id, needed[-1][0])
        else:
            document = prepared.document
        concluded = body(db, document)
        if concluded is None:
            return TurnResult(owed, False, None, needed[-1] if needed else None)
        self._record(connection, update_id, user_id, concluded, deadline, now)
        # Copies superseded by this turn's. Not those of answers this process delivered: the
        # transaction clearing those (another user's turn, maybe) drops them, and writing the
        # same rows here would make the two wait for each other (PostgreSQL row locks).
        superseded = [update for update, _ in copies if update not in known or update in marks]
        if superseded:
            connection.execute(self._sql.supersede_unlocked, {"ids": superseded})
        return TurnResult(owed, False, concluded, None)

    def _record(
        self,
        db: Connection | Session,
        update_id: int,
        user_id: int,
        concluded: tuple[dict[str, Any], dict[str, Any]],
        deadline: float | None,
        now: datetime,
    ) -> None:
        """The turn's session (SQL sessions) and its row: the commit point. On PostgreSQL with
        SQL sessions, one statement writes both (the session's upsert in a WITH)."""
        document, answer = concluded
        connection = _connection(db)
        sealed = _encode(document, self._sealer)
        row: dict[str, Any] = {
            "update_id": update_id,
            "user_id": user_id,
            "claimed_at": now,
            "answer": _encode(answer, self._sealer),
            "session": None if self._sql_sessions is not None else sealed,
        }
        record = self._sql.record
        if self._sql_sessions is not None:
            written = {"user_id": user_id, "document": sealed, "updated_at": now}
            if self._sql.record_with_session is not None:
                record = self._sql.record_with_session
                row.update(written)
            else:
                connection.execute(self._sql.session_upsert, written)
        if deadline is not None and time.monotonic() > deadline:
            raise TurnAbandoned(f"update {update_id}: deadline passed before the commit")
        if connection.execute(record, row).first() is None:
            raise TurnAlreadyCommitted(f"update {update_id} was handled meanwhile")
        faults.reached("turn.before_commit")

    async def settle_seen(self, user_id: int, result: TurnResult) -> None:
        """After a turn that committed nothing new (a processed update, or declined): with
        Redis sessions, write the journal's newest session copy there if one was found (a turn
        whose publish failed, or a process that died), then drop the copy."""
        if result.copy is None:
            return
        update_id, stored = result.copy
        await self._sessions.save(user_id, _decode(stored, self._sealer))
        logger.info("user %s: session rolled forward from update %s", user_id, update_id)
        await asyncio.to_thread(self._forget, [update_id], answer=False)

    async def mark_delivered(
        self, user_id: int, delivered: dict[int, bool], *, flush: bool
    ) -> None:
        """Answers sent (or given up): {update_id: session_written}. Their rows are cleared in
        the next turn's transaction of this process, so a turn costs no transaction of its own
        for it; `flush` (nothing else is in flight): clear them now, or with Redis sessions
        `flush_delay` from now unless a turn does first. With Redis, the marks go there too
        first, so another process taking the user's next update knows (prepare)."""
        if not delivered:
            return
        noted = sorted(update for update, written in delivered.items() if written)
        if isinstance(self._sessions, RedisSessionStore) and noted:
            # Only answers whose session reached Redis: the newest marked update bounds what
            # Redis holds (_turn_within's `settled`). One whose session did not is forgotten
            # below and its copy kept, which the next turn rolls forward from.
            await self._sessions.note_delivered(user_id, noted, self.marks_ttl)
        await self._mark_delivered_here(delivered, flush=flush)

    async def _mark_delivered_here(self, delivered: dict[int, bool], *, flush: bool) -> None:
        """mark_delivered's part in this process and SQL (the Redis marks written already)."""
        unpublished = [update for update, written in delivered.items() if not written]
        if unpublished:
            # Redis did not take the session (rare): the answer is forgotten now and the copy
            # kept, so that the user's next turn, whichever transaction clears what, finds
            # this copy as the newest and then supersedes it (never a copy older than one
            # already cleared).
            await asyncio.to_thread(self._forget, unpublished, answer=True, session=False)
        with self._marks_lock:
            self._marks.update({update: True for update, written in delivered.items() if written})
        if not flush:
            return
        if isinstance(self._sessions, RedisSessionStore):
            self._flush_soon()  # the marks are in Redis: the rows can wait for the next turn
        else:
            await self.flush_delivered()

    def _flush_soon(self) -> None:
        """Clear the marked rows `flush_delay` from now, unless a turn's transaction took them
        meanwhile (then the flush finds nothing and costs nothing)."""
        if self._flush_later is None or self._flush_later.done():
            self._flush_later = asyncio.create_task(self._flush_after_delay())

    async def _flush_after_delay(self) -> None:
        await asyncio.sleep(self.flush_delay)
        try:
            await self.flush_delivered()
        except Exception:  # the marks are kept: the next turn or the next flush clears them
            logger.warning("could not clear delivered answers' rows", exc_info=True)

    async def flush_delivered(self) -> None:
        """Clear the answers marked delivered in a transaction of their own (when idle, and
        before the process stops)."""
        later = self._flush_later
        if later is not None and later is not asyncio.current_task():
            later.cancel()  # this flush does its work now
        self._flush_later = None
        marks = self._take_marks()
        if not marks:
            return
        try:
            await asyncio.to_thread(self._flush, marks)
        except BaseException:
            self._restore_marks(marks)
            raise
        self._cleared(marks)

    def _flush(self, marks: dict[int, bool]) -> None:
        with self._writer.begin() as connection:
            self._forget_within(connection, marks)

    def _take_marks(self) -> dict[int, bool]:
        with self._marks_lock:
            marks, self._marks = self._marks, {}
            self._flushing.update(marks)
        return marks

    def _cleared(self, marks: dict[int, bool]) -> None:
        """The transaction that took these marks committed: their rows are cleared."""
        if marks:
            with self._marks_lock:
                for update_id in marks:
                    self._flushing.pop(update_id, None)

    def _restore_marks(self, marks: dict[int, bool]) -> None:
        if marks:
            with self._marks_lock:
                for update_id in marks:
                    self._flushing.pop(update_id, None)
                self._marks = {**marks, **self._marks}

    def _delivered_here(self) -> frozenset[int]:
        """Answers this process delivered whose rows are not cleared yet (for all to see)."""
        with self._marks_lock:
            return frozenset(self._marks.keys() | self._flushing.keys())

    def _forget_within(
        self, connection: Connection, marks: dict[int, bool], *, user_id: int | None = None
    ) -> None:
        """Clear delivered answers (and the session copy where the session reached Redis)."""
        for session_written in (True, False):
            ids = [update for update, written in marks.items() if written is session_written]
            if ids:
                if user_id is None:
                    connection.execute(self._sql.forget[session_written, False], {"ids": ids})
                else:
                    statement = self._sql.forget[session_written, True]
                    connection.execute(statement, {"ids": ids, "owner": user_id})

    def _backlog_within(
        self, connection: Connection, user_id: int, update_id: int
    ) -> tuple[list[tuple[int, str | None, str | None]], bool, str | None]:
        """_pending_rows of the user's backlog, and the SQL session store's document (None
        with Redis sessions, or when the user has none)."""
        rows = connection.execute(
            self._sql.backlog, {"user_id": user_id, "update_id": update_id}
        ).all()
        stored = next((row[4] for row in rows if row[0] is None), None)
        owed, seen = _pending_rows([row for row in rows if row[0] is not None], user_id, update_id)
        return owed, seen, stored

    def _maybe_prune_within(self, connection: Connection, now: datetime) -> None:
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + self._prune_interval
            connection.execute(self._sql.prune, {"before": now - self._retention})

    # ---- the journal's parts, one call each -----------------------------------------------------

    async def seen(self, update_id: int) -> bool:
        """True when this update's turn committed (here or in another process)."""
        return await asyncio.to_thread(self._seen, update_id)

    async def pending(self, user_id: int) -> list[PendingTurn]:
        """catch_up without an update: the answers the user is owed."""
        return (await self.catch_up(user_id, None)).owed

    async def catch_up(self, user_id: int, update_id: int | None) -> Backlog:
        """Before a turn, under the user's lock: finish what a dead process left, and say
        whether `update_id` was processed already (one query).

        With Redis sessions, the session document of the user's latest committed turn is
        written to Redis if it may not be there yet ("roll forward"). Returns the answers not
        yet delivered, oldest first."""
        rows, seen = await asyncio.to_thread(self._backlog, user_id, update_id)
        documents = [(update, session) for update, _, session in rows if session]
        if documents:
            latest_update, latest = documents[-1]
            await self._sessions.save(user_id, _decode(latest, self._sealer))
            logger.info("user %s: session rolled forward from update %s", user_id, latest_update)
        owed = [
            PendingTurn(update, _decode(answer, self._sealer))
            for update, answer, _ in rows
            if answer
        ]
        answered = [update for update, answer, session in rows if session and not answer]
        if answered:  # delivered while Redis was failing: the copy was kept for this moment
            await asyncio.to_thread(self._forget, answered, answer=False)
        return Backlog(owed, seen)

    async def commit(
        self,
        update_id: int,
        user_id: int,
        run: RunCommands,
        conclude: Conclude,
        *,
        deadline: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run the turn's commands and record its outcome in one transaction; returns the new
        session document and the answer. Raises TurnAlreadyCommitted when the update's turn
        committed meanwhile elsewhere, TurnAbandoned when time.monotonic() passed `deadline`
        before the commit (both roll everything back)."""
        concluded: list[tuple[dict[str, Any], dict[str, Any]]] = []

        def record(db: Session, outcomes: list[Any]) -> None:
            result = conclude(db, outcomes)
            concluded.append(result)
            self._record(db, update_id, user_id, result, deadline, self._clock())

        def prune_and_run() -> None:
            self._maybe_prune()
            run(record)

        await asyncio.to_thread(prune_and_run)
        faults.reached("turn.after_commit")
        return concluded[-1]

    async def publish(self, user_id: int, document: dict[str, Any]) -> bool:
        """After the commit, with Redis sessions: write the turn's session document to Redis.
        False when Redis failed: the journal's copy stays, and the next catch_up writes it (the
        turn is committed either way, so this is not a reason to tell the user "busy")."""
        if self._sql_sessions is not None:
            return True  # written in the turn's transaction
        try:
            await self._sessions.save(user_id, document)
        except (RedisError, OSError) as error:
            logger.warning(
                "user %s: session not written to Redis (%s); it will be rolled forward",
                user_id,
                type(error).__name__,
            )
            return False
        return True

    async def delivered(self, update_id: int, *, session_written: bool = True) -> None:
        """The answer was sent (or given up): forget it, and the session copy with it unless
        the session could not be written to Redis (then catch_up still needs it)."""
        await asyncio.to_thread(self._forget, [update_id], answer=True, session=session_written)

    async def prune(self) -> int:
        """Forget turns older than the retention period; returns how many were removed."""
        return await asyncio.to_thread(self._prune, self._clock())

    def _seen(self, update_id: int) -> bool:
        with self._reader.connect() as connection:
            found = connection.scalar(self._sql.seen, {"update_id": update_id})
            return found is not None

    def _backlog(
        self, user_id: int, update_id: int | None
    ) -> tuple[list[tuple[int, str | None, str | None]], bool]:
        with self._reader.connect() as connection:
            rows = connection.execute(
                self._sql.pending, {"user_id": user_id, "update_id": update_id}
            ).all()
        return _pending_rows(rows, user_id, update_id)

    def _forget(self, update_ids: list[int], *, answer: bool, session: bool = True) -> None:
        if answer:
            statement = self._sql.forget[session, False]
        elif session:
            statement = self._sql.supersede  # the session copy alone
        else:
            return
        with self._writer.begin() as connection:
            connection.execute(statement, {"ids": update_ids})

    def _maybe_prune(self) -> None:
        now = self._clock()
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + self._prune_interval
            self._prune(now)

    def _prune(self, now: datetime) -> int:
        with self._writer.begin() as connection:
            result = connection.execute(self._sql.prune, {"before": now - self._retention})
            return result.rowcount


@dataclass(frozen=True)
class JournalStatements:
    """The turn journal's statements, built once per journal (per engine and dialect) with bind
    parameters: a turn runs five of them, and building one per call (coercions, a cache key
    generated per execution) cost more than running it."""

    backlog: Executable
    """A turn's read: the user's pending rows and the update's own (update_id, user_id, answer,
    session, document: NULL), then, with SQL sessions, the session store's document as a last
    row (update_id NULL, document in the fifth column)."""
    pending: Executable
    """The backlog alone (catch_up), update_id NULL matching nothing but the user's rows."""
    seen: Executable
    forget: Mapping[tuple[bool, bool], Executable]
    """(session copy dropped too, the rows of user "owner" only): the UPDATE clearing the
    answers of updates "ids"."""
    supersede: Executable
    supersede_unlocked: Executable
    """The turn's: the copies superseded, those another transaction holds left to it."""
    record: Executable
    """The journal's row; returns its update_id, nothing when the update has one already."""
    session_upsert: Executable
    record_with_session: Executable | None
    """PostgreSQL with SQL sessions: the session's upsert and the journal's row in ONE statement
    (a data-modifying WITH), one round trip fewer; None elsewhere."""
    prune: Executable

    @classmethod
    def build(cls, dialect_name: str, *, sql_sessions: SqlSessionStore | None) -> JournalStatements:
        table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
        user_id = bindparam("user_id", type_=BigInteger)
        update_id = bindparam("update_id", type_=BigInteger)
        ids = bindparam("ids", type_=BigInteger, expanding=True)
        # In parentheses: "user_id = ? AND answer IS NOT NULL OR session IS NOT NULL" matched
        # every user's rows holding a session copy (filtered out after, but read).
        pending = (table.c.user_id == user_id) & text(f"({TURN_PENDING})")
        journal = select(
            table.c.update_id,
            table.c.user_id,
            table.c.answer,
            table.c.session,
            cast(null(), table.c.session.type).label("document"),
            literal_column("0", Integer).label("part"),
            table.c.claimed_at,
        ).where(pending | (table.c.update_id == update_id))
        backlog: Any = journal.order_by(table.c.claimed_at, table.c.update_id)
        if sql_sessions is not None:
            sessions = ConversationSession.__table__  # type: ignore[attr-defined]
            document = select(
                cast(null(), BigInteger),
                cast(null(), BigInteger),
                cast(null(), table.c.answer.type),
                cast(null(), table.c.session.type),
                sessions.c.document,
                literal_column("1", Integer),
                cast(null(), table.c.claimed_at.type),
            ).where(sessions.c.user_id == user_id)
            both = union_all(journal, document)
            columns = both.selected_columns
            backlog = both.order_by(columns.part, columns.claimed_at, columns.update_id)
        # An UPDATE's parameters never take a column's name: SQLAlchemy would add a parameter
        # named like a column to the SET clause.
        owner = bindparam("owner", type_=BigInteger)

        def unlocked(*where: Any) -> Any:
            """The rows of `where` no other transaction holds (PostgreSQL; SQLite's writers
            take turns). A turn clears rows another process delivered (their Redis marks) or
            supersedes their copies, while that process clears the same rows in one of its
            own transactions: waiting there, each holding rows the other wants, deadlocked
            (two bot processes, ~1 turn in 100). A row held is being cleared by its holder."""
            return table.c.update_id.in_(
                select(table.c.update_id).where(*where).with_for_update(skip_locked=True)
            )

        forget = {
            (session_written, mine): update(table)
            .where(
                unlocked(table.c.update_id.in_(ids), table.c.user_id == owner)
                if mine
                else table.c.update_id.in_(ids)
            )
            .values({"answer": null(), **({"session": null()} if session_written else {})})
            for session_written in (True, False)
            for mine in (True, False)
        }
        insert = dialect_insert(dialect_name)(table)
        record = (
            insert.values(
                update_id=update_id,
                user_id=user_id,
                claimed_at=bindparam("claimed_at", type_=table.c.claimed_at.type),
                answer=bindparam("answer", type_=table.c.answer.type),
                session=bindparam("session", type_=table.c.session.type),
            )
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(table.c.update_id)  # rowcount is -1 here with psycopg 3
        )
        upsert = session_upsert(dialect_name)
        combined = None
        if dialect_name == "postgresql" and sql_sessions is not None:
            combined = record.add_cte(upsert.cte("session_written"))
        return cls(
            backlog=backlog,
            pending=select(table.c.update_id, table.c.user_id, table.c.answer, table.c.session)
            .where(pending | (table.c.update_id == update_id))
            .order_by(table.c.claimed_at, table.c.update_id),
            seen=select(table.c.update_id).where(table.c.update_id == update_id),
            forget=forget,
            supersede=update(table).where(table.c.update_id.in_(ids)).values(session=null()),
            supersede_unlocked=update(table)
            .where(unlocked(table.c.update_id.in_(ids)))
            .values(session=null()),
            record=record,
            session_upsert=upsert,
            record_with_session=combined,
            prune=delete(table).where(
                table.c.claimed_at < bindparam("before", type_=table.c.claimed_at.type)
            ),
        )


def _pending_rows(
    rows: Sequence[Sequence[Any]], user_id: int, update_id: int | None
) -> tuple[list[tuple[int, str | None, str | None]], bool]:
    """(update_id, answer, session copy) of the user's turns with something left to do, and
    whether `update_id` is among the processed updates."""
    seen = any(row[0] == update_id for row in rows)
    owed = [
        (int(row[0]), row[2], row[3])
        for row in rows
        if row[1] == user_id and (row[2] is not None or row[3] is not None)
    ]
    return owed, seen


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

    @property
    def ttl(self) -> int:
        """Seconds a session stays in Redis after its last write."""
        return self._ttl

    def key(self, user_id: int) -> str:
        return f"{self._prefix}session:{user_id}"

    def encode(self, document: dict[str, Any]) -> bytes:
        """The stored form of a session document (sealed when the store has a Sealer)."""
        return _encode(document, self._sealer).encode("utf-8")

    async def load(self, user_id: int) -> dict[str, Any] | None:
        stored = await self._client.get(self.key(user_id))
        if stored is None:
            return None
        text = stored.decode("utf-8") if isinstance(stored, bytes) else str(stored)
        return _decode_or_drop(text, self._sealer, user_id)

    async def save(self, user_id: int, document: dict[str, Any]) -> None:
        await self._client.set(self.key(user_id), self.encode(document), ex=self._ttl)

    def delivered_key(self, user_id: int) -> str:
        return f"{self._prefix}delivered:{user_id}"

    async def load_with_delivered(
        self, user_id: int
    ) -> tuple[dict[str, Any] | None, frozenset[int]]:
        """The session and the updates whose answers were delivered last (note_delivered), in
        one round trip."""
        stored, marked = await self._client.mget(self.key(user_id), self.delivered_key(user_id))
        return self.parse(user_id, stored, marked)

    def parse(
        self, user_id: int, stored: Any, marked: Any
    ) -> tuple[dict[str, Any] | None, frozenset[int]]:
        """The session and the delivered marks from the values of their keys (None: absent)."""
        document = None
        if stored is not None:
            text = stored.decode("utf-8") if isinstance(stored, bytes) else str(stored)
            document = _decode_or_drop(text, self._sealer, user_id)
        delivered: frozenset[int] = frozenset()
        if marked:
            raw = marked.decode() if isinstance(marked, bytes) else str(marked)
            delivered = frozenset(int(part) for part in raw.split(",") if part)
        return document, delivered

    async def note_delivered(self, user_id: int, update_ids: list[int], ttl: int) -> None:
        """The answers of these updates were delivered: another process taking the user's next
        update must not send them again before this process clears them in SQL."""
        await self._client.set(self.delivered_key(user_id), marks_value(update_ids), ex=ttl)

    async def delete(self, user_id: int) -> None:
        await self._client.delete(self.key(user_id))


def marks_value(update_ids: Sequence[int]) -> str:
    """The delivered marks as stored: the update ids, comma-separated."""
    return ",".join(str(update_id) for update_id in sorted(update_ids))


def same_redis(first: Any, second: Any) -> bool:
    """Whether two redis-py clients talk to the same server and database (a script of one may
    then touch the keys the other uses)."""
    if first is second:
        return True
    try:
        one = first.connection_pool.connection_kwargs
        two = second.connection_pool.connection_kwargs
    except AttributeError:
        return False
    fields = ("host", "port", "path", "db", "username")
    return all(one.get(name) == two.get(name) for name in fields)


WITHDRAW_ATTEMPTS = 20

_fork_salt = ""  # a child process's own part of every lock token (RedisUserLocks._new_token)


def _salt_after_fork() -> None:
    global _fork_salt
    _fork_salt = os.urandom(6).hex()


os.register_at_fork(after_in_child=_salt_after_fork)

# The lock scripts. A lock is a key holding its owner's token, with an expiry (PX): only the
# holder of the token extends or deletes it, so a process never frees a lock another one took
# after its own expired.

_TAKE_AND_READ = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return false
end
local values = {1}
for i = 2, #KEYS do
    values[i] = redis.call('get', KEYS[i])
end
return values
"""
"""KEYS: the lock, then keys to read; ARGV: token, expiry (ms). The lock taken: 1 and the values
read (nil for an absent key); taken by another: nil."""

_EXTEND = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""
"""KEYS: the lock; ARGV: token, expiry (ms). 1 when extended, 0 when the lock is not ours."""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
"""KEYS: the lock; ARGV: token. 1 when deleted, 0 when the lock is not ours (expired)."""

_CLOSE_TURN = """
if ARGV[2] ~= '' then
    redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
if ARGV[4] ~= '' then
    redis.call('set', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
if KEYS[4] then
    -- one hit in the `limits` library's moving window (its acquire_moving_window.lua, amount 1)
    local timestamp = tonumber(ARGV[6])
    local limit = tonumber(ARGV[7])
    local expiry = tonumber(ARGV[8])
    local entry = redis.call('lindex', KEYS[4], limit - 1)
    if not (entry and tonumber(entry) >= timestamp - expiry) then
        redis.call('lpush', KEYS[4], timestamp)
        redis.call('ltrim', KEYS[4], 0, limit - 1)
        redis.call('expire', KEYS[4], expiry)
    end
end
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('del', KEYS[1])
    return 1
end
return 0
"""
"""The end of a turn (RedisOpenTurn.close). KEYS: the lock, the session, the delivered marks[,
the reply window]; ARGV: token, session ('': unchanged), its expiry (s), marks ('': unchanged),
their expiry (s)[, now (s), the window's size, its length (s)]. Returns as _RELEASE."""


@dataclass
class HeldLock:
    """A lock RedisUserLocks.holding took: its key, token, the values read with it, and the
    task extending it."""

    name: str
    token: str
    values: list[Any]
    keeper: asyncio.Task[None]
    released: bool = False  # a release was attempted (done, or left to a withdrawal)

    async def stop_keeping(self) -> None:
        if not self.keeper.done():
            self.keeper.cancel()
        with suppress(asyncio.CancelledError):
            await self.keeper


class RedisUserLocks:
    """Locks shared by every process using the same Redis.

    A lock is a key holding a token of its holder's (a random prefix of this object's, another
    after a fork, and a counter: unique without a uuid per lock); it is extended and released
    only by a script that checks the token, so a process never frees a lock another one took
    after ours expired. The lock expires after timeout_seconds (a crashed holder cannot block a
    user for ever); while a holder is alive, a background task extends it, so a slow handler
    does not lose its lock halfway. A lock taken by another is tried again every poll_seconds
    for wait_seconds.

    A lock request or release that fails (Redis down or hung, the turn's time up) may still be
    carried out when Redis answers again; a background task then deletes the lock if it holds
    our token, so the user is not locked out until it expires.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "peduli:",
        timeout_seconds: float = 20,
        wait_seconds: float = 10,
        *,
        poll_seconds: float = 0.02,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_seconds
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._withdrawals: set[asyncio.Task[None]] = set()
        self._token_prefix = os.urandom(12).hex()
        self._tokens = itertools.count()
        self._take = client.register_script(_TAKE_AND_READ)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._close_turn = client.register_script(_CLOSE_TURN)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @property
    def timeout_ms(self) -> int:
        return int(self._timeout * 1000)

    def name(self, user_id: int) -> str:
        return f"{self._prefix}lock:{user_id}"

    def _new_token(self) -> str:
        return f"{self._token_prefix}{_fork_salt}:{next(self._tokens)}"

    @asynccontextmanager
    async def holding(self, user_id: int, reads: Sequence[str] = ()) -> AsyncIterator[HeldLock]:
        """The user's lock, with the values of `reads` read in the same script as it was taken
        (HeldLock.values). Leaving releases it, unless `close_turn` did."""
        name, token = self.name(user_id), self._new_token()
        try:
            values = await self._acquire(name, token, reads)
        except BaseException:
            # Redis failed, hung or the turn's time ran out mid-request: the SET may still be
            # carried out when Redis answers again, leaving a lock nobody holds.
            self._withdraw_later(name, token)
            raise
        if values is None:
            raise LockTimeout(f"user {user_id} stayed locked for {self._wait} s")
        held = HeldLock(name, token, values, asyncio.create_task(self._keep_alive(name, token)))
        try:
            yield held
        finally:
            await held.stop_keeping()
            if not held.released:
                held.released = True
                await self._give_back(held, user_id)

    async def _acquire(self, name: str, token: str, reads: Sequence[str]) -> list[Any] | None:
        """The values read once the lock is taken; None when it stayed taken for the wait."""
        keys = [name, *reads]
        args: list[str | int] = [token, self.timeout_ms]
        give_up = time.monotonic() + self._wait
        while True:
            taken = await self._take(keys=keys, args=args)
            if taken is not None:
                return list(taken[1:])
            if time.monotonic() + self._poll > give_up:
                return None
            await asyncio.sleep(self._poll)

    async def _give_back(self, held: HeldLock, user_id: int) -> None:
        try:
            mine = await self._release(keys=[held.name], args=[held.token])
        except (RedisError, OSError):  # the turn is over either way; free the lock later
            logger.warning("could not release the lock of user %s now", user_id)
            self._withdraw_later(held.name, held.token)
            return
        except BaseException:
            self._withdraw_later(held.name, held.token)
            raise
        if not mine:
            logger.warning("lock of user %s expired before release", user_id)

    async def close_turn(
        self, held: HeldLock, user_id: int, keys: Sequence[str], args: Sequence[Any]
    ) -> None:
        """Run _CLOSE_TURN's writes (`keys`, `args`: all but the lock's) and release the lock in
        the same script. Raises what Redis raised; the lock is then deleted later if it is ours
        (the script may still be carried out, or not)."""
        await held.stop_keeping()
        held.released = True
        try:
            mine = await self._close_turn(keys=[held.name, *keys], args=[held.token, *args])
        except BaseException:
            self._withdraw_later(held.name, held.token)
            raise
        if not mine:
            logger.warning("lock of user %s expired before release", user_id)

    @asynccontextmanager
    async def _hold(self, user_id: int) -> AsyncIterator[None]:
        async with self.holding(user_id):
            yield

    def _withdraw_later(self, name: str, token: str) -> None:
        task = asyncio.get_running_loop().create_task(self._withdraw(name, token))
        self._withdrawals.add(task)
        task.add_done_callback(self._withdrawals.discard)

    async def _withdraw(self, name: str, token: str) -> None:
        """Delete the lock if it is (still) ours, retrying until Redis answers or it expires."""
        for _ in range(WITHDRAW_ATTEMPTS):
            try:
                await self._release(keys=[name], args=[token])  # compare-and-delete
                return
            except (RedisError, OSError):
                await asyncio.sleep(self._timeout / WITHDRAW_ATTEMPTS)

    async def _keep_alive(self, name: str, token: str) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self._timeout / 3)
            try:
                extended = await self._extend(keys=[name], args=[token, self.timeout_ms])
            except (RedisError, OSError):
                extended = None  # tried again at the next beat, while the lock may still live
            if extended == 0:
                logger.warning(
                    "could not extend a user lock after %.0f s", time.monotonic() - started
                )
                return
            if extended is None:
                logger.warning("a user lock not extended now (Redis failed); trying again")

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        return self._hold(user_id)


class OpenTurn:
    """A turn's hold on its user (TurnJournal.open): what it read before its transaction
    (`prepared`), its reply counted in the rate budget, and `close`, after the sends."""

    def __init__(self, journal: TurnJournal, user_id: int, prepared: Prepared) -> None:
        self.journal = journal
        self.user_id = user_id
        self.prepared = prepared

    def note_reply(self, budget: ReplyBudget) -> None:
        """The turn committed a reply: count it in the delivery engine's window (never waits)."""
        budget.note_reply()

    async def close(
        self,
        update_id: int,
        document: dict[str, Any] | None,
        delivered: Sequence[int],
        *,
        flush: bool,
    ) -> None:
        """After the sends: the session `document` the turn committed (None: nothing committed
        now) published, with Redis sessions (TurnJournal.publish), and the answers `delivered`
        (the owed ones, then this update's) marked (TurnJournal.mark_delivered; `flush`: their
        rows cleared now). The lock is released on leaving TurnJournal.open."""
        written = True
        if document is not None:
            written = await self.journal.publish(self.user_id, document)
        marks = dict.fromkeys(delivered, True)
        if update_id in marks:
            marks[update_id] = written
        await self.journal.mark_delivered(self.user_id, marks, flush=flush)


class RedisOpenTurn(OpenTurn):
    """Sessions and locks in one Redis: `close` writes the session, the delivered marks and the
    reply's hit in the rate window, and releases the lock, in one script (one round trip). The
    lock is held until then, so no other turn of the user reads the session before it is there.

    If that script fails (Redis down, hung, the time up), it is as if each of the separate writes
    had failed: the session is rolled forward from the journal's copy by the user's next turn,
    the deliveries are not recorded (an answer may be sent once more) and the lock is deleted
    later if it is still ours."""

    def __init__(
        self,
        journal: TurnJournal,
        user_id: int,
        prepared: Prepared,
        sessions: RedisSessionStore,
        locks: RedisUserLocks,
        held: HeldLock,
    ) -> None:
        super().__init__(journal, user_id, prepared)
        self._sessions = sessions
        self._locks = locks
        self._held = held
        self._window: SharedWindow | None = None

    def note_reply(self, budget: ReplyBudget) -> None:
        window = budget.shared_window()
        if window is not None and same_redis(window.client, self._locks.client):
            self._window = window  # counted by close's script
        else:
            budget.note_reply()

    async def close(
        self,
        update_id: int,
        document: dict[str, Any] | None,
        delivered: Sequence[int],
        *,
        flush: bool,
    ) -> None:
        sessions, user_id = self._sessions, self.user_id
        keys = [sessions.key(user_id), sessions.delivered_key(user_id)]
        args: list[Any] = [
            b"" if document is None else sessions.encode(document),
            sessions.ttl,
            marks_value(delivered) if delivered else "",
            self.journal.marks_ttl,
        ]
        window = self._window
        if window is not None:
            keys.append(window.key)
            args += [time.time(), window.limit, window.expiry]
        try:
            await self._locks.close_turn(self._held, user_id, keys, args)
        except (RedisError, OSError) as error:
            logger.warning(
                "user %s: session not written to Redis (%s); it will be rolled forward",
                user_id,
                type(error).__name__,
            )
            raise
        await self.journal._mark_delivered_here(dict.fromkeys(delivered, True), flush=flush)


class SharedWindow(NamedTuple):
    """A moving window of the `limits` library kept in Redis (the delivery engine's budget): a
    turn closing in the same Redis counts its reply there in its own script."""

    client: Any  # the redis-py client of the window's storage (its server is compared)
    key: str  # the window's Redis key, prefix included
    limit: int
    expiry: int  # seconds


class ReplyBudget(Protocol):
    """What a turn needs of the delivery engine's rate budget (bot.delivery.budget.RateBudget)."""

    def note_reply(self) -> None: ...

    def shared_window(self) -> SharedWindow | None: ...


# ---- wiring ------------------------------------------------------------------------------------


REDIS_TIMEOUT_SECONDS = 5.0
"""Every Redis command and connection attempt gives up after this long (socket_timeout and
socket_connect_timeout): a hung Redis makes a turn fail with "busy", it does not stall it."""


class State(NamedTuple):
    """The three state services; a tuple: `sessions, journal, locks = build_state(...)`."""

    sessions: SessionStore
    journal: TurnJournal
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
    redis_timeout: float = REDIS_TIMEOUT_SECONDS,
) -> State:
    """Redis sessions and locks when redis_url is set, else SQL sessions and in-process locks;
    the turn journal is always in the SQL database (the turn's commands commit there)."""
    if redis_url:
        client = aioredis.Redis.from_url(
            redis_url, socket_timeout=redis_timeout, socket_connect_timeout=redis_timeout
        )
        redis_sessions = RedisSessionStore(client, prefix, sealer=sealer)
        return State(
            redis_sessions,
            TurnJournal(engine, redis_sessions, sealer=sealer),
            RedisUserLocks(client, prefix),
        )
    sessions = SqlSessionStore(engine, sealer=sealer)
    return State(sessions, TurnJournal(engine, sessions, sealer=sealer), LocalUserLocks())
