"""Alembic migrations: they apply on empty SQLite and PostgreSQL, twice, and match the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.storage.models  # noqa: F401  (registers the tables)
from bot.storage.db import (
    HEAD_REVISION,
    at_head,
    check_foreign_keys,
    create_db_engine,
    downgrade_database,
    head_revision,
    migration_engine,
    not_migrated,
    upgrade_database,
)

TABLES = {
    "telegram_users",
    "sponsors",
    "sponsorships",
    "consents",
    "processed_updates",
    "conversation_sessions",
}
TABLES_0001 = set(TABLES)
TABLES |= {"invitations", "requests", "outbox"}
TABLES_0003 = set(TABLES)
TABLES |= {"key_check"}
TABLES |= {"invitation_openers"}
TABLES |= {"staff_roles", "audit_log", "deductions", "roster"}
TABLES |= {"announcements", "campaigns", "unfinished_flows"}
TABLES |= {"stats_totals", "stats_deltas"}  # 0015_stats: the kept counts


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


def test_the_head_known_without_alembic_is_alembics_head() -> None:
    """HEAD_REVISION, what a start compares the database with instead of importing Alembic,
    follows the migration scripts: a migration added without updating it fails here."""
    assert head_revision() == HEAD_REVISION


def test_a_start_on_a_database_at_head_does_not_import_alembic(database_url: str) -> None:
    """Alembic is 11 MB of a bot's memory: a database already at head is told so by one query
    (a fresh interpreter, as a bot's start; its migration and its commands' check)."""
    upgrade_database(database_url)
    code = (
        "import sys\n"
        "from bot.storage.db import create_db_engine, not_migrated, upgrade_database\n"
        f"upgrade_database({database_url!r})\n"
        f"engine = create_db_engine({database_url!r})\n"
        "assert not_migrated(engine) is None\n"
        "engine.dispose()\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_a_database_behind_head_is_still_migrated(database_url: str) -> None:
    upgrade_database(database_url)
    downgrade_database(database_url, "0012_jobs")
    assert not at_head(database_url)
    engine = create_db_engine(database_url)
    try:
        problem = not_migrated(engine)
        assert problem is not None and f"revision 0012_jobs, not {HEAD_REVISION}" in problem
    finally:
        engine.dispose()
    upgrade_database(database_url)
    assert at_head(database_url)
    assert _state(database_url) == (TABLES, HEAD_REVISION)


# ---- revision 0002 (issue 3) -------------------------------------------------------------------

_ROWS_0001 = (
    "INSERT INTO telegram_users (user_id, created_at, updated_at) VALUES (1, :at, :at)",
    "INSERT INTO sponsors (id, user_id, nip_sealed, nip_index, nip_masked, nip_kind, full_name,"
    " agency_code, phone_sealed, phone_masked, created_at, updated_at) VALUES (1, 1, 's', 'i',"
    " 'm', 'PNS', 'Budi', 'A', 'p', 'pm', :at, :at)",
    "INSERT INTO sponsorships (id, reference, idempotency_key, sponsor_id, status,"
    " worker_full_name, worker_category, nik_sealed, nik_index, nik_masked, active_nik_index,"
    " district_code, district_name, village_name, programme_code, monthly_amount,"
    " payment_method, created_at, updated_at) VALUES (1, 'PR-AAAAAA', 'k', 1, 'waiting_worker',"
    " 'Siti', 'art', 'n', 'ni', 'nm', 'ni', '32.05.01', 'Garut Kota', 'Sukamentri',"
    " 'bpu-jkk-jkm', 16800, 'salary_deduction', :at, :at)",
    "INSERT INTO consents (sponsorship_id, subject, subject_user_id, kind, action, text_key,"
    " text_version, text_hash, amount, first_month, recorded_at) VALUES (1, 'sponsor', 1,"
    " 'salary_deduction', 'given', 'consent.salary_deduction', 'v1', 'h', 16800, :month, :at)",
)


def test_0002_upgrades_a_0001_database_with_data(database_url: str) -> None:
    """Rebuilding sponsorships (SQLite batch mode) keeps its rows and the consents pointing at
    them; old consents get channel "telegram" and recorded_by = their subject."""
    from datetime import UTC, date, datetime

    upgrade_database(database_url)
    downgrade_database(database_url, "0001")
    assert _state(database_url) == (TABLES_0001, "0001")
    engine = create_db_engine(database_url)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            for statement in _ROWS_0001:
                connection.execute(sa.text(statement), {"at": at, "month": date(2026, 2, 1)})
    finally:
        engine.dispose()
    upgrade_database(database_url)
    assert _state(database_url) == (TABLES, head_revision())
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            consent = connection.execute(sa.text("SELECT * FROM consents")).mappings().one()
            assert (consent["channel"], consent["recorded_by_user_id"]) == ("telegram", 1)
            row = connection.execute(sa.text("SELECT * FROM sponsorships")).mappings().one()
            assert (row["worker_full_name"], row["status"], row["erased_at"]) == (
                "Siti",
                "waiting_worker",
                None,
            )
            check_foreign_keys(connection)
        # The rebuilt tables kept their constraints: an open sponsorship cannot lose its NIK,
        # a consent cannot have an unknown action, erased data are allowed once it is closed.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.text("UPDATE sponsorships SET nik_sealed = NULL"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.text("UPDATE consents SET action = 'maybe'"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.text("UPDATE consents SET channel = 'fax'"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.text("UPDATE sponsorships SET status = 'withdrawn'"))
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE sponsorships SET status = 'declined', active_nik_index = NULL,"
                    " worker_full_name = NULL, nik_sealed = NULL, nik_index = NULL,"
                    " nik_masked = NULL, village_name = NULL, erased_at = :at"
                ),
                {"at": at},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO consents (sponsorship_id, subject, subject_user_id, kind,"
                    " action, channel, text_key, text_version, text_hash, amount, recorded_at)"
                    " VALUES (1, 'worker', 2, 'worker_data', 'declined', 'telegram',"
                    " 'worker.decline', '', 'h', 16800, :at)"
                ),
                {"at": at},
            )
        with engine.connect() as connection:
            assert _foreign_keys_on(connection)
    finally:
        engine.dispose()
    # Down again (development only): erased values become '', rows 0001 cannot hold go.
    downgrade_database(database_url, "0001")
    assert _state(database_url) == (TABLES_0001, "0001")
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM consents")) == 1
            assert connection.scalar(sa.text("SELECT worker_full_name FROM sponsorships")) == ""
    finally:
        engine.dispose()
    upgrade_database(database_url)
    assert _diffs(database_url, SQLModel.metadata) == []


def _foreign_keys_on(connection: sa.Connection) -> bool:
    if connection.dialect.name != "sqlite":
        return True
    return bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())


def test_migration_engine_checks_foreign_keys_on_sqlite(tmp_path: Path) -> None:
    """Migrations run with SQLite's foreign keys off; the check before commit still catches a
    dangling reference, and ordinary engines keep them on."""
    url = f"sqlite:///{tmp_path / 'fk.sqlite3'}"
    upgrade_database(url)
    engine = migration_engine(url)
    try:
        with pytest.raises(RuntimeError, match="consents"), engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
            connection.execute(
                sa.text(
                    "INSERT INTO consents (sponsorship_id, subject, kind, action, channel,"
                    " text_key, text_version, text_hash, amount, recorded_at) VALUES (99,"
                    " 'sponsor', 'salary_deduction', 'given', 'telegram', 'k', 'v', 'h', 1,"
                    " '2026-01-01')"
                )
            )
            check_foreign_keys(connection)
    finally:
        engine.dispose()
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM consents")) == 0
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    finally:
        engine.dispose()


# ---- revision 0003 (outbox lease) --------------------------------------------------------------


def test_0003_adds_the_outbox_lease_to_existing_rows(database_url: str) -> None:
    """Rows written before 0003 come out unclaimed (claimed_until NULL), and down again the
    column and the index go."""
    from datetime import UTC, datetime

    upgrade_database(database_url)
    downgrade_database(database_url, "0002")
    assert _state(database_url) == (TABLES_0003, "0002")
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO outbox (dedupe_key, recipient_user_id, message, created_at,"
                    " attempts) VALUES ('k', 1, 'm', :at, 0)"
                ),
                {"at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
    finally:
        engine.dispose()
    upgrade_database(database_url)
    assert _state(database_url) == (TABLES, head_revision())
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT * FROM outbox")).mappings().one()
            assert (row["dedupe_key"], row["claimed_until"]) == ("k", None)
            indexes = {index["name"] for index in sa.inspect(connection).get_indexes("outbox")}
            assert "ix_outbox_pending" in indexes
    finally:
        engine.dispose()
    assert _diffs(database_url, SQLModel.metadata) == []
    downgrade_database(database_url, "0002")
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "claimed_until" not in {c["name"] for c in inspector.get_columns("outbox")}
            assert "ix_outbox_pending" not in {i["name"] for i in inspector.get_indexes("outbox")}
            assert connection.scalar(sa.text("SELECT count(*) FROM outbox")) == 1
    finally:
        engine.dispose()
