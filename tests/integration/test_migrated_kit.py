"""tests/migrated.py's copies of a migrated database are what a real migration makes: the same
tables, columns, indexes, constraints and revision, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import Engine

from bot.storage.db import create_db_engine, upgrade_database
from tests import migrated
from tests.conftest import DEFAULT_POSTGRES

POSTGRES_SHAPE = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default,"
    " character_maximum_length, numeric_precision FROM information_schema.columns"
    " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    "indexes": "SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '')"
    " FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
    "constraints": "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY conname",
    "sequences": "SELECT sequence_name, data_type FROM information_schema.sequences"
    " WHERE sequence_schema = current_schema() ORDER BY sequence_name",
    "revision": "SELECT version_num FROM alembic_version",
}
SQLITE_SHAPE = {
    "schema": "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
    "revision": "SELECT version_num FROM alembic_version",
}


def unordered(value: Any) -> Any:
    """A CREATE TABLE's lines as a set: SQLite batch migrations (which copy a table) do not keep
    the order of its constraints from one run to the next, which means nothing."""
    if isinstance(value, str) and value.startswith("CREATE TABLE"):
        return frozenset(line.strip().rstrip(",") for line in value.splitlines())
    return value


def shape(url: str, queries: dict[str, str]) -> dict[str, list[Any]]:
    engine: Engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return {
                what: [
                    tuple(unordered(value) for value in row)
                    for row in connection.execute(sqlalchemy.text(query))
                ]
                for what, query in queries.items()
            }
    finally:
        engine.dispose()


@pytest.fixture
def postgres_urls(postgres_url: str) -> Iterator[list[str]]:
    """Three more fresh schemas beside postgres_url's (which only proves the server is there)."""
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    schemas = ["t_" + uuid.uuid4().hex[:12] for _ in range(3)]
    with admin.connect() as connection:
        for schema in schemas:
            connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield [f"{base}{separator}options=-csearch_path%3D{schema}" for schema in schemas]
    with admin.connect() as connection:
        for schema in schemas:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_a_copied_postgresql_schema_is_the_migrated_one(postgres_urls: list[str]) -> None:
    real, first, copied = postgres_urls
    upgrade_database(real)
    migrated.migrate(first)  # the first in this process is migrated for real and recorded
    assert migrated._postgres_statements, "nothing was recorded"
    migrated.migrate(copied)  # a replay of the recording
    expected = shape(real, POSTGRES_SHAPE)
    assert expected["columns"] and expected["indexes"] and expected["constraints"]
    assert shape(copied, POSTGRES_SHAPE) == expected


def test_a_copied_sqlite_database_is_the_migrated_one(tmp_path: Path) -> None:
    real, first, copied = (f"sqlite:///{tmp_path / name}" for name in ("r.db", "f.db", "c.db"))
    upgrade_database(real)
    migrated.migrate(first)
    assert migrated._sqlite_template is not None
    migrated.migrate(copied)
    expected = shape(real, SQLITE_SHAPE)
    assert len(expected["schema"]) > 10
    assert shape(copied, SQLITE_SHAPE) == expected
    modes = {(tmp_path / name).stat().st_mode for name in ("r.db", "c.db")}
    assert len(modes) == 1, modes  # the bot warns about a database file others can read


def test_a_database_that_is_not_new_is_migrated_for_real(tmp_path: Path) -> None:
    """A file already there is not overwritten with the template."""
    path = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE kept (x INTEGER)"))
    engine.dispose()
    migrated.migrate(f"sqlite:///{path}")
    tables = {
        row[0] for row in shape(f"sqlite:///{path}", {"t": "SELECT name FROM sqlite_master"})["t"]
    }
    assert {"kept", "alembic_version", "sponsors"} <= tables
