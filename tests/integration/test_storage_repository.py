"""Repository: domain commands applied in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.security.crypto import Sealer
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.models import AppendOnlyViolation, Consent
from bot.storage.repository import (
    REFERENCE_ALPHABET,
    IdempotencyConflict,
    Repository,
    SponsorView,
    UserRecord,
)
from flows.commands import (
    Applied,
    ConsentGiven,
    Refused,
    RegisterSponsor,
    SetLanguage,
    SubmitSponsorship,
    WorkerDetails,
)
from flows.text import t
from tests.notify import notify

SEALER = Sealer(bytes(range(32)))
NIK = "3205014501900001"  # Garut, female, born 1990-01-05
NIP = "198503152010011001"
PHONE = "+6281234567890"
WORKER_PHONE = "+6285711112222"
SECRETS = (NIK, NIP, PHONE, WORKER_PHONE, PHONE.lstrip("+"), WORKER_PHONE.lstrip("+"))
GIVEN_AT = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)


# ---- builders ----------------------------------------------------------------------------------


def register(user_id: int, nip: str = NIP, **changes: object) -> RegisterSponsor:
    command = RegisterSponsor(
        user_id=user_id,
        nip=nip,
        nip_kind="PNS",
        full_name="Budi Santoso",
        agency_code="32.05.DINKES",
        phone_e164=PHONE,
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def worker(nik: str = NIK, **changes: object) -> WorkerDetails:
    details = WorkerDetails(
        relationship="rumah_tangga",
        job="art",
        job_other=None,
        full_name="Siti Aminah",
        nik=nik,
        nik_disagreement=None,
        phone_e164=WORKER_PHONE,
        district_code="32.05.01",
        district_name="Garut Kota",
        village_code="32.05.01.1001",
        village_name="Sukamentri",
    )
    return replace(details, **changes)  # type: ignore[arg-type]


def consent(message_id: int | None = 777) -> ConsentGiven:
    return ConsentGiven(
        statement=t("consent.salary_deduction", amount="Rp16.800", first_month="April 2026"),
        text_version="2026-01",
        amount=16800,
        first_month=date(2026, 4, 1),
        message_id=message_id,
        given_at=GIVEN_AT,
    )


def submit(user_id: int, key: str, nik: str = NIK, **changes: object) -> SubmitSponsorship:
    command = SubmitSponsorship(
        idempotency_key=key,
        sponsor_user_id=user_id,
        worker=worker(nik),
        programme_code="bpu-jkk-jkm",
        monthly_amount=16800,
        payment_method="salary_deduction",
        consent=consent(),
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def text_hash(given: ConsentGiven) -> str:
    """Stands in for the host, which renders the statement and hashes the exact text."""
    return hashlib.sha256(f"{given.statement.key}|{given.text_version}".encode()).hexdigest()


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine, SEALER, notify=notify)


def apply(repo: Repository, user_id: int, *commands: object) -> list[object]:
    return list(repo.apply(user_id, commands, consent_text_hash=text_hash))  # type: ignore[arg-type]


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)


# ---- users and sponsors ------------------------------------------------------------------------


def test_unknown_user_record(repo: Repository) -> None:
    assert repo.user_record(1) == UserRecord(1, None, None, 0)


def test_language_and_chat(repo: Repository) -> None:
    assert apply(repo, 1, SetLanguage(1, "en")) == [Applied()]
    repo.remember_chat(1, 9001)
    repo.remember_chat(2, 9002)
    assert repo.user_record(1).language == "en"
    assert repo.user_record(2).language is None
    assert apply(repo, 1, SetLanguage(1, "id")) == [Applied()]
    assert repo.user_record(1).language == "id"


def test_register_sponsor(repo: Repository, engine: Engine) -> None:
    assert apply(repo, 1, register(1)) == [Applied()]
    record = repo.user_record(1)
    assert record.sponsor == SponsorView(
        user_id=1,
        full_name="Budi Santoso",
        agency_code="32.05.DINKES",
        nip_masked="1985***********001",
        nip_kind="PNS",
        phone_masked="+62812****7890",
    )
    assert record.open_sponsorships == 0
    # Registering again updates the same row.
    assert apply(repo, 1, register(1, full_name="Budi S.", nip_kind="PPPK")) == [Applied()]
    assert repo.user_record(1).sponsor == replace(
        record.sponsor, full_name="Budi S.", nip_kind="PPPK"
    )
    assert count(engine, "sponsors") == 1


def test_nip_taken_by_another_account(repo: Repository, engine: Engine) -> None:
    assert apply(repo, 1, register(1)) == [Applied()]
    assert apply(repo, 2, register(2)) == [Refused("nip_taken")]
    assert repo.user_record(2).sponsor is None
    assert count(engine, "sponsors") == 1
    # The first account may change to another NIP; then the old one is free.
    assert apply(repo, 1, register(1, nip="199001012015032002")) == [Applied()]
    assert apply(repo, 2, register(2)) == [Applied()]


def test_refused_command_rolls_back_only_itself(repo: Repository) -> None:
    apply(repo, 1, register(1))
    outcomes = apply(repo, 2, SetLanguage(2, "en"), register(2), SetLanguage(2, "id"))
    assert outcomes == [Applied(), Refused("nip_taken"), Applied()]
    assert repo.user_record(2) == UserRecord(2, "id", None, 0)


def test_error_rolls_back_the_whole_turn(repo: Repository) -> None:
    with pytest.raises(ValueError, match="NIP"):
        apply(repo, 1, SetLanguage(1, "en"), register(1, nip="12345"))
    assert repo.user_record(1).language is None


def test_commands_for_another_user_are_rejected(repo: Repository) -> None:
    with pytest.raises(ValueError, match="another user"):
        apply(repo, 1, SetLanguage(2, "en"))
    assert repo.user_record(2).language is None


# ---- sponsorships ------------------------------------------------------------------------------


def test_submit_sponsorship(repo: Repository, engine: Engine) -> None:
    assert apply(repo, 1, submit(1, "draft-1")) == [Refused("not_registered")]
    apply(repo, 1, register(1))
    [outcome] = apply(repo, 1, submit(1, "draft-1"))
    assert isinstance(outcome, Applied) and outcome.reference is not None
    reference = outcome.reference
    assert reference.startswith("PR-") and len(reference) == 9
    assert set(reference[3:]) <= set(REFERENCE_ALPHABET)
    assert repo.user_record(1).open_sponsorships == 1
    assert repo.reveal_nik(reference) == NIK
    assert repo.reveal_nik("PR-NOPE22") is None
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM sponsorships")).mappings().one()
    assert row["status"] == "waiting_worker"
    assert row["nik_index"] == row["active_nik_index"] == SEALER.blind_index(NIK, "nik")
    assert row["nik_masked"] == "3205********0001"
    assert SEALER.open(row["worker_phone_sealed"]) == WORKER_PHONE
    assert row["worker_phone_masked"] == "+62857****2222"


def test_sponsorship_without_worker_phone(repo: Repository) -> None:
    apply(repo, 1, register(1))
    command = submit(1, "draft-1")
    command = replace(command, worker=replace(command.worker, phone_e164=None))
    assert isinstance(apply(repo, 1, command)[0], Applied)


def test_same_idempotency_key_gives_same_reference(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1))
    [first] = apply(repo, 1, submit(1, "draft-1"))
    # Double press of "Simpan", or a replayed update: nothing is stored twice.
    second = apply(repo, 1, submit(1, "draft-1"), submit(1, "draft-1"))
    assert isinstance(first, Applied)
    assert [outcome.reference for outcome in second] == [first.reference] * 2  # type: ignore[attr-defined]
    assert count(engine, "sponsorships") == 1
    assert count(engine, "consents") == 1


def test_idempotency_key_of_another_sponsor_is_a_bug(repo: Repository) -> None:
    apply(repo, 1, register(1))
    apply(repo, 2, register(2, nip="199001012015032002"))
    apply(repo, 1, submit(1, "draft-1"))
    with pytest.raises(IdempotencyConflict):
        apply(repo, 2, submit(2, "draft-1", nik="3205014501900002"))


def test_limit_reached(engine: Engine) -> None:
    repo = Repository(engine, SEALER, notify=notify, max_sponsorships_per_sponsor=2)
    apply(repo, 1, register(1))
    assert isinstance(apply(repo, 1, submit(1, "a", nik="3205014501900001"))[0], Applied)
    assert isinstance(apply(repo, 1, submit(1, "b", nik="3205014501900002"))[0], Applied)
    assert apply(repo, 1, submit(1, "c", nik="3205014501900003")) == [Refused("limit_reached")]
    assert repo.user_record(1).open_sponsorships == 2


def test_nik_taken_by_another_sponsor(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1))
    apply(repo, 2, register(2, nip="199001012015032002"))
    assert isinstance(apply(repo, 1, submit(1, "a"))[0], Applied)
    assert apply(repo, 2, submit(2, "b")) == [Refused("nik_taken")]
    assert repo.sponsorships_of(2) == []
    assert count(engine, "consents") == 1
    # Once the first sponsorship is closed, the worker may be sponsored again.
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE sponsorships SET status = 'withdrawn', active_nik_index = NULL")
        )
    assert isinstance(apply(repo, 2, submit(2, "b"))[0], Applied)


def test_database_keeps_active_nik_index_consistent(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1))
    apply(repo, 1, submit(1, "a"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("UPDATE sponsorships SET status = 'withdrawn'"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("UPDATE sponsorships SET active_nik_index = NULL"))


def test_race_for_one_nik_has_exactly_one_winner(database_url: str) -> None:
    """Two ASN, two "processes" (engines), the same worker at the same moment."""
    engines = [create_db_engine(database_url) for _ in range(2)]
    repos = [Repository(e, SEALER, notify=notify, max_sponsorships_per_sponsor=10) for e in engines]
    try:
        apply(repos[0], 1, register(1))
        apply(repos[1], 2, register(2, nip="199001012015032002"))
        for round_number in range(4):
            nik = f"320501450190000{round_number + 1}"
            barrier = threading.Barrier(2)

            def race(user_id: int, nik: str = nik, barrier: threading.Barrier = barrier) -> object:
                barrier.wait()
                command = submit(user_id, f"{user_id}-{nik}", nik=nik)
                return apply(repos[user_id - 1], user_id, command)[0]

            with ThreadPoolExecutor(max_workers=2) as pool:
                outcomes = list(pool.map(race, [1, 2]))
            assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Applied", "Refused"]
            assert Refused("nik_taken") in outcomes
        assert count(engines[0], "sponsorships") == 4
    finally:
        for engine in engines:
            engine.dispose()


def test_reference_collision_draws_again(engine: Engine) -> None:
    draws = iter(["PR-AAAAAA", "PR-AAAAAA", "PR-BBBBBB"])
    repo = Repository(
        engine,
        SEALER,
        notify=notify,
        max_sponsorships_per_sponsor=5,
        new_reference=lambda: next(draws),
    )
    apply(repo, 1, register(1))
    [first] = apply(repo, 1, submit(1, "a", nik="3205014501900001"))
    [second] = apply(repo, 1, submit(1, "b", nik="3205014501900002"))
    assert first.reference == "PR-AAAAAA"  # type: ignore[attr-defined]
    assert second.reference == "PR-BBBBBB"  # type: ignore[attr-defined]


def test_consent_row(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1))
    [outcome] = apply(repo, 1, submit(1, "draft-1"))
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.text(
                    "SELECT c.*, s.reference FROM consents c"
                    " JOIN sponsorships s ON s.id = c.sponsorship_id"
                )
            )
            .mappings()
            .one()
        )
    assert row["reference"] == outcome.reference  # type: ignore[union-attr]
    assert (row["subject"], row["subject_user_id"], row["kind"], row["action"]) == (
        "sponsor",
        1,
        "salary_deduction",
        "given",
    )
    assert row["text_key"] == "consent.salary_deduction"
    assert row["text_version"] == "2026-01"
    assert row["text_hash"] == text_hash(consent())
    assert (row["amount"], row["message_id"]) == (16800, 777)
    assert row["first_month"] in (date(2026, 4, 1), "2026-04-01")


def test_consent_hash_must_be_sha256_hex(repo: Repository) -> None:
    apply(repo, 1, register(1))
    with pytest.raises(ValueError, match="sha256"):
        repo.apply(1, [submit(1, "draft-1")], consent_text_hash=lambda _: "not a hash")
    assert repo.sponsorships_of(1) == []


def test_consents_are_append_only(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1))
    apply(repo, 1, submit(1, "draft-1"))
    with Session(engine) as session:
        row = session.scalars(sa.select(Consent)).one()
        assert row.recorded_at == GIVEN_AT
        row.amount = 1
        with pytest.raises(AppendOnlyViolation):
            session.flush()
        session.rollback()
        session.delete(session.scalars(sa.select(Consent)).one())
        with pytest.raises(AppendOnlyViolation):
            session.flush()


def test_sponsorships_of_newest_first(engine: Engine) -> None:
    times = iter(datetime(2026, 1, day, tzinfo=UTC) for day in range(1, 30))
    repo = Repository(
        engine, SEALER, notify=notify, max_sponsorships_per_sponsor=3, clock=lambda: next(times)
    )
    apply(repo, 1, register(1))
    apply(repo, 1, submit(1, "a", nik="3205014501900001"))
    command = submit(1, "b", nik="3205014501900002", payment_method="self_payment")
    command = replace(
        command,
        worker=replace(
            command.worker, relationship="tetangga", job="lainnya", job_other="penjaga sekolah"
        ),
    )
    apply(repo, 1, command)
    views = repo.sponsorships_of(1)
    assert [view.nik_masked for view in views] == ["3205********0002", "3205********0001"]
    newest = views[0]
    assert (newest.worker_relationship, newest.worker_job, newest.worker_job_other) == (
        "tetangga",
        "lainnya",
        "penjaga sekolah",
    )
    assert (newest.payment_method, newest.monthly_amount) == ("self_payment", 16800)
    assert (newest.status, newest.programme_code) == ("waiting_worker", "bpu-jkk-jkm")
    assert newest.worker_full_name == "Siti Aminah"
    assert newest.created_at.tzinfo is not None
    assert newest.created_at > views[1].created_at
    assert repo.sponsorships_of(2) == []


# ---- personal data never in clear --------------------------------------------------------------


def test_no_personal_data_in_clear_in_file_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQL statements, parameters and rows
    path = tmp_path / "pdp.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    engine = create_db_engine(f"sqlite:///{path}")
    repo = Repository(engine, SEALER, notify=notify)
    apply(repo, 1, SetLanguage(1, "id"), register(1))
    [outcome] = apply(repo, 1, submit(1, "draft-1"))
    assert isinstance(outcome, Applied)
    repo.user_record(1)
    repo.sponsorships_of(1)
    apply(repo, 2, register(2))  # refused: nip_taken
    apply(repo, 1, submit(1, "draft-2", nik="3205014501900009"))  # refused: limit_reached
    wal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("pdp.sqlite3-*"))
    engine.dispose()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("pdp.sqlite3*")) + wal_bytes
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert b"Siti Aminah" in stored  # the check reads real data: names are stored in clear
    assert "INSERT INTO sponsorships" in logged  # and logging of SQL really was captured
    for secret in SECRETS:
        assert secret.encode() not in stored, "personal data stored in clear"
        assert secret not in logged, "personal data logged in clear"
