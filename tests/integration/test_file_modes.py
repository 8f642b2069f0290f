"""Files at rest (issue 6, item 18): the SQLite database and its -wal/-shm are owner-only, and the
development key guarding real data, or lying next to the database, is warned about."""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.settings import Settings
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.keys import verified_sealer, warn_dev_key_placement


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual umask 022, under which files are world-readable unless created otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_sqlite_database_wal_and_shm_are_created_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "var" / "peduli.sqlite3"
    url = f"sqlite:///{database}"
    upgrade_database(url)
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO processed_updates (update_id, claimed_at) VALUES (1, '2026-01-01')"
                )
            )
        with engine.connect() as connection:  # open: the -wal and -shm files exist now
            connection.execute(sa.text("SELECT count(*) FROM processed_updates"))
            files = sorted(path.name for path in database.parent.iterdir())
            assert files == ["peduli.sqlite3", "peduli.sqlite3-shm", "peduli.sqlite3-wal"]
            for name in files:
                assert mode(database.parent / name) == 0o600, name
    finally:
        engine.dispose()
    assert mode(database.parent) == 0o700


def test_an_existing_readable_database_is_warned_about_and_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "shared.sqlite3"
    database.touch()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bot.storage.db"):
        create_db_engine(f"sqlite:///{database}").dispose()
    assert "chmod 600" in caplog.text and str(database) in caplog.text
    assert mode(database) == 0o644
    caplog.clear()
    database.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="bot.storage.db"):
        create_db_engine(f"sqlite:///{database}").dispose()
    assert not caplog.records


def settings(tmp_path: Path, key_dir: str, database_dir: str, **changes: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / database_dir / 'peduli.sqlite3'}",
        data_key_file=tmp_path / key_dir / "dev-data-key",
        **changes,
    )


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_KEY", "DATA_KEY_OLD", "BOT_TOKEN", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)


def warned(config: Settings, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.storage.keys"):
        warn_dev_key_placement(config)
    return caplog.text


def test_dev_key_next_to_the_database_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = warned(settings(tmp_path, "var", "var"), caplog)
    assert "same directory as the database" in text and "Set DATA_KEY" in text
    assert warned(settings(tmp_path, "keys", "var"), caplog) == ""


def test_dev_key_of_a_real_bot_is_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    real = settings(tmp_path, "keys", "var", bot_token="123456:REAL")
    assert "the data of a real bot" in warned(real, caplog)
    emulated = settings(
        tmp_path, "keys", "var", bot_token="123456:TEST", telegram_api_url="http://127.0.0.1:1"
    )
    assert warned(emulated, caplog) == ""


def test_the_warning_is_given_at_start_and_not_with_data_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = settings(tmp_path, "var", "var")
    upgrade_database(dev.database_url)
    engine = create_db_engine(dev.database_url)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.storage.keys"):
            verified_sealer(dev, engine)
        assert "same directory as the database" in caplog.text
        caplog.clear()
        production = dev.model_copy(
            update={"data_key": base64.b64encode(bytes(range(32))).decode()}
        )
        engine.dispose()
        os.remove(tmp_path / "var" / "peduli.sqlite3")
        upgrade_database(dev.database_url)
        engine = create_db_engine(dev.database_url)
        with caplog.at_level(logging.WARNING, logger="bot.storage.keys"):
            verified_sealer(production, engine)
        assert not caplog.records
    finally:
        engine.dispose()
