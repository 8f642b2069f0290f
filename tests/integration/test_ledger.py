"""The monthly ledger across months (issue 8), on SQLite and PostgreSQL: which months are opened,
idempotence (also two processes at once), marking scoped by agency, the lapse and its notices,
the scholarship count, and `peduli ledger open|mark` with its audit entries."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli.ledger import run as ledger_cli
from bot.storage import audit
from bot.storage.db import immediate
from bot.storage.ledger import facts_of, lapse_overdue, mark_deducted, open_month
from bot.storage.models import Deduction, Sponsorship, StaffRole
from bot.storage.repository import Repository
from flows.commands import (
    ActivateCoverage,
    Applied,
    OpenInvitation,
    RecordInPersonConsent,
    SetLanguage,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.formatting import first_of_next_month
from flows.ledger import AgencyScope
from flows.text import t
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER, consent, register, submit, text_hash
from tests.notify import notify

JAKARTA = ZoneInfo("Asia/Jakarta")
NOV, DEC, JAN, FEB, MAR = (
    date(2026, 11, 1),
    date(2026, 12, 1),
    date(2027, 1, 1),
    date(2027, 2, 1),
    date(2027, 3, 1),
)
CONSENTED_ON = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # the sponsor's consent, in November
COVERED_FROM = date(2026, 11, 29)  # the coverage start BPJS returned
DINKES, DISDIK = "32.05.DINKES", "32.05.DISDIK"
OPERATOR, OTHER_OPERATOR, TREASURER = 700, 701, 702


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(CONSENTED_ON)


@pytest.fixture
def repo(engine: Engine, clock: MovableClock) -> Repository:
    return Repository(engine, SEALER, notify=notify, clock=clock)


def apply(repo: Repository, user_id: int | None, *commands: object) -> list[object]:
    return list(repo.apply(user_id, commands, consent_text_hash=text_hash))  # type: ignore[arg-type]


def one(repo: Repository, user_id: int | None, command: object) -> object:
    [outcome] = apply(repo, user_id, command)
    return outcome


def enrol(
    repo: Repository,
    n: int,
    *,
    agency: str = DINKES,
    worker_user: int | None = None,
    agrees: bool | None = True,
    covered_from: date | None = COVERED_FROM,
) -> str:
    """Sponsor 100+n signs up and consents in November (first month as the flow sets it);
    the worker agrees (in their chat when worker_user, else in person), declines (agrees
    False) or never answers (None); BPJS coverage from covered_from."""
    sponsor = 100 + n
    apply(
        repo,
        sponsor,
        SetLanguage(sponsor, "id"),
        register(sponsor, nip=f"19850315201001100{n}", agency_code=agency),
    )
    # flows.sponsorship names the month after the consent as the first month deducted.
    first = first_of_next_month(CONSENTED_ON.astimezone(JAKARTA).date())
    outcome = one(
        repo,
        sponsor,
        submit(
            sponsor,
            f"draft-{n}",
            nik=f"320501450190000{n}",
            consent=replace(consent(), first_month=first),
        ),
    )
    assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
    reference = outcome.reference
    if agrees is None:
        return reference
    if worker_user is not None or agrees is False:
        user = worker_user or 200 + n
        one(repo, user, OpenInvitation(user, outcome.invitation_token))
        if agrees is False:
            one(repo, user, WorkerDeclines(user, reference, 1, CONSENTED_ON))
            return reference
        given = WorkerConsents(
            user, reference, t("worker.consent_statement"), "2026-03", 2, CONSENTED_ON
        )
        assert isinstance(one(repo, user, given), Applied)
    else:
        statement = t("worker.in_person_statement")
        in_person = RecordInPersonConsent(sponsor, reference, statement, "2026-03", 3, CONSENTED_ON)
        assert isinstance(one(repo, sponsor, in_person), Applied)
    if covered_from is not None:
        activate = ActivateCoverage(reference, f"1234567890{n}", covered_from, None)
        assert isinstance(one(repo, None, activate), Applied)
    return reference


def opened(engine: Engine, month: date, now: datetime = CONSENTED_ON) -> int:
    with Session(immediate(engine)) as session, session.begin():
        return open_month(session, month, now)


def rows(engine: Engine) -> list[tuple[str, date, str, int, bool]]:
    """(reference, month, agency, amount, marked) of every ledger row."""
    with Session(engine) as session:
        found = session.execute(
            sa.select(
                Sponsorship.reference,  # type: ignore[arg-type]
                Deduction.month,  # type: ignore[arg-type]
                Deduction.agency_code,  # type: ignore[arg-type]
                Deduction.amount,  # type: ignore[arg-type]
                Deduction.deducted_at,  # type: ignore[arg-type]
            )
            .join(Sponsorship, Sponsorship.id == Deduction.sponsorship_id)  # type: ignore[arg-type]
            .order_by(Deduction.month, Sponsorship.reference)  # type: ignore[arg-type]
        ).all()
    return [(r, m, a, amount, at is not None) for r, m, a, amount, at in found]


def mark(engine: Engine, month: date, agencies: frozenset[str] | None, **kw: object) -> int:
    with Session(immediate(engine)) as session, session.begin():
        return mark_deducted(session, month, agencies, 9, CONSENTED_ON, **kw)  # type: ignore[arg-type]


def lapse(engine: Engine, now: datetime) -> int:
    with Session(immediate(engine)) as session, session.begin():
        return lapse_overdue(session, now, JAKARTA, sealer=SEALER, notify=notify)


def outbox(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT dedupe_key, recipient_user_id FROM outbox ORDER BY dedupe_key")
        ).all()
    return [(str(key), int(user)) for key, user in found]


def status(engine: Engine, reference: str) -> tuple[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT status, active_nik_index FROM sponsorships WHERE reference = :r"),
            {"r": reference},
        ).one()
    return str(row[0]), row[1]


# ---- which months ------------------------------------------------------------------------------


def test_consent_in_november_coverage_from_29_november_first_deduction_december(
    repo: Repository, engine: Engine
) -> None:
    reference = enrol(repo, 1)
    assert opened(engine, NOV) == 0
    assert opened(engine, DEC) == 1
    assert rows(engine) == [(reference, DEC, DINKES, 16800, False)]
    assert opened(engine, JAN) == 1


def test_a_worker_who_never_agreed_gets_no_row(repo: Repository, engine: Engine) -> None:
    never = enrol(repo, 1, agrees=None)
    declined = enrol(repo, 2, agrees=False)
    agreed = enrol(repo, 3)
    # Coverage recorded although the worker never agreed (a hand-edited row, a bad import):
    # the ledger still cuts nobody's salary for them.
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE sponsorships SET status = 'active', coverage_start = :start"
                " WHERE reference = :r"
            ),
            {"start": COVERED_FROM, "r": never},
        )
    with Session(engine) as session:
        never_id = session.scalar(sa.select(Sponsorship.id).where(Sponsorship.reference == never))  # type: ignore[arg-type]
        assert never_id is not None
        assert not facts_of(session, never_id).worker_consented
    assert opened(engine, DEC) == 1
    assert [r[0] for r in rows(engine)] == [agreed]
    assert declined not in [r[0] for r in rows(engine)]


def test_not_registered_with_bpjs_gets_no_row(repo: Repository, engine: Engine) -> None:
    enrol(repo, 1, covered_from=None)
    assert opened(engine, DEC) == 0 and opened(engine, JAN) == 0


def test_a_withdrawal_in_january_no_row_from_february(
    repo: Repository, engine: Engine, clock: MovableClock
) -> None:
    reference = enrol(repo, 1)
    assert opened(engine, DEC) == 1
    in_january = datetime(2027, 1, 20, 3, 0, tzinfo=UTC)
    clock.now = in_january
    withdrawal = WithdrawConsent(
        user_id=101,
        reference=reference,
        subject="sponsor",
        message_id=9,
        at=in_january,
        effective_month=first_of_next_month(in_january.astimezone(JAKARTA).date()),
    )
    assert isinstance(one(repo, 101, withdrawal), Applied)
    # January was still owed (opened late here, after the withdrawal): the consent was in force.
    assert opened(engine, JAN) == 1
    assert opened(engine, FEB) == 0
    assert opened(engine, MAR) == 0
    assert [m for _r, m, *_ in rows(engine)] == [DEC, JAN]


def test_running_a_month_twice_changes_nothing(repo: Repository, engine: Engine) -> None:
    enrol(repo, 1)
    enrol(repo, 2, agency=DISDIK)
    assert opened(engine, DEC) == 2
    before = rows(engine)
    assert opened(engine, DEC, datetime(2026, 12, 2, tzinfo=UTC)) == 0
    assert rows(engine) == before


def test_two_processes_opening_the_same_month_create_each_row_once(
    repo: Repository, engine: Engine
) -> None:
    for n in range(1, 6):
        enrol(repo, n)

    def open_once(_: int) -> int:  # each thread: its own connection and transaction
        return opened(engine, DEC)

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(open_once, range(4)))
    assert sum(counts) == 5
    assert len(rows(engine)) == 5


def test_the_agency_and_amount_are_taken_when_the_month_is_opened(
    repo: Repository, engine: Engine
) -> None:
    reference = enrol(repo, 1)
    assert opened(engine, DEC) == 1
    with engine.begin() as connection:  # the sponsor moves to another agency in December
        connection.execute(sa.text("UPDATE sponsors SET agency_code = :a"), {"a": DISDIK})
    assert opened(engine, JAN) == 1
    assert [(m, a) for r, m, a, *_ in rows(engine) if r == reference] == [
        (DEC, DINKES),
        (JAN, DISDIK),
    ]


# ---- marking -----------------------------------------------------------------------------------


def test_marking_is_scoped_by_agency(repo: Repository, engine: Engine) -> None:
    dinkes = enrol(repo, 1)
    disdik = enrol(repo, 2, agency=DISDIK)
    other = enrol(repo, 3, agency=DISDIK)
    assert opened(engine, DEC) == 3
    assert mark(engine, DEC, frozenset()) == 0  # a scope with no agency marks nothing
    assert mark(engine, DEC, frozenset({DINKES})) == 1
    assert {r: marked for r, _m, _a, _x, marked in rows(engine)} == {
        dinkes: True,
        disdik: False,
        other: False,
    }
    assert mark(engine, DEC, frozenset({DINKES})) == 0  # only unmarked rows
    # By reference, within the agency: another agency's reference is not marked.
    assert mark(engine, DEC, frozenset({DISDIK}), references=[disdik, dinkes]) == 1
    assert {r: marked for r, _m, _a, _x, marked in rows(engine)}[other] is False
    assert mark(engine, JAN, None) == 0  # another month
    assert mark(engine, DEC, None) == 1  # every agency: the one left
    assert all(marked for *_, marked in rows(engine))


def test_a_round_covers_only_its_agencies(repo: Repository, engine: Engine) -> None:
    """Issue 12: the keeper opens and lapses each zone's sponsors apart (bot.ledger.rounds_of),
    so the scope of a round must keep the other zones' sponsors out of it."""
    dinkes = enrol(repo, 1)
    disdik = enrol(repo, 2, agency=DISDIK)
    only_dinkes = AgencyScope(only=frozenset({DINKES}))
    but_dinkes = AgencyScope(excluding=frozenset({DINKES}))
    with Session(immediate(engine)) as session, session.begin():
        assert open_month(session, DEC, CONSENTED_ON, only_dinkes) == 1
    assert {r for r, *_ in rows(engine)} == {dinkes}
    with Session(immediate(engine)) as session, session.begin():
        assert open_month(session, DEC, CONSENTED_ON, but_dinkes) == 1
        assert open_month(session, JAN, CONSENTED_ON, but_dinkes) == 1
        assert open_month(session, JAN, CONSENTED_ON, only_dinkes) == 1
    assert {r for r, m, *_ in rows(engine) if m == DEC} == {dinkes, disdik}
    february = datetime(2027, 2, 10, tzinfo=UTC)  # December and January both unmarked
    with Session(immediate(engine)) as session, session.begin():
        assert (
            lapse_overdue(
                session, february, JAKARTA, sealer=SEALER, notify=notify, agencies=but_dinkes
            )
            == 1
        )
    assert status(engine, disdik)[0] == "lapsed"
    assert status(engine, dinkes)[0] == "active"  # another round's sponsor


def test_scholarship_count_is_the_marked_months(repo: Repository, engine: Engine) -> None:
    enrol(repo, 1)
    for month in (DEC, JAN, FEB):
        opened(engine, month)
    mark(engine, DEC, None)
    mark(engine, FEB, None)
    [view] = repo.sponsorships_of(101)
    assert view.marked_months == 2


# ---- lapsing -----------------------------------------------------------------------------------


def test_two_months_unmarked_lapsed_and_everyone_told_once(
    repo: Repository, engine: Engine
) -> None:
    lapsing = enrol(repo, 1, worker_user=201)
    paying = enrol(repo, 2, worker_user=202)
    with engine.begin() as connection:
        for user, agency, role in (
            (OPERATOR, DINKES, "operator"),
            (OTHER_OPERATOR, DISDIK, "operator"),
            (TREASURER, DINKES, "treasurer"),
        ):
            connection.execute(
                sa.insert(StaffRole.__table__),  # type: ignore[attr-defined]
                {"user_id": user, "agency_code": agency, "role": role, "granted_at": CONSENTED_ON},
            )
    before = set(outbox(engine))
    opened(engine, DEC)
    opened(engine, JAN)
    mark(engine, JAN, None, references=[paying])
    # January, local time: the window is December and November; November has no row.
    assert lapse(engine, datetime(2027, 1, 31, 16, 0, tzinfo=UTC)) == 0  # 31 Jan 23:00 WIB
    # 1 February 00:30 in Jakarta is still 31 January in UTC: the local month counts.
    february = datetime(2027, 1, 31, 17, 30, tzinfo=UTC)
    opened(engine, FEB, february)
    assert lapse(engine, february) == 1
    assert status(engine, lapsing) == ("lapsed", None)  # the worker's NIK is free again
    assert status(engine, paying)[0] == "active"
    told = set(outbox(engine)) - before
    assert told == {
        (f"lapsed:{lapsing}:sponsor", 101),
        (f"lapsed:{lapsing}:worker", 201),
        (f"lapsed:{lapsing}:operator:{OPERATOR}", OPERATOR),
    }
    # The check runs again (every hour, in every process): nobody is told twice.
    assert lapse(engine, february) == 0
    assert lapse(engine, datetime(2027, 2, 10, tzinfo=UTC)) == 0
    assert set(outbox(engine)) - before == told
    # A lapsed sponsorship owes nothing more.
    assert opened(engine, MAR) == 1  # the paying one only
    assert {r for r, m, *_ in rows(engine) if m == MAR} == {paying}


def test_the_lapse_event_names_how_the_months_were_paid(repo: Repository, engine: Engine) -> None:
    """Issue 12: a sponsorship paid otherwise than by a salary deduction (here directly) lapses
    with its route, so its notices do not speak of a salary cut (bot.notifications.lapsed)."""
    from flows.events import SponsorshipLapsed

    direct = enrol(repo, 1)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE sponsorships SET payment_method = 'self_payment' WHERE reference = :r"),
            {"r": direct},
        )
    opened(engine, DEC)
    opened(engine, JAN)
    february = datetime(2027, 2, 2, tzinfo=UTC)
    opened(engine, FEB, february)
    events: list[object] = []

    def capture(event: object) -> list[object]:
        events.append(event)
        return []

    with Session(immediate(engine)) as session, session.begin():
        assert lapse_overdue(session, february, JAKARTA, sealer=SEALER, notify=capture) == 1  # type: ignore[arg-type]
    [event] = events
    assert isinstance(event, SponsorshipLapsed) and event.payment_method == "self_payment"


def test_the_lapse_notices_are_worded_in_both_languages(repo: Repository, engine: Engine) -> None:
    from bot.i18n import Renderer
    from bot.notifications import lapsed as word
    from flows.events import SponsorshipLapsed

    event = SponsorshipLapsed(
        "PR-ABCDEF", 1, 101, "Budi", 201, "Siti", DINKES, (OPERATOR,), (JAN, DEC)
    )
    for language in ("id", "en"):
        for recipient in ("sponsor", "worker", "operator"):
            text = Renderer(language)(word(recipient, event, "Dinas Kesehatan"))  # type: ignore[arg-type]
            assert "{" not in text and ("Desember" in text or "December" in text)
            assert ("Januari" in text) or ("January" in text)


# ---- peduli ledger -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    return database_url


def cli(*args: str, **kw: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ledger_cli(*args, stdout=out, stderr=err, **kw)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_cli_opens_and_marks_with_audit_entries(
    repo: Repository, engine: Engine, cli_env: str
) -> None:
    dinkes = enrol(repo, 1)
    enrol(repo, 2, agency=DISDIK)
    assert cli("open", "2026-12") == (0, "2026-12: 2 rows created\n", "")
    assert cli("open", "2026-12") == (0, "2026-12: 0 rows created\n", "")
    assert cli("mark", "2026-12", agency=DINKES) == (0, f"2026-12 {DINKES}: 1 rows marked\n", "")
    assert {r: marked for r, _m, _a, _x, marked in rows(engine)}[dinkes] is True
    assert cli("mark", "2026-12", agency=DISDIK, references=["PR-NONE00"])[1].endswith(
        ": 0 rows marked\n"
    )
    with Session(engine) as session:
        logged = [
            (e.action, e.detail, e.row_count, e.channel, e.scope) for e in audit.entries(session)
        ]
    assert logged == [
        ("ledger.open", "2026-12", 2, "cli", "*"),
        ("ledger.open", "2026-12", 0, "cli", "*"),
        ("ledger.mark", f"2026-12 {DINKES}", 1, "cli", "*"),
        ("ledger.mark", f"2026-12 {DISDIK} PR-NONE00", 0, "cli", "*"),
    ]


@pytest.mark.parametrize("month", ["2026-13", "12-2026", "2026-1", "next"])
def test_cli_refuses_a_bad_month(month: str, cli_env: str) -> None:
    code, out, err = cli("open", month)
    assert code == 2 and out == "" and "YYYY-MM" in err and "Traceback" not in err


def test_cli_mark_needs_an_agency(cli_env: str) -> None:
    code, _out, err = cli("mark", "2026-12", agency=" ")
    assert code == 2 and "--agency" in err


def test_cli_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    code, out, err = cli("open", "2026-12")
    assert code == 2 and out == "" and "upgrade" in err
