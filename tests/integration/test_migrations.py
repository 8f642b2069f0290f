"""Alembic migrations: they apply on empty SQLite and PostgreSQL, twice, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.storage.models  # noqa: F401  (registers the tables)
from bot.storage.db import create_db_engine, downgrade_database, head_revision, upgrade_database

TABLES = {
    "telegram_users",
    "sponsors",
    "sponsorships",
    "consents",
    "processed_updates",
    "conversation_sessions",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sub' / 'dir' / 'db.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def _diffs(url: str, metadata: sa.MetaData) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _state(url: str) -> tuple[set[str], str | None]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            version = None
            if "alembic_version" in tables:
                version = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
            return tables - {"alembic_version"}, version
    finally:
        engine.dispose()


def test_upgrade_from_empty_is_idempotent_and_matches_models(database_url: str) -> None:
    assert _state(database_url) == (set(), None)
    upgrade_database(database_url)
    assert _state(database_url) == (TABLES, head_revision())
    upgrade_database(database_url)  # second run: nothing to do, no error
    assert _state(database_url) == (TABLES, head_revision())
    assert _diffs(database_url, SQLModel.metadata) == []


def test_comparison_would_catch_a_drift(database_url: str) -> None:
    """Guards the test above: a model the migrations do not create shows up as a difference."""
    upgrade_database(database_url)
    drifted = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["sponsors"].append_column(sa.Column("jabatan", sa.String(100)))
    sa.Table("not_migrated", drifted, sa.Column("id", sa.Integer, primary_key=True))
    kinds = {diff[0] for diff in _diffs(database_url, drifted) if isinstance(diff, tuple)}
    assert {"add_column", "add_table"} <= kinds


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    upgrade_database(database_url)
    downgrade_database(database_url, "base")
    assert _state(database_url) == (set(), None)
    upgrade_database(database_url)
    assert _state(database_url)[0] == TABLES


def test_sqlite_engine_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "new" / "parent" / "db.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_cli_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.db import upgrade

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert upgrade() == 0
    output = capsys.readouterr().out.strip().splitlines()
    assert len(output) == 1 and head_revision() in output[0]
    assert _state(url)[0] == TABLES
