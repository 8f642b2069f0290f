"""Sponsorships made through the real handlers, and ledger rows inserted directly (the ledger's
month opening is another module's), for the export tests (integration and e2e)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.storage.db import immediate
from bot.storage.models import Deduction, Sponsor, Sponsorship, StaffRole
from bot.storage.repository import Repository
from flows.commands import Applied, RecordInPersonConsent
from flows.text import t
from tests.integration.test_storage_repository import register, submit, text_hash, worker

AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
MONTH = date(2026, 12, 1)


@dataclass(frozen=True)
class Person:
    """A sponsor (user id, NIP, name, agency) and the worker they sponsor (name, NIK)."""

    user_id: int
    nip: str
    name: str
    agency: str
    worker_name: str
    nik: str
    confirmed: bool = True  # the worker's consent recorded (in person)


def seed(repo: Repository, people: list[Person]) -> dict[int, str]:
    """Register each sponsor and their sponsorship; returns user id -> reference."""
    references: dict[int, str] = {}
    for person in people:
        [registered] = repo.apply(
            person.user_id,
            [
                register(
                    person.user_id, person.nip, full_name=person.name, agency_code=person.agency
                )
            ],
        )
        assert registered == Applied(), registered
        command = submit(person.user_id, f"key-{person.user_id}", nik=person.nik)
        command = replace(command, worker=worker(person.nik, full_name=person.worker_name))
        [outcome] = repo.apply(person.user_id, [command], consent_text_hash=text_hash)
        assert isinstance(outcome, Applied) and outcome.reference, outcome
        references[person.user_id] = outcome.reference
        if person.confirmed:
            in_person = RecordInPersonConsent(
                person.user_id,
                outcome.reference,
                t("worker.in_person_statement"),
                "2026-11-1",
                None,
                AT,
            )
            [done] = repo.apply(person.user_id, [in_person], consent_text_hash=text_hash)  # type: ignore[list-item]
            assert isinstance(done, Applied), done
    return references


def add_deductions(
    engine: Engine, references: list[str], month: date = MONTH, amount: int = 16800
) -> None:
    """Ledger rows of `month` for these sponsorships, with the sponsor's agency."""
    with Session(immediate(engine)) as session, session.begin():  # the running bot writes too
        for reference in references:
            sponsorship = session.query(Sponsorship).filter_by(reference=reference).one()
            sponsor = session.get(Sponsor, sponsorship.sponsor_id)
            assert sponsor is not None and sponsorship.id is not None
            session.add(
                Deduction(
                    sponsorship_id=sponsorship.id,
                    month=month,
                    agency_code=sponsor.agency_code,
                    amount=amount,
                )
            )


def grant(engine: Engine, user_id: int, role: str, *agencies: str) -> None:
    """A staff role, as `peduli admin add` (another helper's) would store it."""
    with Session(immediate(engine)) as session, session.begin():  # the running bot writes too
        for agency in agencies:
            session.add(StaffRole(user_id=user_id, agency_code=agency, role=role))
