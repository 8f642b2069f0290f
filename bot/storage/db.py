"""Engines and migrations for SQLite (the embedded default) and PostgreSQL (production).

SQLite needs care to behave like a real transactional database under threads:
- sqlite3's legacy transaction control skips BEGIN before SELECT and SAVEPOINT, which breaks
  savepoints; we switch it off and emit BEGIN ourselves (the recipe in SQLAlchemy's SQLite docs).
- A deferred transaction that reads and then writes fails at once with "database is locked" when
  another connection committed in between (busy_timeout does not help there). Writers therefore
  take the write lock up front with BEGIN IMMEDIATE: use `immediate(engine)` for write paths.
- WAL lets readers run alongside the single writer; busy_timeout makes writers queue, not fail.
- secure_delete overwrites deleted and replaced content with zeros, so an erased worker's name is
  really gone from the file (UU 27/2022); `checkpoint_wal` then empties the write-ahead log.
- The database file is created mode 0600 (owner only), and with it the -wal and -shm files.
- Time limits, so that a failing or hung database makes a turn fail ("busy") instead of stalling
  it: PostgreSQL connections give up after PG_CONNECT_TIMEOUT_S, statements after
  PG_STATEMENT_TIMEOUT_MS (server side), waiting for a pooled connection after POOL_TIMEOUT_S,
  and TCP keepalives and tcp_user_timeout drop a connection to a host that vanished; SQLite
  writers wait SQLITE_BUSY_TIMEOUT_MS for the write lock. A server process that is frozen while
  its host still acknowledges TCP (SIGSTOP) is caught by none of these: the thread waits until it
  resumes, the service's turn time limit answers the user meanwhile, and the turn, when its
  thread resumes, rolls back instead of committing late (bot.storage.state.TurnJournal).
- Migrations rebuild tables (batch mode) and run with foreign keys off, as SQLite's documentation
  prescribes for rebuilding a referenced table; the keys are checked before commit.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
_IMMEDIATE = "peduli_sqlite_begin_immediate"


Database = Engine
"""An engine as code above storage holds it (it may not import SQLAlchemy itself)."""


def shown_url(url: str | URL) -> str:
    """The database's URL for a message: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def normalize_url(url: str | URL) -> URL:
    """Use psycopg 3 for plain postgresql:// (and postgres://) URLs: it is the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


THREADS = min(32, (os.cpu_count() or 1) + 4)
"""Worker threads of asyncio.to_thread's default executor (ThreadPoolExecutor's default on
Python 3.11): the bot reaches the database from those threads."""
POOL_SIZE = THREADS + 2
"""Connections the pool keeps open: one per worker thread, the event loop's own thread and one
spare. A smaller pool (SQLAlchemy's default is 5) made each thread beyond it open a connection
of its own and close it after use: a new PostgreSQL session (a backend process) per update
under load, and SQLite's connection pragmas run again."""

PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 10_000
POOL_TIMEOUT_S = 5
PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": PG_CONNECT_TIMEOUT_S,
    # A server host that vanished (power, network) sends no RST: without these a query would
    # wait for TCP's own limits, hours. Data unacknowledged for 15 s, or an idle connection
    # unanswered by 3 probes 5 s apart after 10 s, and the connection is dropped.
    "tcp_user_timeout": 15_000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def create_db_engine(url: str | URL) -> Engine:
    """An engine with the settings this project relies on (see the module docstring)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            parsed,
            pool_size=POOL_SIZE,
            # The connection used last is taken first: under load the same few stay busy and
            # are never pinged (IdlePing), the rest age in the pool and are pinged when needed.
            pool_use_lifo=True,
            pool_timeout=POOL_TIMEOUT_S,
            connect_args=PG_CONNECT_ARGS,
        )
        event.listen(engine, "connect", _postgresql_on_connect)
        IdlePing(engine).listen()
        return engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT_S)
    database = parsed.database or ""
    file_database = bool(database) and database != ":memory:" and not database.startswith("file:")
    if file_database:
        _private_database_file(Path(database).expanduser())
    # No pre-ping: a connection to a local file does not drop, and the ping was a statement
    # per checkout. In-memory and URI databases keep SQLAlchemy's own choice of pool.
    pooled: dict[str, Any] = {}
    if file_database:
        pooled = {"pool_size": POOL_SIZE, "pool_timeout": POOL_TIMEOUT_S}
    engine = create_engine(parsed, connect_args={"check_same_thread": False}, **pooled)
    event.listen(engine, "connect", _sqlite_on_connect)
    gate = WriterGate()
    event.listen(engine, "begin", gate.begin)
    event.listen(engine, "commit", gate.committing)
    event.listen(engine, "rollback", gate.rolling_back)
    event.listen(engine.pool, "checkin", gate.checkin)
    event.listen(engine.pool, "invalidate", gate.invalidated)
    return engine


IDLE_BEFORE_PING_S = 2.0
"""A pooled PostgreSQL connection back in the pool longer than this is pinged before use."""
_RETURNED_AT = "peduli_returned_at"


class IdlePing:
    """PostgreSQL: a connection that sat idle in the pool is pinged (`SELECT 1`) before a turn
    uses it, so a server restarted or a connection dropped meanwhile (a proxy's idle timeout, a
    failover) is replaced at once instead of failing the user's turn. SQLAlchemy's
    pool_pre_ping pings on EVERY checkout: one more round trip per update, for a connection
    that was in use a few milliseconds earlier. A connection dropped in that short while fails
    the turn ("busy", nothing saved) and the disconnect empties the pool, so the next turn
    starts on new connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def listen(self) -> None:
        event.listen(self.engine.pool, "checkin", self.checkin)
        event.listen(self.engine.pool, "checkout", self.checkout)

    @staticmethod
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    def checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        # No mark: the connection was opened for this checkout (info is emptied when one is
        # closed or invalidated), or is taken again before its check-in (nested use).
        if returned_at is None or time.monotonic() - returned_at < IDLE_BEFORE_PING_S:
            return
        dialect = self.engine.dialect
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # The pool replaces this connection and tries again (SQLAlchemy's own recipe).
            raise exc.DisconnectionError("idle connection found dropped")


def _private_database_file(path: Path) -> None:
    """Create the SQLite file (and a missing directory) readable by its owner only: it holds
    names and sealed identifiers. SQLite gives the -wal and -shm files it creates the database
    file's mode, so they are private too. An existing file others can read is left as it is,
    with a warning (it may be shared on purpose)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning(
                "the database file %s can be read by other users (mode %o); run: chmod 600 %s",
                path,
                mode,
                path,
            )
        return
    os.close(descriptor)  # an empty file is an empty SQLite database


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves in WriterGate.begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()


def _postgresql_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """A statement that runs longer than PG_STATEMENT_TIMEOUT_MS (a lock held by a stuck
    session, a slow disk) is cancelled by the server, so no turn waits on it for ever."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS}")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _sqlite_foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = OFF")  # outside any transaction, or it is ignored
    finally:
        cursor.close()


CHECKPOINT_TIMEOUT_MS = 2_000


def checkpoint_wal(engine: Engine) -> None:
    """SQLite: copy the write-ahead log into the database file and truncate it, so pages that
    held erased data do not linger in the log. A no-op elsewhere; best effort when readers are
    busy (the next checkpoint catches up)."""
    if engine.dialect.name != "sqlite":
        return
    # On the raw connection, outside any transaction: inside one (SQLAlchemy begins one before
    # any statement) the checkpoint would wait on its own read snapshot for the whole busy
    # timeout. A short timeout of its own keeps a busy reader from stalling the user's turn.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_TIMEOUT_MS}")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()
    finally:
        raw.close()


_HOLDS_GATE = "peduli_holds_writer_gate"


class WriterGate:
    """SQLite: the threads of this process queue for the write lock on a Python lock, woken the
    moment it is free, instead of in SQLite's busy handler, which sleeps 1, 2, 5 ... up to
    100 ms between attempts and serves no one in order (under load a turn waited seconds for a
    lock free most of the time). BEGIN IMMEDIATE still takes SQLite's own lock, so other
    processes on the same file (a CLI command) are kept out as before.

    Taken at the BEGIN of an immediate transaction, given back at its COMMIT or ROLLBACK, and at
    the latest when the connection returns to the pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: Connection) -> None:
        if not connection.get_execution_options().get(_IMMEDIATE, False):
            connection.exec_driver_sql("BEGIN")
            return
        info = connection.connection.info
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            # As SQLite's busy timeout would have given up (a store error: "busy").
            raise TimeoutError("the SQLite write lock stayed taken in this process")
        info[_HOLDS_GATE] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._release(info)
            raise

    # SQLAlchemy calls these BEFORE the driver's commit or rollback: the gate given back there
    # let the next writer's BEGIN IMMEDIATE find SQLite's lock still held ("database is
    # locked", or a wait in the busy handler the gate is there to avoid). So the transaction is
    # ended here first; the driver's own call after it finds none and does nothing.
    def committing(self, connection: Connection) -> None:
        info = connection.connection.info
        if info.get(_HOLDS_GATE, False):
            connection.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        self._release(info)

    def rolling_back(self, connection: Connection) -> None:
        info = connection.connection.info
        if info.get(_HOLDS_GATE, False):
            connection.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        self._release(info)

    def checkin(self, _dbapi_connection: Any, record: Any) -> None:
        self._release(record.info)

    def invalidated(self, _dbapi_connection: Any, record: Any, _error: Any) -> None:
        self._release(record.info)

    def _release(self, info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_GATE, False):
            self._lock.release()


def immediate(engine: Engine) -> Engine:
    """The same engine (same pool), but SQLite transactions begin with the write lock held.

    Use it for every transaction that may write. No effect on PostgreSQL.
    """
    return engine.execution_options(**{_IMMEDIATE: True})


def dialect_insert(dialect_name: str) -> Any:
    """The dialect's INSERT, which has on_conflict_do_update / on_conflict_do_nothing (upserts
    in one statement: no read-then-write race between processes)."""
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(
        f"upserts are implemented for SQLite and PostgreSQL, not {dialect_name}"
    )


HEAD_REVISION = "0015_stats"
"""The newest migration's revision (bot/storage/migrations/versions), known without importing
Alembic (11 MB of memory, 0.2 s): a database already there is not migrated at start, one query
tells (`revision_of`). tests/integration/test_migrations.py checks that it is Alembic's head, so
a migration added without updating it fails the tests."""


def revision_of(connection: Connection) -> str | None:
    """The database's migration revision, read with one plain query (Alembic's own table);
    None when it was never migrated, or the table is not one Alembic left at one revision."""
    try:
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except exc.DBAPIError:  # no such table: a new database
        connection.rollback()
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration built in code: no alembic.ini needed.

    With a connection, env.py migrates through it (inside the caller's transaction).
    """
    from alembic.config import Config  # here, not at start-up: only a migration needs it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration as Alembic reads it from the scripts (HEAD_REVISION is its copy)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def not_migrated(engine: Engine) -> str | None:
    """Why a command that reads the database cannot run on it yet (it is not at the newest
    migration), for the operator; None when it is."""
    with engine.connect() as connection:
        current = revision_of(connection)
    if current == HEAD_REVISION:
        return None
    return (
        f"the database {shown_url(engine.url)} is at revision {current or 'none'}, not"
        f" {HEAD_REVISION}: run `peduli db upgrade` first, or {ELSEWHERE}"
    )


ELSEWHERE = "point DATABASE_URL at another database (or add --playground for the playground's)"
"""How an operator points a command at another database: every message about one says it."""


def missing_database(url: str | URL) -> str | None:
    """Why a command that needs an existing database cannot use this one without creating an
    empty one (a SQLite file that does not exist), for the operator; None when it exists or
    lives on a server (PostgreSQL reports a missing database when connecting)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if Path(database).expanduser().exists():
        return None
    return (
        f"there is no database at {shown_url(parsed)} (DATABASE_URL): run `peduli db upgrade`"
        f" to create it, or {ELSEWHERE}"
    )


def migration_engine(url: str | URL) -> Engine:
    """An engine for migrations: on SQLite its connections have foreign keys off (batch mode
    drops and renames tables that others reference); call `check_foreign_keys` before commit."""
    engine = create_db_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_foreign_keys_off)  # runs after _sqlite_on_connect
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _no_statement_timeout)  # a migration may take long
    return engine


def _no_statement_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET statement_timeout = 0")
    finally:
        cursor.close()
    dbapi_connection.commit()


def check_foreign_keys(connection: Connection) -> None:
    """SQLite: fail (and so roll back) when a migration left a dangling foreign key."""
    if connection.dialect.name != "sqlite":
        return
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        tables = sorted({str(row[0]) for row in problems})
        raise RuntimeError(f"migration left dangling foreign keys in {', '.join(tables)}")


def _migrate(url: str | URL, run: Callable[[Config], None]) -> None:
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            run(alembic_config(connection))
            check_foreign_keys(connection)
    finally:
        engine.dispose()


def at_head(url: str | URL) -> bool:
    """Whether the database is at the newest migration (one query, no Alembic)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return revision_of(connection) == HEAD_REVISION
    finally:
        engine.dispose()


def upgrade_database(url: str | URL) -> None:
    """Apply every migration up to head; a no-op when the database is already there, told by
    one query without importing Alembic (what a bot's start finds almost always)."""
    if not at_head(url):
        migrate_to_head(url)


def migrate_to_head(url: str | URL) -> None:
    """Apply the migrations the database lacks, with Alembic."""
    from alembic import command

    _migrate(url, lambda config: command.upgrade(config, "head"))


def downgrade_database(url: str | URL, revision: str = "base") -> None:
    from alembic import command

    _migrate(url, lambda config: command.downgrade(config, revision))
