"""Migration 0012_jobs: the worker's category split into who the worker is to the sponsor and
what they do, on a database with data from before (SQLite rebuilds the table: rows, consents and
constraints survive), and back down again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import bot.storage.models  # noqa: F401  (registers the tables)
from bot.storage.db import (
    check_foreign_keys,
    create_db_engine,
    downgrade_database,
    upgrade_database,
)
from tests.integration.test_migrations import _diffs

BEFORE = "0010_lang"
AT = datetime(2026, 11, 1, tzinfo=UTC)

# id, old category, its free text -> expected (relationship, job, job_other)
ROWS: tuple[tuple[int, str, str | None, tuple[str | None, str | None, str | None]], ...] = (
    (1, "art", None, ("rumah_tangga", "art", None)),
    (2, "sopir", None, (None, "sopir", None)),
    (3, "tetangga", None, ("tetangga", None, None)),
    (4, "keluarga", None, ("keluarga", None, None)),
    (5, "lainnya", "marbot masjid", (None, "lainnya", "marbot masjid")),
    (6, "ojek", None, (None, "ojek", None)),
    (7, "pengemudi_becak", None, (None, "pengemudi_becak", None)),  # an operator's own code
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def _fill_before(url: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO telegram_users (user_id, created_at, updated_at)"
                    " VALUES (1, :at, :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sponsors (id, user_id, nip_sealed, nip_index, nip_masked,"
                    " nip_kind, full_name, agency_code, phone_sealed, phone_masked, created_at,"
                    " updated_at) VALUES (1, 1, 's', 'i', 'm', 'PNS', 'Budi', 'dinkes', 'p', 'pm',"
                    " :at, :at)"
                ),
                {"at": AT},
            )
            for row_id, category, other, _expected in ROWS:
                connection.execute(
                    sa.text(
                        "INSERT INTO sponsorships (id, reference, idempotency_key, sponsor_id,"
                        " status, worker_full_name, worker_category, worker_category_other,"
                        " nik_sealed, nik_index, nik_masked, active_nik_index, district_code,"
                        " district_name, village_name, programme_code, monthly_amount,"
                        " payment_method, created_at, updated_at) VALUES (:id, :reference, :key,"
                        " 1, 'waiting_worker', 'Siti', :category, :other, 'n', :nik, 'nm', :nik,"
                        " '32.05.01', 'Garut Kota', 'Sukamentri', 'jkk_jkm', 16800,"
                        " 'salary_deduction', :at, :at)"
                    ),
                    {
                        "id": row_id,
                        "reference": f"PR-AAAAA{row_id}",
                        "key": f"k{row_id}",
                        "category": category,
                        "other": other,
                        "nik": f"nik{row_id}",
                        "at": AT,
                    },
                )
            connection.execute(
                sa.text(
                    "INSERT INTO consents (sponsorship_id, subject, subject_user_id, kind, action,"
                    " channel, text_key, text_version, text_hash, amount, first_month,"
                    " recorded_at) VALUES (1, 'sponsor', 1, 'salary_deduction', 'given',"
                    " 'telegram', 'consent.salary_deduction', 'v1', 'h', 16800, :month, :at)"
                ),
                {"at": AT, "month": date(2026, 12, 1)},
            )
    finally:
        engine.dispose()


def test_0012_splits_each_old_category_and_keeps_the_rows(database_url: str) -> None:
    upgrade_database(database_url)
    downgrade_database(database_url, BEFORE)
    _fill_before(database_url)
    upgrade_database(database_url)
    assert _diffs(database_url, SQLModel.metadata) == []
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {
                row.id: (row.worker_relationship, row.worker_job, row.worker_job_other)
                for row in connection.execute(
                    sa.text(
                        "SELECT id, worker_relationship, worker_job, worker_job_other,"
                        " worker_full_name, status FROM sponsorships"
                    )
                )
            }
            assert found == {row_id: expected for row_id, _c, _o, expected in ROWS}
            columns = {c["name"] for c in sa.inspect(connection).get_columns("sponsorships")}
            assert "worker_category" not in columns and "worker_category_other" not in columns
            names = connection.execute(
                sa.text("SELECT DISTINCT worker_full_name, status FROM sponsorships")
            ).all()
            assert names == [("Siti", "waiting_worker")]
            assert connection.scalar(sa.text("SELECT count(*) FROM consents")) == 1
            check_foreign_keys(connection)
        # The rebuilt table kept its constraints: an open sponsorship cannot lose its NIK.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.text("UPDATE sponsorships SET nik_sealed = NULL WHERE id = 1"))
    finally:
        engine.dispose()

    # Down again (development only): the job, else the relationship, is the category again.
    downgrade_database(database_url, BEFORE)
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            back = dict(
                connection.execute(
                    sa.text("SELECT id, worker_category FROM sponsorships ORDER BY id")
                ).all()
            )
            assert back == {row_id: category for row_id, category, _o, _e in ROWS}
            other = connection.scalar(
                sa.text("SELECT worker_category_other FROM sponsorships WHERE id = 5")
            )
            assert other == "marbot masjid"
    finally:
        engine.dispose()
    upgrade_database(database_url)
    assert _diffs(database_url, SQLModel.metadata) == []
