"""Redis and PostgreSQL down or hung, with servers the tests start, kill, restart, stop and resume
(tests/integration/servers.py): the user is told "busy, not processed" (in their language, the
button's spinner stopped), nothing of the update is saved, and the same update handled after the
server is back is processed normally. A hung server makes no one wait past the turn's time limit.

`asyncio.wait_for(..., HANG)` below only turns a hang into a failure; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import Built, build_service
from bot.service import Handled
from flows.inputs import TextReceived
from tests.e2e.harness import NOW
from tests.integration.servers import PostgresServer, RedisServer, free_port
from tests.integration.turnkit import Chat, settings, texts

pytestmark = pytest.mark.outage

NIK = "3205014501900001"
BUSY_ID = "Sistem sedang sibuk, pesan Anda belum diproses"
BUSY_EN = "The system is busy, your message has not been processed"
TURN_TIMEOUT = 3.0
HANG = 60.0  # far beyond TURN_TIMEOUT: reached only if a turn hangs


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Outside pytest's private tmp tree: the PostgreSQL server runs as another user."""
    directory = Path(tempfile.mkdtemp(prefix="peduli-outage-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_server(scratch: Path) -> Iterator[RedisServer]:
    server = RedisServer(scratch, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_server(scratch: Path) -> Iterator[PostgresServer]:
    home = scratch / "pg"
    home.mkdir()
    server = PostgresServer(home, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def on_redis(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Built]:
    """Sessions and locks in the test's own Redis; the database (SQLite) stays up."""
    made = build_service(
        settings(
            f"sqlite:///{tmp_path / 'peduli.sqlite3'}",
            tmp_path,
            redis_url=redis_server.url,
            turn_timeout_seconds=TURN_TIMEOUT,
            redis_timeout_seconds=1.0,
        ),
        clock=lambda: NOW,
    )
    yield made
    await made.aclose()


@pytest.fixture
async def on_postgres(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Built]:
    """Everything in the test's own PostgreSQL (no Redis)."""
    made = build_service(
        settings(postgres_server.url, tmp_path, turn_timeout_seconds=TURN_TIMEOUT),
        clock=lambda: NOW,
    )
    yield made
    await made.aclose()


def busy(calls_text: str, *, english: bool = False) -> bool:
    return (BUSY_EN if english else BUSY_ID) in calls_text


async def down_then_back(built: Built, server: RedisServer | PostgresServer) -> None:
    """The store crashes mid-conversation and comes back: the typed NIK and a button press
    during the outage get "busy"; the same NIK update afterwards is handled normally."""
    chat = Chat(built.service, 7401)
    await chat.to_nik()
    english = Chat(built.service, 7402, first_update=1000)
    await english.say("/start")
    await english.press("🇬🇧 English")

    server.kill()
    nik = chat.incoming(TextReceived(NIK, 777))
    during = await chat.handle(nik)
    assert chat.last_handled is Handled.BUSY and busy(texts(during)), during
    assert [c for c in during if c.kind == "delete"] == []  # not handled: nothing to delete yet
    pressed = await chat.handle(chat.button("✖️ Batal"))
    assert chat.last_handled is Handled.BUSY and busy(texts(pressed))
    assert [c.kind for c in pressed].count("answer") == 1  # the spinner stops
    assert busy(texts(await english.handle(english.incoming(TextReceived("halo")))), english=True)

    server.restart()
    after = await chat.handle(nik)  # the same update again (a redelivery, or the user's retry)
    assert chat.last_handled is Handled.ANSWERED
    assert "3205********0001 menunjukkan" in texts(after), after
    assert [(c.kind, c.message_id) for c in after if c.kind == "delete"] == [("delete", 777)]
    document = await built.state.sessions.load(chat.user_id)
    assert document is not None and document["step"] == "nik_confirm"


async def hung_then_resumed(built: Built, server: RedisServer | PostgresServer) -> None:
    """The store hangs (SIGSTOP): two users writing at once are both told "busy" within the
    turn's time limit, neither waits for the other; resumed, their same updates are handled."""
    first, second = Chat(built.service, 7501), Chat(built.service, 7502, first_update=1000)
    await first.to_nik()
    assert "Pilih bahasa" in await second.say("/start")

    server.freeze()
    try:
        nik = first.incoming(TextReceived(NIK, 778))
        language = second.button("🇮🇩 Bahasa Indonesia")
        during = await asyncio.wait_for(
            asyncio.gather(first.handle(nik), second.handle(language)), HANG
        )
        assert first.last_handled is Handled.BUSY and busy(texts(during[0])), during
        assert second.last_handled is Handled.BUSY and busy(texts(during[1])), during
        assert [c.kind for c in during[1]].count("answer") == 1
    finally:
        server.thaw()

    after = await asyncio.wait_for(first.handle(nik), HANG)
    assert first.last_handled is Handled.ANSWERED and "menunjukkan" in texts(after), after
    chosen = await asyncio.wait_for(second.handle(language), HANG)
    assert second.last_handled is Handled.ANSWERED and "NIP" in texts(chosen), chosen


async def test_redis_down_the_user_is_told_busy_and_the_update_is_handled_after_restart(
    on_redis: Built, redis_server: RedisServer
) -> None:
    await down_then_back(on_redis, redis_server)


async def test_postgresql_down_the_user_is_told_busy_and_the_update_is_handled_after_restart(
    on_postgres: Built, postgres_server: PostgresServer
) -> None:
    await down_then_back(on_postgres, postgres_server)


async def test_hung_redis_answers_busy_within_the_time_limit_and_resumes(
    on_redis: Built, redis_server: RedisServer
) -> None:
    await hung_then_resumed(on_redis, redis_server)


async def test_hung_postgresql_answers_busy_within_the_time_limit_and_resumes(
    on_postgres: Built, postgres_server: PostgresServer
) -> None:
    await hung_then_resumed(on_postgres, postgres_server)


# ---- the time limits themselves ----------------------------------------------------------------


def test_postgresql_connections_and_statements_have_time_limits(postgres_url: str) -> None:
    from sqlalchemy import text

    from bot.storage.db import (
        PG_CONNECT_TIMEOUT_S,
        POOL_TIMEOUT_S,
        create_db_engine,
        migration_engine,
    )

    engine, migrating = create_db_engine(postgres_url), migration_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "10s"
            parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
            assert parameters["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S)
            assert parameters["tcp_user_timeout"] == "15000"
            assert parameters["keepalives_idle"] == "10"
        assert engine.pool.timeout() == POOL_TIMEOUT_S  # type: ignore[attr-defined]
        with migrating.connect() as connection:  # a migration may run long: no limit there
            assert connection.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        engine.dispose()
        migrating.dispose()


def test_redis_commands_and_connections_have_time_limits(tmp_path: Path) -> None:
    from bot.storage.db import create_db_engine
    from bot.storage.state import RedisSessionStore, build_state

    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        state = build_state(engine, "redis://127.0.0.1:1/0", redis_timeout=2.5)
        assert isinstance(state.sessions, RedisSessionStore)
        options = state.sessions.client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == 2.5 and options["socket_connect_timeout"] == 2.5
    finally:
        engine.dispose()


async def test_webhook_answers_503_while_redis_is_down_so_telegram_delivers_the_update_again(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Through `peduli webhook` (aiogram inside, real HTTP): an update that finds the store down
    gets the user "busy" and Telegram a 503, so Telegram delivers it again; delivered again once
    the store is back, it is handled and answered 200."""
    import aiohttp

    from bot.app import serve_webhook
    from emulator.server import BotApiEmulator

    emulator = BotApiEmulator("123456:TEST")  # the token of turnkit's settings
    base_url = await emulator.start()
    port = free_port()
    secret = "outage_secret"
    server = await serve_webhook(
        settings(
            f"sqlite:///{tmp_path / 'peduli.sqlite3'}",
            tmp_path,
            telegram_api_url=base_url,
            redis_url=redis_server.url,
            turn_timeout_seconds=TURN_TIMEOUT,
            redis_timeout_seconds=1.0,
            webhook_url=f"http://127.0.0.1:{port}",
            webhook_secret=secret,
            webhook_listen=f"127.0.0.1:{port}",
        ),
        clock=lambda: NOW,
    )
    update = {
        "update_id": 9100,
        "message": {
            "message_id": 5,
            "date": 1_790_000_000,
            "chat": {"id": 7601, "type": "private", "first_name": "Tamu"},
            "from": {"id": 7601, "is_bot": False, "first_name": "Tamu"},
            "text": "/start",
        },
    }

    def said_to_user() -> str:
        return "\n".join(
            str(call.params.get("text", ""))
            for call in emulator.calls
            if call.method == "sendMessage" and call.params.get("chat_id") == 7601
        )

    async def deliver() -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as answer,
        ):
            return answer.status

    try:
        redis_server.kill()
        assert await asyncio.wait_for(deliver(), HANG) == 503
        assert busy(said_to_user()) and "Pilih bahasa" not in said_to_user()
        redis_server.restart()
        assert await asyncio.wait_for(deliver(), HANG) == 200  # Telegram's redelivery
        assert "Pilih bahasa" in said_to_user()
    finally:
        await server.stop()
        await emulator.stop()
