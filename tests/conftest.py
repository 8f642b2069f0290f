"""Shared fixtures: real PostgreSQL and Redis when reachable.

Locally a missing server skips its tests; under CI=true it fails them: CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# aiogram as the bot imports it, whichever test imports it first: through the transport package,
# its Telegram types built on first use (bot/telegram_aiogram/lazy_types.py).
import bot.telegram_aiogram  # noqa: F401

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI=true: PostgreSQL and Redis tests must run)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped after the test."""
    import sqlalchemy

    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # any connection failure means "not reachable"
        _unavailable("PostgreSQL", error)
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        client = redis.Redis.from_url(url)
        client.ping()
        client.close()
    except Exception as error:
        _unavailable("Redis", error)
    return url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of its own for each test, so tests never see each other's keys."""
    return f"test:{uuid.uuid4().hex[:10]}:"
