"""PostgreSQL connections are pinged before use only after they sat idle in the pool
(bot.storage.db.IdlePing): a connection in use moments ago costs no `SELECT 1` round trip, one
idle longer than IDLE_BEFORE_PING_S is pinged and, found dropped, replaced before the turn uses
it. The idle limit is set by the tests (never waited for): nothing here depends on time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.storage import db
from bot.storage.db import create_db_engine


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    made = create_db_engine(postgres_url)
    yield made
    made.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The pings the engine's dialect makes, in order."""
    made: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        made.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return made


def backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_used_moments_ago_is_not_pinged_an_idle_one_is(
    engine: Engine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_BEFORE_PING_S", 3600.0)  # nothing counts as idle
    first = backend(engine)  # a new connection: not pinged either
    assert [backend(engine) for _ in range(3)] == [first] * 3
    assert pings == []  # pool_pre_ping would have pinged 3 times

    monkeypatch.setattr(db, "IDLE_BEFORE_PING_S", 0.0)  # every connection back counts as idle
    assert backend(engine) == first
    assert len(pings) == 1


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engine: Engine, pings: list[Any], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    dropped = backend(engine)
    other = create_db_engine(postgres_url)
    try:
        with other.begin() as connection:  # as a server restart or a proxy's timeout would
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
    finally:
        other.dispose()
    monkeypatch.setattr(db, "IDLE_BEFORE_PING_S", 0.0)
    assert backend(engine) != dropped  # the turn's statement ran on a new connection
    assert len(pings) == 1


def test_the_connection_returned_last_is_taken_first(engine: Engine) -> None:
    """LIFO: under load the same connections stay in use (unpinged); the others age."""
    with engine.connect() as first, engine.connect() as second:
        older = first.scalar(text("SELECT pg_backend_pid()"))
        newer = second.scalar(text("SELECT pg_backend_pid()"))
        first.close()  # returned first; `second` returned last, when the block ends
    assert older != newer
    assert backend(engine) == newer
