"""The statistics' kept counts (bot.storage.counts, issue 13) give exactly what counting the rows
gives (tests/rowcount.py, the statistics as they were read before), after any sequence of
changes through the real Repository and ledger: sign-ups and moves to another agency,
submissions, confirmations (in the chat, in person), declines and withdrawals (with their
erasure), coverage activations as the import applies them, ledger months opened, marked and
lapsed, folds in between. On SQLite and PostgreSQL. Nothing here asserts on time."""

from __future__ import annotations

import importlib.util
import random
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.storage import counts
from bot.storage.db import create_db_engine
from bot.storage.ledger import lapse_overdue, mark_deducted, open_month
from bot.storage.models import STATS_DELTAS, STATS_TOTALS, Sponsorship
from bot.storage.repository import Repository
from bot.storage.statistics import Statistics, read_statistics
from flows.commands import (
    ActivateCoverage,
    Applied,
    InvitationOpened,
    OpenInvitation,
    RecordInPersonConsent,
    RegisterSponsor,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.text import t
from tests import rowcount
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER, register, submit, text_hash, worker
from tests.migrated import migrate
from tests.notify import notify
from tests.statskit import Worker, add_sponsors, add_sponsorships, nip_of

ZONE = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
AGENCIES = ("32.05.DINKES", "32.05.DISDIK", "dpmd")
AREAS = (
    ("32.05.01", "Garut Kota", "32.05.01.1001", "Sukamentri"),
    ("32.05.01", "Garut Kota", "32.05.01.1002", "Regol"),
    ("32.05.02", "Tarogong Kidul", "32.05.02.2001", "Jayaraga"),
)
JOBS = ("art", "sopir", None)
RELATIONSHIPS = ("rumah_tangga", "tetangga", None)
ASN = range(1, 9)
VILLAGES = range(9, 11)
LIMITS = {"asn": 2, "desa": 3}


def _migration() -> Any:
    path = Path(counts.__file__).parent / "migrations" / "versions" / "0015_stats.py"
    spec = importlib.util.spec_from_file_location("migration_0015_stats", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_backfills_as_rebuild_does() -> None:
    """0015_stats is frozen (no import of the bot): its copy of the backfill is the same SQL."""
    migration = _migration()
    for dialect in ("sqlite", "postgresql"):
        assert migration.backfill_sql(dialect) == counts.backfill_sql(dialect)
    assert migration.KEY == counts.COUNT_KEY and migration.VALUES == counts.COUNT_VALUES


class World:
    """The sponsorships made so far and what the test knows of each."""

    def __init__(self, engine: Engine, seed: int) -> None:
        self.engine = engine
        self.clock = MovableClock(T0)
        self.repo = Repository(
            engine,
            SEALER,
            notify=notify,
            clock=self.clock,
            max_sponsorships_by_funder=LIMITS,
            new_reference=self._reference,  # the same choices in every run of one seed
        )
        self.pick = random.Random(seed)
        self.registered: set[int] = set()
        # reference -> (sponsor user, invitation token, worker user or None)
        self.made: dict[str, tuple[int, str, int | None]] = {}
        self.niks = 0
        self.workers = 1000
        self.done: dict[str, int] = {}

    def _reference(self) -> str:
        return f"PR-{len(self.made) + 1:06d}"

    def apply(self, user_id: int | None, *commands: Any) -> list[Any]:
        return list(self.repo.apply(user_id, commands, consent_text_hash=text_hash))

    def note(self, what: str, outcome: Any) -> None:
        if isinstance(outcome, Applied | InvitationOpened):
            self.done[what] = self.done.get(what, 0) + 1

    def statuses(self) -> dict[str, str]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT reference, status FROM sponsorships"))
            return {str(reference): str(status) for reference, status in rows}

    # ---- the changes ---------------------------------------------------------------------

    def sign_up(self) -> None:
        user = self.pick.choice([*ASN, *VILLAGES])
        agency = self.pick.choice(AGENCIES)
        command: RegisterSponsor
        if user in ASN:
            command = register(user, nip=nip_of(user), agency_code=agency)
        else:
            command = RegisterSponsor(
                user_id=user,
                nip=None,
                nip_kind=None,
                full_name="Asep",
                agency_code=agency,
                phone_e164="+6281234567891",
                funder_type="desa",
                organisation_name="Wanaraja",
                organisation_code="32.05.03.2001",
                position="Kepala Desa",
            )
        [outcome] = self.apply(user, command)
        self.note("sign_up" if user not in self.registered else "move", outcome)
        self.registered.add(user)

    def submit(self) -> None:
        if not self.registered:
            return
        user = self.pick.choice(sorted(self.registered))
        self.niks += 1
        district, district_name, village, village_name = self.pick.choice(AREAS)
        details = replace(
            worker(f"3205014501{90:02d}{self.niks:04d}"),
            district_code=district,
            district_name=district_name,
            village_code=village,
            village_name=village_name,
            job=self.pick.choice(JOBS),
            relationship=self.pick.choice(RELATIONSHIPS),
        )
        method = "salary_deduction" if user in ASN else "transfer"
        command = replace(submit(user, f"key-{self.niks}"), worker=details, payment_method=method)
        [outcome] = self.apply(user, command)
        self.note("submit", outcome)
        if isinstance(outcome, Applied) and outcome.invitation_token and outcome.reference:
            self.made[outcome.reference] = (user, outcome.invitation_token, None)

    def _waiting(self) -> str | None:
        statuses = self.statuses()
        waiting = sorted(r for r in self.made if statuses.get(r) == "waiting_worker")
        return self.pick.choice(waiting) if waiting else None

    def worker_decides(self) -> None:
        reference = self._waiting()
        if reference is None:
            return
        sponsor, token, _ = self.made[reference]
        self.workers += 1
        user = self.workers
        [opened] = self.apply(user, OpenInvitation(user, token))
        if not isinstance(opened, InvitationOpened):
            return
        if self.pick.random() < 0.6:
            command: Any = WorkerConsents(
                user_id=user,
                reference=reference,
                statement=t("worker.consent_statement"),
                text_version="2026-03",
                message_id=55,
                given_at=self.clock(),
            )
            [outcome] = self.apply(user, command)
            self.note("consent", outcome)
            if isinstance(outcome, Applied):
                self.made[reference] = (sponsor, token, user)
        else:
            [outcome] = self.apply(user, WorkerDeclines(user, reference, 9, self.clock()))
            self.note("decline", outcome)

    def in_person(self) -> None:
        reference = self._waiting()
        if reference is None:
            return
        sponsor = self.made[reference][0]
        command = RecordInPersonConsent(
            user_id=sponsor,
            reference=reference,
            statement=t("worker.in_person_statement"),
            text_version="2026-03",
            message_id=66,
            given_at=self.clock(),
        )
        self.note("in_person", self.apply(sponsor, command)[0])

    def withdraw(self) -> None:
        statuses = self.statuses()
        open_ = sorted(
            r for r in self.made if statuses.get(r) in ("waiting_worker", "confirmed", "active")
        )
        if not open_:
            return
        reference = self.pick.choice(open_)
        sponsor, _, worker_user = self.made[reference]
        by_worker = worker_user is not None and self.pick.random() < 0.5
        user = worker_user if by_worker and worker_user is not None else sponsor
        command = WithdrawConsent(
            user_id=user,
            reference=reference,
            subject="worker" if by_worker else "sponsor",
            message_id=77,
            at=self.clock(),
            effective_month=date(2026, 12, 1),
        )
        self.note(
            "withdraw_worker" if by_worker else "withdraw_sponsor", self.apply(user, command)[0]
        )

    def activate(self) -> None:
        statuses = self.statuses()
        confirmed = sorted(r for r in self.made if statuses.get(r) == "confirmed")
        if not confirmed:
            return
        reference = self.pick.choice(confirmed)
        today = self.clock().astimezone(ZONE).date()
        start = today + timedelta(days=self.pick.choice((-40, -3, 0, 1, 5, 30)))
        self.workers += 1
        command = ActivateCoverage(
            reference=reference,
            kpj_number=f"{26_000_000_000 + self.workers:011d}",
            coverage_start=start,
            actor_user_id=None,  # as the coverage file import applies it
        )
        self.note("activate", self.apply(None, command)[0])

    def ledger(self) -> None:
        now = self.clock()
        local = now.astimezone(ZONE)
        month = date(local.year, local.month, 1)
        with Session(self.engine) as session, session.begin():
            open_month(session, month, now)
            lapsed = lapse_overdue(session, now, ZONE, sealer=SEALER, notify=notify)
        self.done["lapse"] = self.done.get("lapse", 0) + lapsed

    def mark(self) -> None:
        now = self.clock()
        local = now.astimezone(ZONE)
        month = date(local.year, local.month, 1)
        if self.pick.random() < 0.5:  # the month before, as a late treasurer would
            month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        agencies = self.pick.choice((None, frozenset({self.pick.choice(AGENCIES)})))
        with Session(self.engine) as session, session.begin():
            marked = mark_deducted(session, month, agencies, 900, now)
        self.done["mark"] = self.done.get("mark", 0) + marked

    def advance(self) -> None:
        self.clock.advance(days=self.pick.choice((1, 4, 12, 31)))

    def fold(self) -> None:
        self.done["fold"] = self.done.get("fold", 0) + self.repo.fold_counts()

    def step(self) -> None:
        changes = [
            (self.sign_up, 3),
            (self.submit, 5),
            (self.worker_decides, 4),
            (self.in_person, 1),
            (self.withdraw, 2),
            (self.activate, 3),
            (self.ledger, 2),
            (self.mark, 1),
            (self.advance, 2),
            (self.fold, 1),
        ]
        [change] = self.pick.choices([c for c, _ in changes], [w for _, w in changes])
        change()

    # ---- the comparison ------------------------------------------------------------------

    def compare(self) -> None:
        for later in (0, 45):
            local = (self.clock() + timedelta(days=later)).astimezone(ZONE)
            for scope in (None, frozenset(AGENCIES[:2]), *(frozenset({a}) for a in AGENCIES)):
                with Session(self.engine) as session:
                    kept = read_statistics(session, scope, now=local, catalog_codes=AGENCIES)
                    counted = rowcount.read_statistics(
                        session, scope, now=local, catalog_codes=AGENCIES
                    )
                assert _plain(kept) == _plain(counted), (scope, later, self.done)


def _plain(statistics: Statistics) -> Statistics:
    return statistics


@pytest.mark.parametrize("seed", [13, 14])
def test_random_changes_keep_the_counts_exact(engine: Engine, seed: int) -> None:
    world = World(engine, seed)
    for number in range(260):
        world.step()
        if number % 20 == 19:
            world.compare()
    world.compare()
    world.fold()
    world.compare()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(STATS_DELTAS)) == 0
    # Every kind of change happened (else the comparison proved less than it says).
    for what in ("sign_up", "move", "submit", "consent", "decline", "in_person", "activate"):
        assert world.done.get(what, 0) > 0, (what, world.done)
    assert world.done.get("withdraw_sponsor", 0) + world.done.get("withdraw_worker", 0) > 0
    assert world.done.get("mark", 0) > 0 and world.done.get("fold", 0) > 0
    # The backfill of migration 0015_stats counts the same as the deltas did.
    with engine.begin() as connection:
        counts.rebuild(connection)
    world.compare()


def test_lapses_and_late_marks_keep_the_counts_exact(engine: Engine) -> None:
    """A sponsorship lapses (the ledger's Core UPDATE) and another's months are marked late,
    after an erasure moved its village: both as counted from the rows."""
    world = World(engine, 1)
    for user in (1, 2):
        world.apply(user, register(user, nip=nip_of(user), agency_code=AGENCIES[0]))
        world.registered.add(user)
    references = []
    for user in (1, 2):
        world.niks += 1
        [outcome] = world.apply(
            user, replace(submit(user, f"k{user}"), worker=worker(f"32050145019{world.niks:05d}"))
        )
        assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
        world.made[outcome.reference] = (user, outcome.invitation_token, None)
        references.append(outcome.reference)
    for reference in references:
        sponsor = world.made[reference][0]
        in_person = RecordInPersonConsent(
            sponsor, reference, t("worker.in_person_statement"), "2026-03", 66, world.clock()
        )
        assert world.apply(sponsor, in_person) == [Applied(reference)]
        activate = ActivateCoverage(reference, "12345678901", date(2026, 4, 1), None)
        assert world.apply(None, activate) == [Applied(reference)]
    for _month in range(4):
        world.clock.advance(days=31)
        world.ledger()
        if _month == 1:
            world.mark()
        world.compare()
    # The sponsor of the second withdraws (their rows stay), then late marks of every month.
    withdraw = WithdrawConsent(2, references[1], "sponsor", 77, world.clock(), date(2026, 12, 1))
    world.apply(2, withdraw)
    with Session(engine) as session, session.begin():
        for month in (date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1), date(2026, 7, 1)):
            mark_deducted(session, month, None, 900, world.clock())
    world.compare()
    assert set(world.statuses().values()) >= {"lapsed"}, world.statuses()


# ---- what the hot path writes --------------------------------------------------------------


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_submission_only_appends_deltas(engine: Engine) -> None:
    """The rule that keeps deadline morning from queueing: a Simpan inserts delta rows and never
    updates (or locks) a counter row that every other ASN of the agency updates too; the only
    row it locks for the counts is its own sponsor's."""
    world = World(engine, 2)
    world.apply(1, register(1, nip=nip_of(1), agency_code=AGENCIES[0]))
    seen = _statements(engine)
    [outcome] = world.apply(1, submit(1, "simpan"))
    assert isinstance(outcome, Applied)
    counted = [s for s in seen if "stats_" in s]
    assert counted and all(s.startswith("INSERT INTO stats_deltas") for s in counted), counted
    locks = [s for s in seen if "FOR UPDATE" in s]
    assert all(
        "FROM sponsors" in s or "FROM sponsorships" in s or "FROM invitations" in s for s in locks
    )
    assert not any("stats_totals" in s for s in seen)


def test_a_fold_moves_the_deltas_into_the_totals(engine: Engine) -> None:
    world = World(engine, 3)
    for user in (1, 2, 3):
        world.apply(user, register(user, nip=nip_of(user), agency_code=AGENCIES[user % 2]))
    with engine.connect() as connection:
        deltas = connection.scalar(sa.select(sa.func.count()).select_from(STATS_DELTAS))
    assert deltas == 3
    before = _read(engine)
    assert world.repo.fold_counts() == 3
    assert _read(engine) == before
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(STATS_DELTAS)) == 0
        totals = connection.execute(sa.select(STATS_TOTALS)).all()
    assert len(totals) == 2  # one key per agency (and funder type): the three folded
    assert world.repo.fold_counts() == 0


def test_a_fold_merges_coverage_days_long_past(engine: Engine) -> None:
    """Started coverage is kept per start day only while a reader's date may be before it; a
    fold merges the days PAST_DAYS before its clock into day "" (the totals stay a few rows per
    area, not one per day), and the covered figure does not change."""
    old = (
        "32.05.DINKES",
        "a",
        "asn",
        "",
        "",
        "",
        "2026-01-05",
    )
    future = ("32.05.DINKES", "a", "asn", "", "", "", "2026-04-01")
    values = [0] * len(counts.COUNT_VALUES)
    values[counts.COUNT_VALUES.index("active")] = 1
    values[counts.COUNT_VALUES.index("started")] = 1
    with engine.begin() as connection:
        counts.write(connection, {old: values, future: values})
    month = date(2026, 3, 1)
    with engine.begin() as connection:
        counts.fold(connection, T0)
        rows = {tuple(row[:7]): row for row in counts.read(connection, None, month)}
    assert set(rows) == {(*old[:6], ""), future}


def _read(engine: Engine) -> Statistics:
    with Session(engine) as session:
        return read_statistics(session, None, now=T0.astimezone(ZONE), catalog_codes=AGENCIES)


# ---- two transactions changing one sponsor's footprint (PostgreSQL) -------------------------


def test_two_transactions_on_one_sponsor_take_turns(postgres_url: str) -> None:
    """The sponsor's row is locked before a footprint is read (counts._lock): a decline erasing
    one of a sponsor's workers from a village waits for the sponsor's new submission in that
    village to commit, then counts it. Without the lock, the decline's "before" misses the new
    sponsorship and the village's distinct sponsors end one short."""
    migrate(postgres_url)
    engine = create_db_engine(postgres_url)
    try:
        ids = add_sponsors(engine, SEALER, [(1, AGENCIES[0], 1)])
        [first] = add_sponsorships(engine, [(ids[1], Worker("waiting_worker"))])
        new = Session(engine)
        new.begin()
        new.add(_sponsorship(ids[1], "PR-NEW", "nik-new"))
        new.flush()  # the submission's deltas written, not committed; the sponsor locked
        erased: list[BaseException] = []

        def decline() -> None:
            try:
                with Session(engine) as session, session.begin():
                    row = session.get(Sponsorship, first, with_for_update=True)
                    assert row is not None
                    row.status, row.active_nik_index = "declined", None
                    row.worker_full_name = row.nik_sealed = row.nik_index = None
                    row.nik_masked = row.village_code = row.village_name = None
                    session.flush()  # waits here for the sponsor's row
            except BaseException as error:  # pragma: no cover - reported below
                erased.append(error)

        waiting = threading.Thread(target=decline)
        waiting.start()
        blocked = _wait_until_blocked(engine)
        new.commit()
        new.close()
        waiting.join(timeout=30)
        assert not erased and not waiting.is_alive()
        with Session(engine) as session:
            local = T0.astimezone(ZONE)
            kept = read_statistics(session, None, now=local, catalog_codes=AGENCIES)
            counted = rowcount.read_statistics(session, None, now=local, catalog_codes=AGENCIES)
        assert kept == counted
        assert blocked  # the decline did wait for the submission's transaction
    finally:
        engine.dispose()


def _wait_until_blocked(engine: Engine) -> bool:
    """Whether another backend is waiting for a row lock (polled up to 10 s)."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database()"
    )
    for _ in range(200):
        with engine.connect() as connection:
            if connection.scalar(waiting):
                return True
        time.sleep(0.05)
    return False


def _sponsorship(sponsor_id: int, reference: str, nik_index: str) -> Sponsorship:
    return Sponsorship(
        reference=reference,
        idempotency_key=reference,
        sponsor_id=sponsor_id,
        status="waiting_worker",
        worker_full_name="Pekerja",
        worker_relationship="rumah_tangga",
        worker_job="art",
        nik_sealed="sealed",
        nik_index=nik_index,
        nik_masked="3205********0002",
        active_nik_index=nik_index,
        district_code=Worker("waiting_worker").district[0],
        district_name=Worker("waiting_worker").district[1],
        village_code=Worker("waiting_worker").village[0],
        village_name=Worker("waiting_worker").village[1],
        programme_code="jkk_jkm",
        monthly_amount=16800,
        payment_method="salary_deduction",
        created_at=T0,
        updated_at=T0,
    )


def test_one_fold_at_a_time_across_processes(postgres_url: str) -> None:
    """Two bot processes fold every minute: while one folds (its advisory lock), the other
    folds nothing and leaves the deltas to it."""
    migrate(postgres_url)
    engine = create_db_engine(postgres_url)
    try:
        World(engine, 4).apply(1, register(1, nip=nip_of(1), agency_code=AGENCIES[0]))
        with engine.begin() as holder:
            holder.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": counts.FOLD_LOCK})
            with engine.begin() as other:
                assert counts.fold(other, T0) == 0
                assert other.scalar(sa.select(sa.func.count()).select_from(STATS_DELTAS)) == 1
        with engine.begin() as alone:
            assert counts.fold(alone, T0) == 1
    finally:
        engine.dispose()
