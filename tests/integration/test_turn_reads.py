"""A turn reads its user in ONE statement (Reads.at_turn_within, a Core select with the sponsor,
the counts and the staff roles joined in), and reads the same record the ORM read
(user_record_within) gives: a sponsor with an open sponsorship who is also staff for two
agencies, a linked worker, someone who only said /start, and someone never seen. Counted, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.app import Built, build_service
from bot.settings import Settings
from tests.e2e.harness import NOW
from tests.integration.test_turn_cost import Counts
from tests.integration.turnkit import Chat, settings
from tests.migrated import migrate

SPONSOR, WORKER, NEWCOMER, STRANGER = 7601, 7602, 7603, 7604


@pytest.fixture(params=["sqlite", "postgresql"])
def configured(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return settings(f"sqlite:///{tmp_path / 'peduli.sqlite3'}", tmp_path)
    return settings(str(request.getfixturevalue("postgres_url")), tmp_path)


@pytest.fixture
async def built(configured: Settings) -> AsyncIterator[Built]:
    migrate(configured.database_url)
    made = build_service(configured, clock=lambda: NOW)
    yield made
    await made.aclose()


def reads_since(counts: Counts, mark: int) -> list[str]:
    """The statements since `mark` that read (BEGIN and writes left out)."""
    return [statement for statement in counts.statements[mark:] if statement.startswith("select")]


async def people(built: Built) -> None:
    sponsor = Chat(built.service, SPONSOR)
    await sponsor.to_summary()
    assert "Tersimpan" in await sponsor.press("💾 Simpan")
    await Chat(built.service, WORKER, first_update=1000).say("/start")
    await Chat(built.service, NEWCOMER, first_update=2000).say("/start")
    with built.engine.begin() as connection:
        for agency in ("dinkes", "disdik"):
            connection.execute(
                text(
                    "INSERT INTO staff_roles (user_id, agency_code, role, granted_at)"
                    " VALUES (:user, :agency, 'operator', :at)"
                ),
                {"user": SPONSOR, "agency": agency, "at": NOW},
            )
        # The worker accepted the invitation (the link is all the record reads).
        connection.execute(
            text("UPDATE sponsorships SET worker_user_id = :worker"), {"worker": WORKER}
        )


async def test_the_turns_read_of_a_user_is_one_statement_and_the_same_record(
    built: Built,
) -> None:
    await people(built)
    reads = built.service.repository._reads
    counts = Counts(built.engine)
    with Session(built.engine) as session:
        for user_id in (SPONSOR, WORKER, NEWCOMER):
            mark = len(counts.statements)
            found = reads.at_turn_within(session, user_id)
            assert len(reads_since(counts, mark)) == 1, counts.statements[mark:]
            assert found is not None
            assert found.record == reads.user_record_within(session, user_id), user_id
            assert found.chat_id == user_id and not found.unreachable
        assert reads.at_turn_within(session, STRANGER) is None

        sponsor = reads.user_record_within(session, SPONSOR)
        assert sponsor.sponsor is not None and sponsor.open_sponsorships == 1
        assert sponsor.staff_agencies == frozenset({"dinkes", "disdik"})
        worker = reads.user_record_within(session, WORKER)
        assert worker.worker_sponsorships == 1
        assert worker.worker_agency == sponsor.sponsor.agency_code


async def test_an_update_of_a_known_chat_reads_its_user_once(built: Built) -> None:
    await people(built)
    counts = Counts(built.engine)
    mark = len(counts.statements)
    with built.service.repository.unit() as session:
        record = built.service.repository.turn_record(session, SPONSOR, SPONSOR)
    assert record.sponsor is not None
    assert len(reads_since(counts, mark)) == 1, counts.statements[mark:]
    assert len(counts.statements) - mark <= 1 + int(built.engine.dialect.name == "sqlite")


async def test_a_turns_second_read_after_its_commands_is_one_statement_too(built: Built) -> None:
    """The engine settling a command's outcome reads the record again (ConversationService._apply
    through Repository.user_record_within): the one statement as well, the transaction's own
    writes seen."""
    await people(built)
    counts = Counts(built.engine)
    with built.service.repository.unit() as session:
        session.execute(
            text(
                "UPDATE sponsorships SET status = 'withdrawn', active_nik_index = NULL"
                " WHERE worker_user_id = :worker"
            ),
            {"worker": WORKER},
        )
        mark = len(counts.statements)
        record = built.service.repository.user_record_within(session, SPONSOR)
        assert len(reads_since(counts, mark)) == 1, counts.statements[mark:]
    assert record.sponsor is not None and record.open_sponsorships == 0


async def test_the_turns_read_is_built_once(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the statement (its alias, its subqueries) cost six times running it on SQLite:
    it is built once per process, not per turn."""
    from bot.storage import reads as reads_module

    await people(built)
    reads = built.service.repository._reads
    built_now: list[object] = []
    aliased = reads_module.aliased

    def counted(*args: object, **kwargs: object) -> object:
        built_now.append(args)
        return aliased(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(reads_module, "aliased", counted)
    with Session(built.engine) as session:
        for user_id in (SPONSOR, WORKER, NEWCOMER, SPONSOR):
            assert reads.at_turn_within(session, user_id) is not None
    assert len(built_now) <= 1, built_now


async def test_the_unfinished_flows_upsert_is_built_once(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn that moves a step on writes unfinished_flows (track_unfinished): the statement is
    built once per dialect and case, not per turn."""
    from bot.storage import reminders

    reminders._unfinished_upsert.cache_clear()
    made: list[str] = []
    dialect_insert = reminders.dialect_insert

    def counted(name: str) -> object:
        made.append(name)
        return dialect_insert(name)

    monkeypatch.setattr(reminders, "dialect_insert", counted)
    await Chat(built.service, SPONSOR).to_nik()  # eleven updates, most of them a new step
    assert 1 <= len(made) <= 2, made  # the first step, then the same draft moved on
