"""The look-ups of a busy morning stay lean (issue 13): the duplicate-NIK check and /status are
prebuilt Core statements on ONE pooled connection each (no ORM session, no extra checkout),
and read what they read before. On SQLite and PostgreSQL; counted, never timed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.storage.ledger import mark_deducted, open_month
from bot.storage.repository import Repository
from flows.commands import Applied, InvitationOpened
from tests.clock import MovableClock
from tests.integration.test_storage_repository import NIK, SEALER, submit
from tests.integration.test_storage_worker import (
    ADMIN,
    SPONSOR,
    T0,
    WORKER,
    activate,
    in_person,
    one,
    sponsor_submits,
    worker_consent,
    worker_opens,
)
from tests.notify import notify

OTHER_NIK = "3205014501900002"


class Counted:
    def __init__(self) -> None:
        self.checkouts = 0
        self.statements: list[str] = []


@contextmanager
def counting(engine: Engine) -> Iterator[Counted]:
    counted = Counted()

    def checkout(*_: Any) -> None:
        counted.checkouts += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql != "BEGIN":  # SQLite's, emitted by bot.storage.db's WriterGate: in process
            counted.statements.append(" ".join(sql.split())[:200])

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield counted
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


def _two_sponsorships(repo: Repository, engine: Engine) -> tuple[str, str]:
    """The sponsor's first sponsorship confirmed in the worker's chat, activated, one month
    marked deducted; the second confirmed in person (the sponsor may hold two here)."""
    first, token = sponsor_submits(repo, "one", nik=NIK)
    assert isinstance(worker_opens(repo, token), InvitationOpened)
    assert one(repo, WORKER, worker_consent(first)) == Applied(first)
    assert one(repo, None, activate(first)) == Applied(first)
    with Session(engine) as session, session.begin():
        open_month(session, date(2026, 5, 1), repo_now(repo))
        assert mark_deducted(session, date(2026, 5, 1), None, 900, repo_now(repo)) == 1
    second = one(repo, SPONSOR, sponsor_submits_again(repo))
    assert isinstance(second, Applied) and second.reference
    assert one(repo, SPONSOR, in_person(second.reference)) == Applied(second.reference)
    return first, second.reference


def repo_now(_repo: Repository) -> Any:
    return T0


def sponsor_submits_again(_repo: Repository) -> Any:
    return submit(SPONSOR, "two", nik=OTHER_NIK)


def test_the_duplicate_nik_check_is_one_statement_on_one_connection(engine: Engine) -> None:
    repo = Repository(engine, SEALER, notify=notify, clock=MovableClock(T0))
    reference, _token = sponsor_submits(repo, nik=NIK)
    with counting(engine) as counted:
        assert repo.reference_for_nik(NIK) == reference
        assert repo.reference_for_nik(OTHER_NIK) is None
    assert counted.checkouts == 2
    assert len(counted.statements) == 2, counted.statements
    assert all("active_nik_index" in s for s in counted.statements)


def test_status_reads_on_one_connection_what_it_read_before(engine: Engine) -> None:
    repo_two = Repository(
        engine,
        SEALER,
        notify=notify,
        clock=MovableClock(T0),
        admin_ids=frozenset({ADMIN}),
        max_sponsorships_per_sponsor=2,
    )
    first, second = _two_sponsorships(repo_two, engine)
    with counting(engine) as counted:
        record, sponsorships, as_worker = repo_two.status_of(SPONSOR)
    # One checkout, two statements: the record, the sponsorships (with their consent channel
    # and marked months); the record counts no sponsorship as worker, so that list is not read.
    assert counted.checkouts == 1
    assert len(counted.statements) == 2, counted.statements
    assert record == repo_two.user_record(SPONSOR)
    assert [s.reference for s in sponsorships] == [second, first]
    newest, oldest = sponsorships
    assert (newest.consent_channel, newest.marked_months, newest.worker_linked) == (
        "in_person",
        0,
        False,
    )
    assert (oldest.consent_channel, oldest.marked_months, oldest.worker_linked) == (
        "telegram",
        1,
        True,
    )
    assert oldest.status == "active" and oldest.kpj_masked and oldest.coverage_start
    assert as_worker == []
    assert repo_two.sponsorships_of(SPONSOR) == sponsorships
    assert repo_two.personal_data(SPONSOR).sponsorships == sponsorships

    repo_two.remember_chat(WORKER, WORKER)  # as every turn of the worker's has
    with counting(engine) as counted:
        listed = repo_two.sponsorships_of(SPONSOR)
        worker_record, _none, linked = repo_two.status_of(WORKER)
    assert listed == sponsorships
    # The worker's: the record and the sponsorships as worker (not a sponsor: no list of those).
    assert counted.checkouts == 2 and len(counted.statements) == 3, counted.statements
    assert not any("worker_full_name" in s for s in counted.statements[1:])
    assert worker_record.worker_sponsorships == 1
    [view] = linked
    assert (view.reference, view.status, view.agency_code) == (first, "active", "32.05.DINKES")
    assert view.kpj_masked == oldest.kpj_masked
    assert repo_two.worker_sponsorships(WORKER) == linked
