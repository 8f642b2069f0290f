"""The data key against the database (issue 6, item 2): a changed or lost DATA_KEY is refused at
start with what to do, DATA_KEY_OLD + `peduli keys rotate` move everything to a new key, and the
outbox gives up rows no key opens. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bot import notifications
from bot.app import build_service
from bot.cli import main as cli
from bot.delivery.budget import RateBudget
from bot.delivery.engine import LEASE, DeliveryEngine
from bot.security.crypto import (
    Sealer,
    key_check_value,
    key_id_for,
    sealer_for,
)
from bot.settings import Settings
from bot.storage import keys
from bot.storage.keys import KeyCheckError, RotationError, rotate, verified_sealer
from bot.storage.models import OutboxMessage
from bot.storage.repository import Repository
from bot.storage.state import SqlSessionStore
from bot.transport import Outgoing, SendResult, SendStatus
from flows.commands import Applied, Refused
from flows.text import to_json
from tests.integration.test_storage_repository import NIK, register, submit
from tests.integration.test_storage_worker import (
    KPJ,
    SPONSOR,
    WORKER,
    activate,
    apply,
    correction,
    one,
    worker_consent,
    worker_opens,
)
from tests.notify import notify

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_C = bytes(range(200, 232))
PROJECT = Path(__file__).resolve().parents[2]
SESSION_USER = 42
SESSION = {"flow": "sponsorship", "step": "phone", "answers": {"nik": NIK, "name": "Siti"}}
OTHER_SPONSOR = 4
OTHER_NIP = "199001012015032002"
SEALED_COLUMNS: dict[str, tuple[str, list[str]]] = {}
for _name in sorted(keys.SEALED_COLUMNS):
    _table_name, _column = _name.split(".")
    _key = {"conversation_sessions": "user_id", "processed_updates": "update_id"}.get(
        _table_name, "id"
    )
    SEALED_COLUMNS.setdefault(_table_name, (_key, []))[1].append(_column)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def make_settings(
    database_url: str,
    tmp_path: Path,
    key: bytes | None,
    old: bytes | None = None,
    **changes: Any,
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        data_key=b64(key) if key is not None else None,
        data_key_old=b64(old) if old is not None else None,
        data_key_file=tmp_path / "keys" / "dev-data-key",
        **changes,
    )


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_KEY", "DATA_KEY_OLD", "BOT_TOKEN", "REDIS_URL", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


def seed(engine: Engine, sealer: Sealer) -> str:
    """Every kind of sealed value: a sponsor (NIP, phone), a confirmed and activated sponsorship
    (NIK, phone, KPJ), a correction request, outbox messages and a conversation in progress."""
    repo = Repository(engine, sealer, notify=notify)
    apply(repo, SPONSOR, register(SPONSOR))
    outcome = one(repo, SPONSOR, submit(SPONSOR, "draft-1", nik=NIK))
    assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
    reference = outcome.reference
    worker_opens(repo, outcome.invitation_token)
    assert one(repo, WORKER, worker_consent(reference)) == Applied(reference)
    assert isinstance(one(repo, WORKER, correction(reference, WORKER, "worker")), Applied)
    assert isinstance(one(repo, None, activate(reference)), Applied)
    asyncio.run(SqlSessionStore(engine, sealer=sealer).save(SESSION_USER, dict(SESSION)))
    with engine.begin() as connection:  # an agency's roster line (peduli roster import)
        connection.execute(
            sa.text(
                "INSERT INTO roster (nip_sealed, nip_index, nip_masked, full_name, agency_code,"
                " imported_at) VALUES (:sealed, :index, '1990********2002', 'Budi', 'dinsos', :at)"
            ),
            {
                "sealed": sealer.seal(OTHER_NIP),
                "index": sealer.blind_index(OTHER_NIP, "nip"),
                "at": datetime(2026, 3, 1, tzinfo=UTC),
            },
        )
    return reference


async def save_session(settings: Settings) -> None:
    built = build_service(settings)
    try:
        await built.state.sessions.save(SESSION_USER, dict(SESSION))
    finally:
        await built.aclose()


async def load_session(settings: Settings) -> object:
    built = build_service(settings)
    try:
        return await built.state.sessions.load(SESSION_USER)
    finally:
        await built.aclose()


def tokens(engine: Engine) -> list[tuple[str, str]]:
    """(where, token) of every sealed value in the database."""
    found = []
    with engine.connect() as connection:
        for table, (key, columns) in SEALED_COLUMNS.items():
            for column in columns:
                query = f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
                for row in connection.execute(sa.text(query)):
                    found.append((f"{table}.{column}#{row[0]}", str(row[1])))
    return found


def recorded(engine: Engine) -> tuple[str, str] | None:
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT key_id, check_value FROM key_check")).first()
    return None if row is None else (str(row[0]), str(row[1]))


def test_every_sealed_column_and_blind_index_of_the_models_is_rotated() -> None:
    """A column added later (sealed: *_sealed; keyed hash: *_index) must be in the rotation."""
    from sqlmodel import SQLModel

    import bot.storage.models  # noqa: F401  (registers the tables)

    sealed, indexes = set(), set()
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("_sealed"):
                sealed.add(f"{table.name}.{column.name}")
            if column.name.endswith("_index"):
                indexes.add(f"{table.name}.{column.name}")
    # Sealed by content rather than by name: the outbox message, the conversation document, and
    # the turn journal's pending answer and session.
    sealed |= {
        "outbox.message",
        "conversation_sessions.document",
        "processed_updates.answer",
        "processed_updates.session",
    }
    assert sealed == keys.SEALED_COLUMNS
    assert indexes == keys.BLIND_INDEX_COLUMNS


# ---- the check at start --------------------------------------------------------------------------


def test_empty_database_records_the_key_and_it_is_accepted_again(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, KEY_A)
    verified_sealer(settings, engine)
    assert recorded(engine) == (key_id_for(KEY_A), key_check_value(KEY_A))
    # The record says which key; it does not hold it.
    assert b64(KEY_A) not in str(recorded(engine)) and KEY_A.hex() not in str(recorded(engine))
    assert verified_sealer(settings, engine).key_id == key_id_for(KEY_A)


def test_another_key_is_refused_at_start_saying_what_to_do(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    with pytest.raises(KeyCheckError) as refused:
        build_service(make_settings(database_url, tmp_path, KEY_B))
    message = str(refused.value)
    assert "DATA_KEY is not the key" in message
    assert key_id_for(KEY_A) in message and key_id_for(KEY_B) in message
    assert "DATA_KEY_OLD" in message and "peduli keys rotate" in message
    assert b64(KEY_B) not in message
    assert recorded(engine) == (key_id_for(KEY_A), key_check_value(KEY_A))  # unchanged


def test_a_database_from_before_the_check_is_adopted_only_by_the_key_that_opens_it(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seed(engine, Sealer(KEY_A))  # tokens "k1.", as every key wrote them before
    assert recorded(engine) is None
    with pytest.raises(KeyCheckError, match="is not the key"):
        verified_sealer(make_settings(database_url, tmp_path, KEY_B), engine)
    assert recorded(engine) is None
    sealer = verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    assert recorded(engine) == (key_id_for(KEY_A), key_check_value(KEY_A))
    assert all(sealer.open(token) for _where, token in tokens(engine))  # legacy ids open


def test_lost_dev_key_is_refused_and_no_new_key_is_generated(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, None)
    verified_sealer(settings, engine)  # generates the development key and records it
    key_file = settings.data_key_file
    assert key_file.exists()
    key_file.unlink()  # lost
    with pytest.raises(KeyCheckError) as refused:
        build_service(settings)
    message = str(refused.value)
    assert str(key_file) in message and "does not" in message and "restore" in message
    assert not key_file.exists()  # no new key that could open nothing
    assert recorded(engine) is not None


def test_lost_dev_key_of_a_database_from_before_the_check_is_refused(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seed(engine, Sealer(KEY_A))
    settings = make_settings(database_url, tmp_path, None)
    with pytest.raises(KeyCheckError, match="no new key was generated"):
        verified_sealer(settings, engine)
    assert not settings.data_key_file.exists()


def test_replaced_dev_key_file_is_refused(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, None)
    verified_sealer(settings, engine)
    settings.data_key_file.write_text(b64(KEY_C) + "\n")
    with pytest.raises(KeyCheckError) as refused:
        verified_sealer(settings, engine)
    assert str(settings.data_key_file) in str(refused.value)
    assert "restore" in str(refused.value)


def test_new_key_with_the_old_one_beside_it_asks_for_the_rotation(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    with pytest.raises(KeyCheckError, match="still sealed with DATA_KEY_OLD"):
        verified_sealer(make_settings(database_url, tmp_path, KEY_B, old=KEY_A), engine)
    with pytest.raises(KeyCheckError, match="same key"):
        verified_sealer(make_settings(database_url, tmp_path, KEY_A, old=KEY_A), engine)


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.parametrize("command", ["run", "webhook", "playground"])
def test_every_bot_command_refuses_a_wrong_key_on_stderr_with_exit_2(
    command: str,
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", b64(KEY_B))
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("WEBHOOK_URL", "https://example.invalid/")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-token")
    arguments = [command] + (["--port", "0"] if command == "playground" else [])
    assert cli(arguments) == 2
    err = capsys.readouterr().err
    assert "DATA_KEY is not the key" in err and "peduli keys rotate" in err


@SQLITE_ONLY
def test_coverage_import_refuses_a_wrong_key(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", b64(KEY_B))
    path = tmp_path / "bpjs.csv"
    path.write_text("reference,kpj,start_date\n")
    assert cli(["coverage", "import", str(path)]) == 2
    assert "DATA_KEY is not the key" in capsys.readouterr().err


@SQLITE_ONLY
def test_peduli_run_with_a_wrong_key_exits_non_zero_without_a_traceback(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT),
        "DATABASE_URL": database_url,
        "DATA_KEY": b64(KEY_B),
        "BOT_TOKEN": "123456:TEST",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "DATA_KEY is not the key" in done.stderr
    assert "Traceback" not in done.stderr


# ---- peduli keys check ---------------------------------------------------------------------------


@SQLITE_ONLY
def test_keys_check_reports_without_writing(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.keys import check

    assert check(make_settings(database_url, tmp_path, KEY_A)) == 0
    assert "records it at its next start" in capsys.readouterr().out
    assert recorded(engine) is None  # check writes nothing
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    assert check(make_settings(database_url, tmp_path, KEY_A)) == 0
    assert "is the database's key" in capsys.readouterr().out
    assert check(make_settings(database_url, tmp_path, KEY_B)) == 1
    assert "is not the key" in capsys.readouterr().err


def test_keys_commands_need_a_migrated_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.keys import check, rotate_command

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert check(make_settings(url, tmp_path, KEY_A)) == 2
    assert rotate_command(make_settings(url, tmp_path, KEY_B, old=KEY_A)) == 2
    assert "peduli db upgrade" in capsys.readouterr().err


@SQLITE_ONLY
def test_rotation_with_redis_needs_the_bot_token_to_find_the_sessions(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.keys import rotate_command

    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    redis_only = make_settings(database_url, tmp_path, KEY_B, KEY_A, redis_url="redis://x:1/0")
    assert rotate_command(redis_only) == 2
    assert "BOT_TOKEN" in capsys.readouterr().err
    assert recorded(engine) == (key_id_for(KEY_A), key_check_value(KEY_A))  # nothing done


def test_keys_commands_load_neither_framework() -> None:
    code = (
        "import sys\n"
        "import bot.cli, bot.cli.keys, bot.storage.keys\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('aiogram', 'telegram')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT, check=True, timeout=60)


# ---- rotation ------------------------------------------------------------------------------------


def test_rotation_reseals_everything_and_duplicate_checks_still_hold(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    reference = seed(engine, Sealer(KEY_A))  # legacy "k1" tokens ...
    old_sealer = verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    # ... and a conversation saved since, under the key's fingerprint id.
    asyncio.run(SqlSessionStore(engine, sealer=old_sealer).save(SESSION_USER + 1, dict(SESSION)))
    # ... and a turn whose answer (and Redis session) was committed but not yet delivered.
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO processed_updates (update_id, claimed_at, user_id, answer, session)"
                " VALUES (9001, :at, :user, :answer, :session)"
            ),
            {
                "at": datetime(2026, 3, 1, tzinfo=UTC),
                "user": SESSION_USER,
                "answer": old_sealer.seal('{"effects": []}'),
                "session": old_sealer.seal(json.dumps(SESSION)),
            },
        )
    before = tokens(engine)
    assert {token.split(".")[0] for _where, token in before} == {"k1", key_id_for(KEY_A)}

    report = rotate(make_settings(database_url, tmp_path, KEY_B, old=KEY_A), engine)

    assert report.previous_key_id == key_id_for(KEY_A) and report.key_id == key_id_for(KEY_B)
    assert recorded(engine) == (key_id_for(KEY_B), key_check_value(KEY_B))
    # Every sealed value opens with the new key alone, and is sealed under its id.
    new_only = sealer_for(KEY_B)
    after = tokens(engine)
    assert len(after) == len(before)
    for where, token in after:
        assert token.startswith(key_id_for(KEY_B) + "."), where
        new_only.open(token)
    # The blind indexes are the new key's: the duplicate checks still hold.
    sealer = verified_sealer(make_settings(database_url, tmp_path, KEY_B), engine)
    repo = Repository(engine, sealer, notify=notify)
    second_account = one(repo, OTHER_SPONSOR, register(OTHER_SPONSOR))  # the same NIP
    assert isinstance(second_account, Refused)
    apply(repo, OTHER_SPONSOR, register(OTHER_SPONSOR, nip=OTHER_NIP))
    second_open = one(repo, OTHER_SPONSOR, submit(OTHER_SPONSOR, "draft-2", nik=NIK))
    assert isinstance(second_open, Refused)  # the NIK is already sponsored
    assert repo.reveal_nik(reference) == NIK
    assert repo.reference_for_nik(NIK) == reference  # coverage import's NIK look-up
    assert [request.details for request in repo.open_requests()] == [
        f"tanggal lahir salah, NIK {NIK}"
    ]
    assert repo.coverage_check(reference, KPJ) is not None
    assert repo.coverage_check(reference, KPJ).same_kpj  # type: ignore[union-attr]
    repo.remember_chat(SPONSOR, SPONSOR)  # the queue claims rows only for people with a chat
    repo.remember_chat(WORKER, WORKER)
    claimed = repo.delivery.claim(50, LEASE)
    assert len(claimed) >= 2  # the worker's consent, the activation: opened with the new key
    with engine.connect() as connection:  # none given up as unopenable
        assert not connection.scalar(
            sa.text("SELECT count(*) FROM outbox WHERE last_error LIKE 'message %'")
        )
    assert sum(report.resealed.values()) == len(before)
    assert report.reindexed == {
        "sponsors.nip_index": 1,
        "roster.nip_index": 1,
        "sponsorships.nik_index": 1,
        "sponsorships.active_nik_index": 1,
    }
    store = SqlSessionStore(engine, sealer=sealer)
    assert asyncio.run(store.load(SESSION_USER)) == asyncio.run(store.load(SESSION_USER + 1))
    assert asyncio.run(store.load(SESSION_USER)) == SESSION
    # Without DATA_KEY_OLD, the bot itself starts on the rotated database.
    assert asyncio.run(load_session(make_settings(database_url, tmp_path, KEY_B))) == SESSION


@SQLITE_ONLY
def test_rotation_is_idempotent(database_url: str, engine: Engine, tmp_path: Path) -> None:
    seed(engine, Sealer(KEY_A))
    settings = make_settings(database_url, tmp_path, KEY_B, old=KEY_A)
    rotate(settings, engine)
    after = tokens(engine)
    again = rotate(settings, engine)
    assert again.resealed == {} and again.reindexed == {}
    assert tokens(engine) == after
    assert "re-sealed: nothing" in again.render()


@SQLITE_ONLY
def test_an_interrupted_rotation_changes_nothing_and_can_run_again(
    database_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, Sealer(KEY_A))
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    before = tokens(engine)
    settings = make_settings(database_url, tmp_path, KEY_B, old=KEY_A)

    def crash(*_: object) -> None:
        raise RuntimeError("killed halfway")

    with monkeypatch.context() as patch:
        patch.setattr(keys, "_rotate_outbox", crash)  # after sponsors, sponsorships, sessions
        with pytest.raises(RuntimeError, match="halfway"):
            rotate(settings, engine)
    assert tokens(engine) == before
    assert recorded(engine) == (key_id_for(KEY_A), key_check_value(KEY_A))
    rotate(settings, engine)
    assert all(token.startswith(key_id_for(KEY_B)) for _where, token in tokens(engine))


def test_rotation_refuses_keys_that_do_not_open_the_data(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seed(engine, Sealer(KEY_A))
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)
    before = tokens(engine)
    with pytest.raises(KeyCheckError, match="is not the key"):
        rotate(make_settings(database_url, tmp_path, KEY_B, old=KEY_C), engine)
    # A row under a third key, in a database that records none: refused, nothing changed.
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM key_check"))
        connection.execute(
            sa.text("UPDATE sponsors SET phone_sealed = :token"),
            {"token": sealer_for(KEY_C).seal("+6281200000000")},
        )
    before = tokens(engine)
    with pytest.raises(RotationError, match=r"sponsor \d+ cannot be opened"):
        rotate(make_settings(database_url, tmp_path, KEY_B, old=KEY_A), engine)
    assert tokens(engine) == before and recorded(engine) is None


@SQLITE_ONLY
def test_rotation_gives_up_unreadable_notifications_and_drops_unreadable_sessions(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seed(engine, Sealer(KEY_A))
    stranger = sealer_for(KEY_C)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OutboxMessage).values(
                dedupe_key="stranger",
                recipient_user_id=7,
                message=stranger.seal("{}"),
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
                attempts=0,
            )
        )
        connection.execute(
            sa.text("UPDATE conversation_sessions SET document = :token"),
            {"token": stranger.seal(json.dumps(SESSION))},
        )
    report = rotate(make_settings(database_url, tmp_path, KEY_B, old=KEY_A), engine)
    assert report.outbox_given_up == 1 and report.sessions_dropped == 1
    with engine.connect() as connection:
        given_up = connection.execute(
            sa.text("SELECT gave_up_at, last_error FROM outbox WHERE dedupe_key = 'stranger'")
        ).one()
        assert given_up[0] is not None and "cannot be opened" in given_up[1]
        assert connection.scalar(sa.text("SELECT count(*) FROM conversation_sessions")) == 0


@SQLITE_ONLY
def test_rotation_through_the_command_reseals_redis_sessions(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import redis

    from bot.cli.keys import rotate_command

    shared: dict[str, Any] = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "bot_token": "123456:TEST",
    }
    settings_a = make_settings(database_url, tmp_path, KEY_A, **shared)
    asyncio.run(save_session(settings_a))  # the bot's own Redis keys, as production has them
    client: Any = redis.Redis.from_url(redis_url)
    try:
        [name] = list(client.scan_iter(match=f"{redis_prefix}*session:*"))
        ttl = client.ttl(name)
        assert rotate_command(make_settings(database_url, tmp_path, KEY_B, KEY_A, **shared)) == 0
        assert "Redis sessions re-sealed: 1" in capsys.readouterr().out
        stored = client.get(name)
        assert stored is not None and stored.decode().startswith(key_id_for(KEY_B) + ".")
        assert 0 < client.ttl(name) <= ttl  # the expiry is kept
        # The bot on the new key alone finds the conversation where it was.
        settings_b = make_settings(database_url, tmp_path, KEY_B, **shared)
        assert asyncio.run(load_session(settings_b)) == SESSION
    finally:
        for key in client.scan_iter(match=f"{redis_prefix}*"):
            client.delete(key)
        client.close()


# ---- the outbox ----------------------------------------------------------------------------------


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def deliver(self, chat_id: int, message: Outgoing, **_: object) -> SendResult:
        self.sent.append((chat_id, message.text))
        return SendResult(SendStatus.SENT, message_id=len(self.sent))


def _enqueue(engine: Engine, key: str, token: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OutboxMessage).values(
                dedupe_key=key,
                recipient_user_id=7,
                message=token,
                created_at=datetime(2026, 3, 1, tzinfo=UTC),
                attempts=0,
            )
        )


def test_an_outbox_row_no_key_opens_is_given_up_not_retried(engine: Engine) -> None:
    sealer = sealer_for(KEY_A)
    document = json.dumps(to_json(notifications.worker_declined("PR-000001")))
    _enqueue(engine, "stranger", sealer_for(KEY_C).seal(document))
    _enqueue(engine, "damaged", sealer.seal("not json"))
    _enqueue(engine, "good", sealer.seal(document))
    now = [datetime(2026, 3, 10, tzinfo=UTC)]
    repo = Repository(engine, sealer, notify=notify, clock=lambda: now[0])
    repo.remember_chat(7, 7007)
    transport = Transport()
    delivery = DeliveryEngine(
        repo.delivery,
        transport,  # type: ignore[arg-type]
        asyncio.Event(),
        RateBudget("test", 100, per_chat=False),
    )
    assert asyncio.run(delivery.deliver_once()) == 1  # the good row is not held back
    assert len(transport.sent) == 1 and "PR-000001" in transport.sent[0][1]
    with engine.connect() as connection:
        rows = {
            row.dedupe_key: row
            for row in connection.execute(
                sa.text("SELECT dedupe_key, gave_up_at, last_error FROM outbox")
            )
        }
    assert rows["stranger"].gave_up_at is not None
    assert rows["stranger"].last_error == "message cannot be opened"
    assert rows["damaged"].gave_up_at is not None
    now[0] = datetime(2026, 3, 11, tzinfo=UTC)  # long after any lease
    assert repo.delivery.claim(50, LEASE) == []


# ---- a conversation no key opens -----------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("store", ["sql", "redis"])
async def test_a_conversation_no_key_opens_starts_afresh_instead_of_failing_every_turn(
    store: str,
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.service import Incoming
    from flows.inputs import CommandIssued
    from tests.e2e.harness import NOW
    from tests.integration.test_service_shared_redis import RecordingTransport

    changes: dict[str, Any] = {"bot_token": "123456:TEST"}
    if store == "redis":
        changes |= {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    built = build_service(
        make_settings(database_url, tmp_path, KEY_A, **changes), clock=lambda: NOW
    )
    try:
        stranger = {"flow": "sponsorship", "step": "nik", "answers": {}}
        # A document sealed under a key the bot no longer has (the store seals with its own).
        built.state.sessions._sealer = sealer_for(KEY_C)  # type: ignore[attr-defined]
        await built.state.sessions.save(7, stranger)
        built.state.sessions._sealer = sealer_for(KEY_A)  # type: ignore[attr-defined]
        with caplog.at_level(logging.WARNING):
            assert await built.state.sessions.load(7) is None
        assert "cannot be opened with the data key" in caplog.text
        transport = RecordingTransport()
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            await built.service.handle(Incoming(1, 7, 7, CommandIssued("batal")), transport)
        assert not caplog.records  # no "update failed", no apology
        assert transport.sent
        assert await built.state.sessions.load(7) is not None  # saved again, under the key
    finally:
        if store == "redis":
            client: Any = built.state.sessions.client  # type: ignore[attr-defined]
            prefix = request.getfixturevalue("redis_prefix")
            async for key in client.scan_iter(match=f"{prefix}*"):
                await client.delete(key)
        await built.aclose()
