"""The data key against the database: recognise it at every start, and rotate to a new one.

Why: with another DATA_KEY (or none, so a fresh development key is generated) the bot would start,
fail to open every sealed value (sessions, worker links, the outbox) and, worse, compute blind
indexes that match nothing, so "one account per NIP" and "one open sponsorship per NIK" would stop
holding. The database therefore records which key it is under (table key_check: the key's
fingerprint id and a check value derived from it, never the key) and `verified_sealer` refuses to
go on with any other key, with a message saying what to do.

- Empty database: the configured key is recorded.
- A database from before the check existed (data, no record): the key is recorded if it opens the
  stored data, refused otherwise.
- Recorded key == DATA_KEY: go. Recorded key == DATA_KEY_OLD: refused until `peduli keys rotate`.
- DATA_KEY unset, the development key file missing, data present: refused, and no new key file is
  written (the lost key cannot be replaced; a new one would only hide the loss).

`rotate` re-seals every sealed column and recomputes every blind index under DATA_KEY, in one
transaction, then records the new key; Redis sessions follow. It is idempotent: a second run (or a
run after an interruption) re-seals only what is not yet under the new key, and recomputes the
indexes from the plaintext, so they come out right whatever state they were in.

Nothing here imports aiogram: `peduli keys ...` runs without the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from redis import Redis as SyncRedis
from sqlalchemy import Connection, Engine, Table, delete, select, update
from sqlalchemy.engine import make_url

from bot.security.crypto import (
    DataKeyError,
    DevKeyMissingError,
    SealedDataError,
    Sealer,
    decode_old_data_key,
    key_check_value,
    key_id_for,
    load_data_key,
    sealer_for,
)
from bot.storage.db import dialect_insert, immediate, not_migrated, shown_url
from bot.storage.models import (
    ConversationSession,
    CorrectionRequest,
    KeyCheck,
    OutboxMessage,
    ProcessedUpdate,
    RosterEntry,
    Sponsor,
    Sponsorship,
    utc_now,
)

logger = logging.getLogger(__name__)

REAL_TELEGRAM_API = "https://api.telegram.org"
BATCH_SIZE = 500
UNREADABLE = "cannot be opened with DATA_KEY or DATA_KEY_OLD"


class KeySettingsWithDatabase(Protocol):
    """What this module reads from bot.settings.Settings."""

    @property
    def data_key(self) -> str | None: ...

    @property
    def data_key_old(self) -> str | None: ...

    @property
    def data_key_file(self) -> Path: ...

    @property
    def database_url(self) -> str: ...

    @property
    def bot_token(self) -> str | None: ...

    @property
    def telegram_api_url(self) -> str: ...


class KeyCheckError(DataKeyError):
    """The configured data key is not the one the database is under. The message is for the
    operator (printed on stderr): what is wrong and what to do; it never contains a key."""


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


SPONSORS = _table(Sponsor)
SPONSORSHIPS = _table(Sponsorship)
REQUESTS = _table(CorrectionRequest)
OUTBOX = _table(OutboxMessage)
SESSIONS = _table(ConversationSession)
TURNS = _table(ProcessedUpdate)
KEY_CHECK = _table(KeyCheck)
ROSTER = _table(RosterEntry)

SEALED_COLUMNS: frozenset[str] = frozenset(
    {
        "sponsors.nip_sealed",
        "sponsors.phone_sealed",
        "roster.nip_sealed",
        "sponsorships.nik_sealed",
        "sponsorships.worker_phone_sealed",
        "sponsorships.kpj_sealed",
        "requests.details_sealed",
        "outbox.message",
        "conversation_sessions.document",
        "processed_updates.answer",
        "processed_updates.session",
    }
)
"""Every column `rotate` re-seals. A new sealed column must be added here and to the rotation
(tests/integration/test_data_keys.py compares this list with the models)."""
BLIND_INDEX_COLUMNS: frozenset[str] = frozenset(
    {
        "sponsors.nip_index",
        "roster.nip_index",
        "sponsorships.nik_index",
        "sponsorships.active_nik_index",
    }
)
"""Every column `rotate` recomputes."""


@dataclass(frozen=True)
class Recorded:
    key_id: str
    check_value: str


@dataclass(frozen=True)
class KeyState:
    """The outcome of comparing the configured keys with the database (`inspect_keys`)."""

    sealer: Sealer
    key: bytes
    old_key: bytes | None
    recorded: Recorded | None
    """The key the database records; None for an empty database or one from before 0004."""
    to_record: bool
    """Nothing recorded yet and the configured key fits: record it."""


def read_recorded(connection: Connection) -> Recorded | None:
    row = connection.execute(
        select(KEY_CHECK.c.key_id, KEY_CHECK.c.check_value).where(KEY_CHECK.c.id == 1)
    ).first()
    return None if row is None else Recorded(str(row.key_id), str(row.check_value))


def _samples(connection: Connection) -> list[str]:
    """One sealed token from each table that holds some (its oldest row): from the lasting
    tables, or, when they hold none, from the outbox and the conversations in progress."""
    lasting = [
        select(SPONSORS.c.nip_sealed).order_by(SPONSORS.c.id),
        select(SPONSORSHIPS.c.nik_sealed)
        .where(SPONSORSHIPS.c.nik_sealed.is_not(None))
        .order_by(SPONSORSHIPS.c.id),
        select(REQUESTS.c.details_sealed)
        .where(REQUESTS.c.details_sealed.is_not(None))
        .order_by(REQUESTS.c.id),
    ]
    passing = [
        select(OUTBOX.c.message).order_by(OUTBOX.c.id),
        select(SESSIONS.c.document)
        .where(SESSIONS.c.document.not_like("{%"))
        .order_by(SESSIONS.c.user_id),
    ]
    for queries in (lasting, passing):
        found = [connection.scalar(query.limit(1)) for query in queries]
        if tokens := [token for token in found if token is not None]:
            return tokens
    return []


def _opens(sealer: Sealer, tokens: list[str]) -> bool:
    try:
        for token in tokens:
            sealer.open(token)
    except SealedDataError:
        return False
    return True


def _shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _which_key(settings: KeySettingsWithDatabase) -> str:
    if settings.data_key:
        return "DATA_KEY"
    return f"the development key in {settings.data_key_file} (DATA_KEY is not set)"


def _mismatch(settings: KeySettingsWithDatabase, recorded: str, configured: str) -> KeyCheckError:
    return KeyCheckError(
        f"{_which_key(settings)} is not the key the data in {_shown_url(settings.database_url)}"
        f" are sealed with (that key is {recorded}; this one is {configured}).\n"
        "The bot did not start: with another key it could not read the NIK, NIP and phone"
        " numbers it stores, and its duplicate checks would stop working.\n"
        "What to do: set DATA_KEY to the key this database was sealed with"
        + ("" if settings.data_key else f" (or restore {settings.data_key_file} from a backup)")
        + ". If you replaced the key on purpose, set DATA_KEY to the new key and DATA_KEY_OLD to"
        " the previous one, and run `peduli keys rotate` with the bot stopped."
    )


def _rotation_pending(settings: KeySettingsWithDatabase, old: str, new: str) -> KeyCheckError:
    return KeyCheckError(
        f"The data in {_shown_url(settings.database_url)} are still sealed with DATA_KEY_OLD"
        f" (key {old}), not with DATA_KEY (key {new}).\n"
        "What to do: run `peduli keys rotate` with the bot stopped, to re-seal them under"
        " DATA_KEY; then start the bot."
    )


def _dev_key_lost(settings: KeySettingsWithDatabase, recorded: str | None) -> KeyCheckError:
    under = f"key {recorded}" if recorded else "a data key"
    return KeyCheckError(
        f"DATA_KEY is not set and the development key file {settings.data_key_file} does not"
        f" exist, but {_shown_url(settings.database_url)} holds data sealed with {under}.\n"
        "The bot did not start, and no new key was generated: a new key could read none of"
        " these data.\n"
        f"What to do: restore {settings.data_key_file} from a backup, or set DATA_KEY to the key"
        " the data were sealed with."
    )


@dataclass(frozen=True)
class _Loaded:
    recorded: Recorded | None
    samples: list[str]
    key: bytes
    old_key: bytes | None


def _load(settings: KeySettingsWithDatabase, connection: Connection) -> _Loaded:
    recorded = read_recorded(connection)
    samples = [] if recorded is not None else _samples(connection)
    holds_data = recorded is not None or bool(samples)
    try:
        key = load_data_key(settings, create=not holds_data)
    except DevKeyMissingError:
        raise _dev_key_lost(settings, recorded.key_id if recorded else None) from None
    old_key = decode_old_data_key(settings.data_key_old)
    if old_key == key:
        raise KeyCheckError("DATA_KEY_OLD is the same key as DATA_KEY: unset DATA_KEY_OLD.")
    return _Loaded(recorded, samples, key, old_key)


def inspect_keys(settings: KeySettingsWithDatabase, connection: Connection) -> KeyState:
    """Compare the configured keys with what the database records (or, before anything was
    recorded, with the data it holds). KeyCheckError when they do not fit; writes nothing."""
    loaded = _load(settings, connection)
    key, old_key, recorded = loaded.key, loaded.old_key, loaded.recorded
    sealer = sealer_for(key, old_key)
    if recorded is not None:
        if recorded.check_value == key_check_value(key):
            return KeyState(sealer, key, old_key, recorded, to_record=False)
        if old_key is not None and recorded.check_value == key_check_value(old_key):
            raise _rotation_pending(settings, recorded.key_id, key_id_for(key))
        raise _mismatch(settings, recorded.key_id, key_id_for(key))
    if _opens(sealer_for(key), loaded.samples):  # an empty database opens trivially
        return KeyState(sealer, key, old_key, None, to_record=True)
    if old_key is not None and _opens(sealer_for(old_key), loaded.samples):
        raise _rotation_pending(settings, key_id_for(old_key), key_id_for(key))
    raise _mismatch(settings, "not recorded yet", key_id_for(key))


def record_key(connection: Connection, key: bytes) -> None:
    """Record `key` as the one the database is under (insert or replace the single row)."""
    now = utc_now()
    values = {"key_id": key_id_for(key), "check_value": key_check_value(key), "updated_at": now}
    statement = dialect_insert(connection.dialect.name)(KEY_CHECK).values(
        id=1, created_at=now, **values
    )
    connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


def _record_first(connection: Connection, key: bytes) -> None:
    """Record the key unless another process recorded one first; then it must be ours."""
    now = utc_now()
    statement = dialect_insert(connection.dialect.name)(KEY_CHECK).values(
        id=1,
        key_id=key_id_for(key),
        check_value=key_check_value(key),
        created_at=now,
        updated_at=now,
    )
    connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
    recorded = read_recorded(connection)
    if recorded is None or recorded.check_value != key_check_value(key):
        raise KeyCheckError(
            "another process recorded a different data key for this database at the same time;"
            " check DATA_KEY on every bot process."
        )


def command_sealer(settings: KeySettingsWithDatabase, engine: Engine, err: TextIO) -> Sealer | None:
    """What every command that opens the database checks first: the database is migrated and
    DATA_KEY is its key (even a command that reads nothing sealed: another key means another
    database). The Sealer, or None after printing why not to `err` (the command exits 2)."""
    problem = not_migrated(engine)
    if problem is not None:
        print(problem, file=err)
        return None
    try:
        return verified_sealer(settings, engine)
    except DataKeyError as error:
        print(f"peduli: {error}\n(the database: {shown_url(engine.url)})", file=err)
        return None


def verified_sealer(settings: KeySettingsWithDatabase, engine: Engine) -> Sealer:
    """The Sealer of the configured keys, once they are proved to be the database's (see the
    module docstring); records the key in a database that has none. KeyCheckError otherwise."""
    with immediate(engine).begin() as connection:
        state = inspect_keys(settings, connection)
        if state.to_record:
            _record_first(connection, state.key)
            logger.info("recorded the data key %s for this database", key_id_for(state.key))
    if not settings.data_key:
        warn_dev_key_placement(settings)
    return state.sealer


def warn_dev_key_placement(settings: KeySettingsWithDatabase) -> bool:
    """Log a warning when the development key guards real data: a bot token for the real
    Telegram, or the key file in the same directory as the SQLite database (one copy of the
    directory, a backup, then holds both the data and their key). True when it warned."""
    key_dir = Path(settings.data_key_file).expanduser().resolve().parent
    url = make_url(settings.database_url)
    database = url.database or ""
    next_to_database = (
        url.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and Path(database).expanduser().resolve().parent == key_dir
    )
    real_bot = bool(settings.bot_token) and settings.telegram_api_url.rstrip("/") == (
        REAL_TELEGRAM_API
    )
    if not (next_to_database or real_bot):
        return False
    logger.warning(
        "the development data key %s guards %s%s. Set DATA_KEY (kept away from the data and"
        " their backups); to move the data to it, set DATA_KEY_OLD to the development key and"
        " run `peduli keys rotate`.",
        settings.data_key_file,
        "the data of a real bot" if real_bot else "the database",
        (
            " and sits in the same directory as the database: one copy of that directory"
            " reads every NIK, NIP and phone number"
            if next_to_database
            else ""
        ),
    )
    return True


# ---- rotation ----------------------------------------------------------------------------------


@dataclass
class RotationReport:
    key_id: str
    previous_key_id: str | None
    resealed: dict[str, int] = field(default_factory=dict)
    """Tokens re-sealed under the new key, per column ("sponsors.nip_sealed": 3)."""
    reindexed: dict[str, int] = field(default_factory=dict)
    """Blind indexes that changed, per column."""
    outbox_given_up: int = 0
    """Undelivered notifications no key could open: given up (they could never be sent)."""
    outbox_unreadable_done: int = 0
    """Sent or given-up notifications no key could open: left as they are."""
    sessions_dropped: int = 0
    """Conversations in progress no key could open: deleted (the user starts again)."""
    turns_dropped: int = 0
    """Undelivered answers or unpublished sessions of the turn journal no key could open."""
    redis_sessions_resealed: int = 0

    def count(self, bucket: dict[str, int], column: str) -> None:
        bucket[column] = bucket.get(column, 0) + 1

    def render(self) -> str:
        lines = [f"data key: {self.previous_key_id or 'not recorded'} -> {self.key_id}"]
        for title, bucket in (("re-sealed", self.resealed), ("re-indexed", self.reindexed)):
            if bucket:
                for column, number in sorted(bucket.items()):
                    lines.append(f"{title} {column}: {number}")
            else:
                lines.append(f"{title}: nothing (already under the new key)")
        lines.append(f"Redis sessions re-sealed: {self.redis_sessions_resealed}")
        if self.sessions_dropped:
            lines.append(f"unreadable conversations deleted: {self.sessions_dropped}")
        if self.turns_dropped:
            lines.append(f"unreadable pending answers dropped: {self.turns_dropped}")
        if self.outbox_given_up:
            lines.append(f"unreadable notifications given up: {self.outbox_given_up}")
        if self.outbox_unreadable_done:
            lines.append(f"unreadable finished notifications kept: {self.outbox_unreadable_done}")
        return "\n".join(lines) + "\n"


class RotationError(KeyCheckError):
    """A row that must be re-sealed cannot be opened with DATA_KEY or DATA_KEY_OLD: nothing
    was changed (the transaction rolled back)."""


def _batches(
    connection: Connection, table: Table, key: str, columns: list[str], batch_size: int
) -> Iterator[Any]:
    """The table's rows in primary-key order, batch_size at a time (keyset pagination)."""
    primary = table.c[key]
    last: Any = None
    while True:
        query = select(primary, *(table.c[name] for name in columns)).order_by(primary)
        if last is not None:
            query = query.where(primary > last)
        rows = connection.execute(query.limit(batch_size)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _open(sealer: Sealer, token: str, where: str) -> str:
    try:
        return sealer.open(token)
    except SealedDataError:
        raise RotationError(
            f"{where} {UNREADABLE}; nothing was changed. Check DATA_KEY and DATA_KEY_OLD."
        ) from None


def rotate(
    settings: KeySettingsWithDatabase,
    engine: Engine,
    *,
    batch_size: int = BATCH_SIZE,
    redis_sessions: Callable[[Sealer, RotationReport], None] | None = None,
) -> RotationReport:
    """Re-seal every sealed column and recompute every blind index under DATA_KEY, in one
    transaction, and record DATA_KEY; then `redis_sessions` re-seals the Redis sessions.

    The database must be under DATA_KEY_OLD (a rotation), or already under DATA_KEY (a repeated
    or interrupted one: whatever is left is finished), or hold no record yet and data that one of
    the two keys opens. RotationError, and nothing changed, when a row no key opens is found."""
    with immediate(engine).begin() as connection:
        loaded = _load(settings, connection)
        key, old_key, recorded = loaded.key, loaded.old_key, loaded.recorded
        sealer = sealer_for(key, old_key)
        known = {key_check_value(key)} | ({key_check_value(old_key)} if old_key else set())
        if recorded is not None and recorded.check_value not in known:
            raise _mismatch(settings, recorded.key_id, key_id_for(key))
        if recorded is None and not _opens(sealer, loaded.samples):
            raise _mismatch(settings, "not recorded yet", key_id_for(key))
        report = RotationReport(key_id_for(key), recorded.key_id if recorded else None)
        _rotate_nip_holders(
            connection, sealer, report, batch_size, SPONSORS, "sponsor", ("phone_sealed",)
        )
        _rotate_nip_holders(connection, sealer, report, batch_size, ROSTER, "roster row")
        _rotate_sponsorships(connection, sealer, report, batch_size)
        _rotate_requests(connection, sealer, report, batch_size)
        _rotate_sessions(connection, sealer, report, batch_size)
        _rotate_turns(connection, sealer, report, batch_size)
        _rotate_outbox(connection, sealer, report, batch_size)
        record_key(connection, key)
    if redis_sessions is not None:
        redis_sessions(sealer, report)
    return report


def _reseal(
    sealer: Sealer, token: str | None, where: str, column: str, report: RotationReport
) -> tuple[str | None, str | None]:
    """(plaintext, the token to store); the token is new only when it was not under the
    current key."""
    if token is None:
        return None, None
    plain = _open(sealer, token, where)
    if sealer.is_current(token):
        return plain, token
    report.count(report.resealed, column)
    return plain, sealer.seal(plain)


def _rotate_nip_holders(
    connection: Connection,
    sealer: Sealer,
    report: RotationReport,
    batch_size: int,
    table: Table,
    what: str,
    also_sealed: tuple[str, ...] = (),
) -> None:
    """Sponsors and the roster hold a NIP alike: re-seal it (and the `also_sealed` columns) and
    recompute its blind index, so sign-ups still match it. `what` names a row in errors."""
    sealed = ("nip_sealed", *also_sealed)
    for row in _batches(connection, table, "id", [*sealed, "nip_index"], batch_size):
        where = f"{what} {row.id}"
        values: dict[str, Any] = {}
        nip: str | None = None
        for column in sealed:
            token = getattr(row, column)
            plain, new_token = _reseal(sealer, token, where, f"{table.name}.{column}", report)
            if column == "nip_sealed":
                nip = plain
            if new_token != token:
                values[column] = new_token
        assert nip is not None  # NOT NULL column
        nip_index = sealer.blind_index(nip, "nip")
        if nip_index != row.nip_index:
            values["nip_index"] = nip_index
            report.count(report.reindexed, f"{table.name}.nip_index")
        if values:
            connection.execute(update(table).where(table.c.id == row.id).values(values))


def _rotate_sponsorships(
    connection: Connection, sealer: Sealer, report: RotationReport, batch_size: int
) -> None:
    columns = ["nik_sealed", "nik_index", "active_nik_index", "worker_phone_sealed", "kpj_sealed"]
    for row in _batches(connection, SPONSORSHIPS, "id", columns, batch_size):
        where = f"sponsorship {row.id}"
        values: dict[str, Any] = {}
        nik, nik_sealed = _reseal(sealer, row.nik_sealed, where, "sponsorships.nik_sealed", report)
        for column in ("worker_phone_sealed", "kpj_sealed"):
            stored = row._mapping[column]
            _, token = _reseal(sealer, stored, where, f"sponsorships.{column}", report)
            if token != stored:
                values[column] = token
        if nik_sealed != row.nik_sealed:
            values["nik_sealed"] = nik_sealed
        if nik is not None:
            nik_index = sealer.blind_index(nik, "nik")
            if nik_index != row.nik_index:
                # Both in one statement: the check constraint wants active == nik_index.
                values["nik_index"] = nik_index
                report.count(report.reindexed, "sponsorships.nik_index")
                if row.active_nik_index is not None:
                    values["active_nik_index"] = nik_index
                    report.count(report.reindexed, "sponsorships.active_nik_index")
        if values:
            connection.execute(
                update(SPONSORSHIPS).where(SPONSORSHIPS.c.id == row.id).values(values)
            )


def _rotate_requests(
    connection: Connection, sealer: Sealer, report: RotationReport, batch_size: int
) -> None:
    for row in _batches(connection, REQUESTS, "id", ["details_sealed"], batch_size):
        where = f"request {row.id}"
        _, token = _reseal(sealer, row.details_sealed, where, "requests.details_sealed", report)
        if token != row.details_sealed:
            connection.execute(
                update(REQUESTS).where(REQUESTS.c.id == row.id).values(details_sealed=token)
            )


def _rotate_sessions(
    connection: Connection, sealer: Sealer, report: RotationReport, batch_size: int
) -> None:
    for row in _batches(connection, SESSIONS, "user_id", ["document"], batch_size):
        if row.document.startswith("{") or sealer.is_current(row.document):
            continue  # plain JSON (sealing off when it was saved) or already under the key
        try:
            plain = sealer.open(row.document)
        except SealedDataError:  # no key opens it: the conversation is lost either way
            connection.execute(delete(SESSIONS).where(SESSIONS.c.user_id == row.user_id))
            report.sessions_dropped += 1
            continue
        connection.execute(
            update(SESSIONS)
            .where(SESSIONS.c.user_id == row.user_id)
            .values(document=sealer.seal(plain))
        )
        report.count(report.resealed, "conversation_sessions.document")


def _rotate_turns(
    connection: Connection, sealer: Sealer, report: RotationReport, batch_size: int
) -> None:
    """Answers not yet delivered and sessions not yet in Redis (the turn journal). One no key
    opens is dropped, like an unreadable conversation: it could never be sent or read."""
    pending = TURNS.c.answer.is_not(None) | TURNS.c.session.is_not(None)
    for row in _batches(connection, TURNS, "update_id", ["answer", "session"], batch_size):
        values: dict[str, Any] = {}
        for column in ("answer", "session"):
            stored = row._mapping[column]
            if stored is None or stored.startswith("{") or sealer.is_current(stored):
                continue
            try:
                values[column] = sealer.seal(sealer.open(stored))
            except SealedDataError:
                values[column] = None
                report.turns_dropped += 1
                continue
            report.count(report.resealed, f"processed_updates.{column}")
        if values:
            connection.execute(
                update(TURNS).where(TURNS.c.update_id == row.update_id, pending).values(values)
            )


def _rotate_outbox(
    connection: Connection, sealer: Sealer, report: RotationReport, batch_size: int
) -> None:
    columns = ["message", "sent_at", "gave_up_at"]
    for row in _batches(connection, OUTBOX, "id", columns, batch_size):
        if sealer.is_current(row.message):
            continue
        try:
            plain = sealer.open(row.message)
        except SealedDataError:
            if row.sent_at is not None or row.gave_up_at is not None:
                report.outbox_unreadable_done += 1
            else:  # could never be sent: give it up, as the dispatcher would
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == row.id)
                    .values(gave_up_at=utc_now(), last_error=f"message {UNREADABLE}")
                )
                report.outbox_given_up += 1
            continue
        connection.execute(
            update(OUTBOX).where(OUTBOX.c.id == row.id).values(message=sealer.seal(plain))
        )
        report.count(report.resealed, "outbox.message")


def redis_session_prefix(redis_prefix: str, bot_token: str | None) -> str:
    """The key prefix of the bot's Redis state, as bot.app.build_service makes it."""
    return f"{redis_prefix}{(bot_token or '').split(':', 1)[0]}:"


def reseal_redis_sessions(
    client: SyncRedis, prefix: str, sealer: Sealer, report: RotationReport
) -> None:
    """Re-seal the sessions under `prefix` in Redis with the current key, keeping their expiry.
    Idempotent; a session no key opens is deleted (the user starts that conversation again)."""
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "session:*"
    for name in client.scan_iter(match=pattern, count=BATCH_SIZE):
        stored = client.get(name)
        if stored is None:
            continue
        text = stored.decode("utf-8") if isinstance(stored, bytes) else str(stored)
        if text.startswith("{") or sealer.is_current(text):
            continue
        try:
            plain = sealer.open(text)
        except SealedDataError:
            client.delete(name)
            report.sessions_dropped += 1
            continue
        client.set(name, sealer.seal(plain).encode("utf-8"), xx=True, keepttl=True)
        report.redis_sessions_resealed += 1
