"""Reminders in the database (issue 9), on SQLite and PostgreSQL, with a movable clock: each kind
queued once at the right local hour (WIB vs WIT agencies), quiet hours, the gate voiding a
reminder whose reason is gone, a restart, two schedulers at once, the upcoming report against
what is later queued, the opt-out, unfinished_flows tracking, and `peduli campaign|reminders`."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import reminders as cli
from bot.reminder_text import reminder_outgoing
from bot.storage.db import immediate
from bot.storage.models import AuditEntry, OutboxMessage, UnfinishedFlow
from bot.storage.reminders import (
    ReminderChecks,
    ReminderStore,
    Zones,
    current_campaign,
    set_campaign,
    track_unfinished,
)
from bot.storage.repository import Repository
from flows import reminders as rules
from flows.commands import (
    Applied,
    OpenInvitation,
    Refused,
    SetCampaign,
    SetReminders,
    WorkerConsents,
)
from flows.session import Session as Conversation
from flows.text import t
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER, register, submit, text_hash
from tests.notify import notify

WIB, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Jayapura")
DINKES, PAPUA = "32.05.DINKES", "PAPUA"
ZONES = Zones(WIB, {PAPUA: WIT})
# 11:00 UTC: 18:00 in WIB (Garut), 20:00 in WIT (Papua: quiet hours).
SUBMITTED = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(SUBMITTED)


@pytest.fixture
def repo(engine: Engine, clock: MovableClock) -> Repository:
    return Repository(
        engine, SEALER, notify=notify, clock=clock, agency_codes=frozenset({DINKES, PAPUA})
    )


@pytest.fixture
def store(engine: Engine) -> ReminderStore:
    return ReminderStore(immediate(engine), SEALER, ZONES)


def apply(repo: Repository, user_id: int, *commands: object) -> list[object]:
    return list(repo.apply(user_id, commands, consent_text_hash=text_hash))  # type: ignore[arg-type]


def sponsor_waiting(repo: Repository, n: int, agency: str = DINKES) -> tuple[str, str]:
    """Sponsor 100+n signs up and submits a worker who has not answered: (reference, token)."""
    user = 100 + n
    nip, nik = f"19850315201001{1000 + n}", f"32050145019{10000 + n}"
    apply(repo, user, register(user, nip=nip, agency_code=agency))
    [outcome] = apply(repo, user, submit(user, f"draft-{n}", nik=nik))
    assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
    return outcome.reference, outcome.invitation_token


@dataclass(frozen=True)
class Row:
    id: int
    dedupe_key: str
    recipient_user_id: int
    not_before: datetime | None
    kind: str
    priority: int
    outcome: str | None


def reminder_rows(engine: Engine) -> list[Row]:
    with Session(engine) as session:
        found = session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.kind == "reminder")  # type: ignore[arg-type]
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
        ).all()
        return [
            Row(
                r.id or 0,
                r.dedupe_key,
                r.recipient_user_id,
                r.not_before,
                r.kind,
                r.priority,
                r.outcome,
            )
            for r in found
        ]


def test_the_sponsor_reminders_fire_once_at_the_local_hour_of_each_agency(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    garut, _ = sponsor_waiting(repo, 1, DINKES)
    papua, _ = sponsor_waiting(repo, 2, PAPUA)
    clock.advance(days=2, seconds=-60)
    assert store.run_round(clock()) == []  # not yet day 2
    clock.advance(seconds=60)  # day 2, 18:00 WIB and 20:00 WIT
    [queued] = store.run_round(clock())
    assert queued.startswith("reminder:unconfirmed_sponsor:") and queued.endswith(":day2")
    [row] = reminder_rows(engine)
    assert (row.recipient_user_id, row.not_before) == (101, clock())
    assert (row.kind, row.priority) == ("reminder", 1)
    clock.advance(hours=10, minutes=59)  # 06:59 WIT
    assert store.run_round(clock()) == []
    clock.advance(minutes=1)  # 07:00 in Papua
    [later] = store.run_round(clock())
    rows = reminder_rows(engine)
    assert rows[1].recipient_user_id == 102 and rows[1].not_before == clock()
    assert clock().astimezone(WIT).hour == 7
    assert store.run_round(clock()) == []  # again: nothing twice
    # The message: the Text and a button giving a new link, in the sponsor's language.
    with Session(engine) as session:
        sealed = session.get(OutboxMessage, rows[0].id)
        assert sealed is not None and sealed.message is not None
        document = json.loads(SEALER.open(sealed.message))
    shown = reminder_outgoing(document, "id")
    assert garut in shown.text
    assert shown.inline_keyboard[0][0][1] == f"0:act:reinvite:{garut}"
    del papua, later


def test_the_expiry_warning_is_queued_in_quiet_hours_with_not_before_seven_local(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    sponsor_waiting(repo, 2, PAPUA)
    clock.advance(days=12)  # two days before the 14-day link expires: 20:00 WIT
    queued = store.run_round(clock())
    assert [k.split(":")[1] for k in queued] == [rules.INVITATION_EXPIRING]
    [row] = [r for r in reminder_rows(engine) if r.kind == "reminder"]
    assert row.not_before is not None
    assert row.not_before.astimezone(WIT).hour == 7 and row.not_before > clock()


def test_the_gate_voids_a_queued_reminder_once_the_worker_confirmed(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    reference, token = sponsor_waiting(repo, 1)
    clock.advance(days=2)
    store.run_round(clock())
    [row] = reminder_rows(engine)
    gate = ReminderChecks(engine, clock)
    assert gate.still_due([row]) == {row.id}
    worker = 301
    apply(repo, worker, OpenInvitation(worker, token))
    consents = WorkerConsents(worker, reference, t("worker.consent_statement"), "v", 2, clock())
    [outcome] = apply(repo, worker, consents)
    assert isinstance(outcome, Applied)
    assert gate.still_due([row]) == set()  # the reason is gone: the engine voids it
    clock.advance(days=5)
    assert store.run_round(clock()) == []  # and day 7 is not planned


def test_a_restart_loses_none_and_repeats_none(
    repo: Repository, engine: Engine, clock: MovableClock
) -> None:
    for n in range(3):
        sponsor_waiting(repo, n)
    clock.advance(days=2)
    first = ReminderStore(immediate(engine), SEALER, ZONES)
    assert len(first.run_round(clock())) == 3
    restarted = ReminderStore(immediate(engine), SEALER, ZONES)  # a new process
    assert restarted.run_round(clock()) == []
    clock.advance(days=5)
    assert len(restarted.run_round(clock())) == 3  # day 7, sent by the new process
    assert len(reminder_rows(engine)) == 6


# Concurrent writers: on SQLite, BEGIN IMMEDIATE serializes them, so there is no race to test.
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRESQL_ONLY
def test_two_schedulers_at_once_never_queue_twice(
    repo: Repository, engine: Engine, clock: MovableClock, database_url: str
) -> None:
    for n in range(12):
        sponsor_waiting(repo, n)
    clock.advance(days=2)
    stores = [ReminderStore(immediate(engine), SEALER, ZONES) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: s.run_round(clock()), stores * 3))
    queued = [key for result in results for key in result]
    assert len(queued) == len(set(queued)) == 12
    assert len(reminder_rows(engine)) == 12


def test_the_upcoming_report_is_what_is_later_queued(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    sponsor_waiting(repo, 1, DINKES)
    sponsor_waiting(repo, 2, PAPUA)
    apply(repo, 103, register(103, nip="198503152010019999", agency_code=PAPUA))  # no worker
    with Session(immediate(engine)) as session, session.begin():
        set_campaign(session, date(2026, 12, 5), (3, 1), None, clock())
    forecast, facts = store.upcoming(clock(), 4)
    assert {r.kind for r in forecast} >= {rules.UNCONFIRMED_SPONSOR, rules.CAMPAIGN}
    end = clock() + timedelta(days=4)
    while clock() < end:
        store.run_round(clock())
        clock.advance(hours=1)
    queued = reminder_rows(engine)
    assert [(r.dedupe_key, r.not_before) for r in forecast] == [
        (r.dedupe_key, r.not_before) for r in queued
    ]
    report = cli.table(rules.per_day(forecast, facts.people))
    assert report[-1].split()[-1] == str(len(queued))


def test_opted_out_people_get_no_optional_reminders(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    sponsor_waiting(repo, 1)
    apply(repo, 101, SetReminders(101, off=True))
    clock.advance(days=2)
    assert store.run_round(clock()) == []
    apply(repo, 101, SetReminders(101, off=False))
    assert len(store.run_round(clock())) == 1


def test_one_optional_reminder_per_person_per_day(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    sponsor_waiting(repo, 1)
    clock.advance(days=2)
    with Session(immediate(engine)) as session, session.begin():
        track_unfinished(
            session,
            101,
            Conversation(),
            Conversation(flow="sponsorship", step="worker_nik"),
            clock() - timedelta(days=1),
        )
    assert len(store.run_round(clock())) == 1  # the waiting worker; the draft must wait
    clock.advance(hours=1)
    assert store.run_round(clock()) == []
    clock.advance(days=1)
    clock.now = clock().astimezone(WIB).replace(hour=7, minute=0).astimezone(UTC)
    assert [k.split(":")[1] for k in store.run_round(clock())] == [rules.UNFINISHED]


def test_unfinished_flows_are_written_only_when_the_step_changes(
    repo: Repository, engine: Engine, store: ReminderStore, clock: MovableClock
) -> None:
    apply(repo, 5, SetReminders(5, off=False))  # a Telegram user, as every speaker is
    start = Conversation(flow="signup", step="nip")
    moved = start.with_(step="name")
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "unfinished_flows" in statement:
            writes.append(statement)

    def step(before: Conversation, after: Conversation) -> None:
        with Session(immediate(engine)) as session, session.begin():
            track_unfinished(session, 5, before, after, clock())

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        step(Conversation(), start)
        first = clock()
        clock.advance(minutes=3)
        step(start, start.with_(failures=1, seq=4))  # a wrong answer: same step
        assert len(writes) == 1
        step(start, moved)
        assert len(writes) == 2
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    with Session(engine) as session:
        row = session.get(UnfinishedFlow, 5)
        assert row is not None and (row.step, row.started_at) == ("name", first)
        assert row.updated_at == clock()
    clock.advance(days=1)
    # 18:03 in WIB but 20:03 in WIT: with no agency chosen yet, their zone is not known, so
    # the quiet hours of every zone of the deployment hold (issue 12), until 07:00 WIB.
    assert store.run_round(clock()) == []
    clock.advance(hours=13)
    [queued] = store.run_round(clock())
    [reminder] = reminder_rows(engine)
    gate = ReminderChecks(engine, clock)
    assert gate.still_due([reminder]) == {reminder.id}
    step(moved, Conversation())  # finished (or cancelled)
    with Session(engine) as session:
        assert session.get(UnfinishedFlow, 5) is None
    assert gate.still_due([reminder]) == set()
    clock.advance(days=3)
    assert store.run_round(clock()) == []
    del queued


# ---- peduli campaign / reminders ---------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    return database_url


def run(function: object, *args: object, **kw: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = function(*args, stdout=out, stderr=err, **kw)  # type: ignore[operator]
    return code, out.getvalue(), err.getvalue()


def test_cli_campaign_set_show_and_upcoming(engine: Engine, cli_env: str) -> None:
    assert run(cli.campaign, "show")[1].startswith("no campaign")
    code, _, err = run(cli.campaign, "set", deadline="2020-01-01", days="7")
    assert code == 2 and "passed" in err
    code, _, err = run(cli.campaign, "set", deadline="2099-01-31", days="7,7")
    assert code == 2 and "--days" in err
    assert run(cli.campaign, "set", deadline="2099-01-31", days="14,7,1") == (
        0,
        "deadline 2099-01-31, days 14,7,1\n",
        "",
    )
    assert run(cli.campaign, "show")[1] == "deadline 2099-01-31, days 14,7,1\n"
    with Session(engine) as session:
        [entry] = session.scalars(sa.select(AuditEntry)).all()
        assert entry.action == "campaign.set" and "2099-01-31" in (entry.detail or "")
    assert run(cli.upcoming, days=3) == (0, "nothing due\n", "")
    assert run(cli.upcoming, days=0)[0] == 2


def test_only_a_superadmin_sets_the_campaign_from_the_chat(
    engine: Engine, clock: MovableClock
) -> None:
    repo = Repository(engine, SEALER, notify=notify, clock=clock, admin_ids=frozenset({9}))
    command = SetCampaign(5, date(2026, 12, 31), (7, 1))
    [refused] = repo.apply(5, [command])
    assert isinstance(refused, Refused)
    [applied] = repo.apply(9, [SetCampaign(9, date(2026, 12, 31), (7, 1))])
    assert isinstance(applied, Applied)
    with Session(engine) as session:
        [entry] = session.scalars(sa.select(AuditEntry)).all()
        assert (entry.action, entry.actor_user_id) == ("campaign.set", 9)
        row = current_campaign(session)
        assert row is not None and (row.deadline, row.reminder_days) == (date(2026, 12, 31), "7,1")


@POSTGRESQL_ONLY
def test_the_round_lock_keeps_the_daily_cap_across_two_processes(
    repo: Repository,
    engine: Engine,
    clock: MovableClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two schedulers whose plans differ (say, two releases side by side during a deploy) each
    find a different optional reminder due for the same person. Both plan at the same moment
    (the barrier); with the round lock the second plans only after the first committed, sees
    its row and keeps to one optional reminder that day. Without the lock both would queue."""
    sponsor_waiting(repo, 1)
    clock.advance(days=2)
    with Session(immediate(engine)) as session, session.begin():
        before = Conversation(flow="sponsorship", step="worker_nik")
        track_unfinished(session, 101, Conversation(), before, clock() - timedelta(days=1))
    only_drafts = rules.Settings(sponsor_days=(5,))  # sees the draft due, not the worker
    only_workers = rules.Settings(unfinished_days=(5,))  # sees the worker due, not the draft
    stores = [
        ReminderStore(immediate(engine), SEALER, ZONES, s) for s in (only_drafts, only_workers)
    ]
    barrier = threading.Barrier(2, timeout=3)
    planner = rules.plan

    def plan_together(*args: object, **kwargs: object) -> list[rules.Reminder]:
        # Broken: the other round is waiting for the lock, so this one goes on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return planner(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rules, "plan", plan_together)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: s.run_round(clock()), stores))
    assert sorted(len(result) for result in results) == [0, 1]
    assert len(reminder_rows(engine)) == 1


def test_the_worker_who_opened_the_link_and_stopped_is_reminded_once(
    repo: Repository, store: ReminderStore, engine: Engine, clock: MovableClock
) -> None:
    reference, token = sponsor_waiting(repo, 2, PAPUA)
    clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 WIT
    worker = 302
    apply(repo, worker, SetReminders(worker, off=False))  # a Telegram user, as every speaker is
    apply(repo, worker, OpenInvitation(worker, token))
    clock.advance(days=1, seconds=-1)
    assert store.run_round(clock()) == []
    clock.advance(seconds=1)
    [key] = store.run_round(clock())
    assert key == f"reminder:worker_stalled:{key.split(':')[2]}:{worker}"
    [row] = reminder_rows(engine)
    assert row.recipient_user_id == worker and row.not_before == clock()
    assert store.run_round(clock() + timedelta(hours=2)) == []
    gate = ReminderChecks(engine, clock)
    assert gate.still_due([row]) == {row.id}
    consents = WorkerConsents(worker, reference, t("worker.consent_statement"), "v", 2, clock())
    [outcome] = apply(repo, worker, consents)
    assert isinstance(outcome, Applied)
    assert gate.still_due([row]) == set()


def test_the_sponsor_is_told_the_first_deduction_a_week_before_its_month(
    engine: Engine, database_url: str
) -> None:
    from tests.integration.test_ledger import CONSENTED_ON, enrol

    clock = MovableClock(CONSENTED_ON)
    repo = Repository(engine, SEALER, notify=notify, clock=clock)
    store = ReminderStore(immediate(engine), SEALER, ZONES)
    enrol(repo, 1)  # consented in November, covered from 29 November: December is deducted
    clock.now = datetime(2026, 11, 23, 16, 59, tzinfo=UTC)  # 23:59 WIB, 24 Nov minus a minute
    assert store.run_round(clock()) == []
    clock.advance(minutes=1)  # 24 November 00:00 WIB: a week before December
    [key] = store.run_round(clock())
    assert key.startswith("reminder:first_deduction:") and key.endswith(":2026-12")
    [row] = reminder_rows(engine)
    assert row.not_before == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 07:00 WIB
    with Session(engine) as session:
        sealed = session.get(OutboxMessage, row.id)
        assert sealed is not None and sealed.message is not None
        shown = reminder_outgoing(SEALER.open(sealed.message), "id").text
    assert "Rp16.800" in shown and "Desember 2026" in shown
    assert ReminderChecks(engine, clock).still_due([row]) == {row.id}
    del database_url


def test_a_sponsor_paying_otherwise_is_told_the_first_month_paid_not_a_salary_cut(
    engine: Engine,
) -> None:
    """Issue 12: the first-month notice of a sponsorship not paid by salary deduction (a
    village's budget, directly) says when paying starts, not that a salary is cut."""
    from tests.integration.test_ledger import CONSENTED_ON, enrol

    clock = MovableClock(CONSENTED_ON)
    repo = Repository(engine, SEALER, notify=notify, clock=clock)
    store = ReminderStore(immediate(engine), SEALER, ZONES)
    reference = enrol(repo, 1)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE sponsorships SET payment_method = 'self_payment' WHERE reference = :r"),
            {"r": reference},
        )
    clock.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    [key] = store.run_round(clock())
    assert key.startswith("reminder:first_deduction:")
    [row] = reminder_rows(engine)
    with Session(engine) as session:
        sealed = session.get(OutboxMessage, row.id)
        assert sealed is not None and sealed.message is not None
        shown = reminder_outgoing(SEALER.open(sealed.message), "id").text
    assert "tidak dipotong dari gaji" in shown and "Desember 2026" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_round_with_nothing_due_does_not_wait_for_the_write_lock(
    repo: Repository, engine: Engine, clock: MovableClock
) -> None:
    """Most rounds queue nothing: they must not take SQLite's write lock (held through the
    facts' read, it would hold back every conversation's commit once a minute). Here another
    connection holds the write lock: the idle round still ends at once; a round with something
    due waits for the lock, then queues."""
    sponsor_waiting(repo, 1)
    store = repo.reminders(ZONES)
    assert store.run_round(clock()) == []  # day 0: nothing due yet
    with immediate(engine).connect() as holder:
        lock = holder.begin()  # BEGIN IMMEDIATE: a conversation's commit in progress
        idle = ThreadPoolExecutor(1).submit(store.run_round, clock())
        assert idle.result(timeout=2) == []  # with the write lock it would wait for it
        clock.advance(days=2)
        due = ThreadPoolExecutor(1).submit(store.run_round, clock())
        with contextlib.suppress(TimeoutError):
            due.result(timeout=0.5)
        assert not due.done()  # queueing waits for the lock
        lock.rollback()
    assert len(due.result(timeout=10)) == 1
