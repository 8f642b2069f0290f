"""Marking a month deducted from the chat (flows.commands.MarkMonthDeducted through the unit of
work, bot.storage.handlers.ledger), on SQLite and PostgreSQL: only within the actor's scope read
from the database, only unmarked rows, a second press marks nothing, an audit entry each time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.storage import audit
from bot.storage.models import AuditEntry, Deduction
from bot.storage.repository import Repository
from flows.commands import Applied, MarkMonthDeducted, Refused
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER
from tests.integration.test_storage_worker import one
from tests.notify import notify
from tests.statskit import Worker, add_deductions, add_sponsors, add_sponsorships, grant

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
ADMIN, TREASURER, OTHER_TREASURER, OPERATOR, OUTSIDER = 9, 800, 801, 802, 803


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(
        engine,
        SEALER,
        notify=notify,
        clock=MovableClock(NOW),
        admin_ids=frozenset({ADMIN}),
        agency_codes=frozenset({"dinkes", "disdik"}),
    )


@pytest.fixture
def ledger(engine: Engine) -> dict[str, list[int]]:
    """December: dinkes 3 rows (one already marked), disdik 2; November: dinkes 1 unmarked."""
    sponsors = add_sponsors(engine, SEALER, [(101, "dinkes", 1), (102, "disdik", 2)])
    active = Worker("active", coverage_start=date(2026, 10, 1))
    dinkes = add_sponsorships(engine, [(sponsors[101], active)] * 3, start=0)
    disdik = add_sponsorships(engine, [(sponsors[102], active)] * 2, start=10)
    add_deductions(
        engine,
        [
            (dinkes[0], DEC, "dinkes", 16800, True),
            (dinkes[1], DEC, "dinkes", 16800, False),
            (dinkes[2], DEC, "dinkes", 16800, False),
            (disdik[0], DEC, "disdik", 16800, False),
            (disdik[1], DEC, "disdik", 16800, False),
            (dinkes[1], NOV, "dinkes", 16800, False),
        ],
    )
    grant(engine, TREASURER, "treasurer", "dinkes")
    grant(engine, OTHER_TREASURER, "treasurer", "disdik")
    grant(engine, OPERATOR, "operator", "dinkes", "disdik")
    return {"dinkes": dinkes, "disdik": disdik}


def marked(engine: Engine) -> dict[tuple[str, date], list[int | None]]:
    """Per agency and month, who marked each row (None: unmarked), by row id."""
    found: dict[tuple[str, date], list[int | None]] = {}
    with Session(engine) as session:
        rows = session.scalars(sa.select(Deduction).order_by(Deduction.id)).all()  # type: ignore[arg-type]
        for row in rows:
            if row.deducted_at is None:
                by = None
            else:
                by = row.deducted_by_user_id if row.deducted_by_user_id is not None else 0
            found.setdefault((row.agency_code, row.month), []).append(by)
    return found


def marks(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(audit.entries(session, action="ledger.mark"))


@pytest.mark.usefixtures("ledger")
def test_a_treasurer_marks_only_the_unmarked_rows_of_their_agency_and_month(
    engine: Engine, repo: Repository
) -> None:
    outcome = one(repo, TREASURER, MarkMonthDeducted(TREASURER, DEC))
    assert outcome == Applied(row_count=2)
    rows = marked(engine)
    # The row marked before (by nobody: inserted marked) keeps its mark; November untouched.
    assert rows[("dinkes", DEC)] == [0, TREASURER, TREASURER]
    assert rows[("disdik", DEC)] == [None, None]
    assert rows[("dinkes", NOV)] == [None]
    [entry] = marks(engine)
    assert (entry.actor_user_id, entry.row_count, entry.scope) == (TREASURER, 2, "dinkes")
    assert entry.channel == audit.TELEGRAM
    assert entry.detail == "month=2026-12 agency=* chat"
    # Pressed again: nothing left to mark, and that too is logged.
    assert one(repo, TREASURER, MarkMonthDeducted(TREASURER, DEC)) == Applied(row_count=0)
    assert [e.row_count for e in marks(engine)] == [2, 0]
    assert marked(engine) == rows


@pytest.mark.usefixtures("ledger")
@pytest.mark.parametrize(
    ("user_id", "agency"),
    [
        (TREASURER, "disdik"),  # a forged press for another agency
        (OPERATOR, None),  # an operator does not mark (flows.ledger.MARKERS)
        (OPERATOR, "dinkes"),
        (OUTSIDER, None),
        (OUTSIDER, "dinkes"),
    ],
)
def test_outside_the_scope_nothing_is_marked(
    engine: Engine, repo: Repository, user_id: int, agency: str | None
) -> None:
    before = marked(engine)
    outcome = one(repo, user_id, MarkMonthDeducted(user_id, DEC, agency))
    assert outcome == Refused("not_allowed")
    assert marked(engine) == before
    assert marks(engine) == []


@pytest.mark.usefixtures("ledger")
def test_a_superadmin_marks_one_agency_or_every_agency(engine: Engine, repo: Repository) -> None:
    assert one(repo, ADMIN, MarkMonthDeducted(ADMIN, DEC, "disdik")) == Applied(row_count=2)
    assert marked(engine)[("dinkes", DEC)] == [0, None, None]
    assert one(repo, ADMIN, MarkMonthDeducted(ADMIN, DEC)) == Applied(row_count=2)
    rows = marked(engine)
    assert rows[("dinkes", DEC)] == [0, ADMIN, ADMIN]
    assert rows[("disdik", DEC)] == [ADMIN, ADMIN]
    assert rows[("dinkes", NOV)] == [None]
    assert [(e.row_count, e.scope, e.detail) for e in marks(engine)] == [
        (2, "*", "month=2026-12 agency=disdik chat"),
        (2, "*", "month=2026-12 agency=* chat"),
    ]


@pytest.mark.usefixtures("ledger")
def test_the_role_is_read_when_marking_not_when_asked(engine: Engine, repo: Repository) -> None:
    """A treasurer whose role was taken away between the question and the press marks nothing."""
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM staff_roles WHERE user_id = :u"), {"u": TREASURER})
    assert one(repo, TREASURER, MarkMonthDeducted(TREASURER, DEC)) == Refused("not_allowed")
    assert marked(engine)[("dinkes", DEC)] == [0, None, None]
