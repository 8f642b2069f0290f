"""bot.ledger.LedgerKeeper: each round opens the current LOCAL month, then lapses; it survives a
failed round, wakes the outbox only when it lapsed something, and stops when cancelled. And the
ledger's face in /status: the months counted toward the children's scholarship."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

from bot.catalog import load_programme
from bot.ledger import LedgerKeeper, Round, rounds_of
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows.ledger import EVERY_AGENCY, AgencyScope

JAKARTA = ZoneInfo("Asia/Jakarta")
MAKASSAR = ZoneInfo("Asia/Makassar")


class FakeLedger:
    def __init__(self, lapsed: int = 0, fail_first: bool = False) -> None:
        self.calls: list[object] = []
        self.scopes: list[tuple[object, AgencyScope]] = []
        self.lapsed = lapsed
        self.fail_first = fail_first

    def open_month(self, month: date, agencies: AgencyScope = EVERY_AGENCY) -> int:
        self.calls.append(month)
        self.scopes.append((month, agencies))
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("database down")
        return 3

    def lapse_overdue(self, zone: tzinfo, agencies: AgencyScope = EVERY_AGENCY) -> int:
        self.calls.append(zone)
        self.scopes.append((zone, agencies))
        return self.lapsed


async def test_a_round_opens_the_local_month_then_lapses() -> None:
    ledger = FakeLedger()
    # 1 December 00:30 in Jakarta is still 30 November in UTC.
    keeper = LedgerKeeper(ledger, lambda: datetime(2026, 11, 30, 17, 30, tzinfo=UTC), JAKARTA)
    done = await keeper.run_once()
    assert ledger.calls == [date(2026, 12, 1), JAKARTA]
    assert (done.opened, done.lapsed) == (3, 0)


async def test_each_zone_opens_its_own_month() -> None:
    """Issue 12: at 23:30 WIB on 30 November it is already 1 December 00:30 in Majene (WITA):
    Majene's sponsors get December, Garut's still November, each lapsed by its own clock."""
    ledger = FakeLedger(lapsed=1)
    majene = AgencyScope(only=frozenset({"76.05.DINKES"}))
    others = AgencyScope(excluding=frozenset({"76.05.DINKES"}))
    keeper = LedgerKeeper(
        ledger,
        lambda: datetime(2026, 11, 30, 16, 30, tzinfo=UTC),
        JAKARTA,
        rounds=(Round(JAKARTA, others), Round(MAKASSAR, majene)),
    )
    done = await keeper.run_once()
    assert ledger.scopes == [
        (date(2026, 11, 1), others),
        (JAKARTA, others),
        (date(2026, 12, 1), majene),
        (MAKASSAR, majene),
    ]
    assert (done.opened, done.lapsed) == (6, 2)


def test_the_rounds_of_a_deployment_cover_every_agency_once() -> None:
    deployment = load_programme(DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml")
    rounds = rounds_of(deployment)
    assert [r.zone for r in rounds] == [JAKARTA, MAKASSAR]  # Garut and Kendal, then Majene
    majene = {a.code for a in deployment.catalog.agencies if a.regency == "76.05"}
    assert majene and rounds[1].agencies == AgencyScope(only=frozenset(majene))
    # The first round takes everyone else, also an agency the configuration no longer lists.
    assert rounds[0].agencies == AgencyScope(excluding=frozenset(majene))
    for agency in deployment.catalog.agencies:
        assert sum(r.agencies.covers(agency.code) for r in rounds) == 1
    assert rounds[0].agencies.covers("gone")


def test_one_zone_is_one_round_over_every_agency() -> None:
    assert rounds_of(load_programme(DEFAULT_PROGRAMME_FILE)) == (Round(JAKARTA, EVERY_AGENCY),)


async def test_the_outbox_is_woken_only_when_something_lapsed() -> None:
    ready = asyncio.Event()
    clock = lambda: datetime(2027, 3, 2, tzinfo=UTC)  # noqa: E731
    await LedgerKeeper(FakeLedger(lapsed=0), clock, JAKARTA, ready=ready).run_once()
    assert not ready.is_set()
    await LedgerKeeper(FakeLedger(lapsed=2), clock, JAKARTA, ready=ready).run_once()
    assert ready.is_set()


async def test_the_loop_survives_a_failed_round_and_stops_when_cancelled() -> None:
    ledger = FakeLedger(fail_first=True)
    keeper = LedgerKeeper(
        ledger, lambda: datetime(2027, 3, 2, tzinfo=UTC), JAKARTA, interval_seconds=0.01
    )
    task = asyncio.create_task(keeper.run())
    for _ in range(200):
        if len(ledger.calls) >= 3:  # failed open, then open + lapse of the next round
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.done()
    assert ledger.calls[:3] == [date(2027, 3, 1), date(2027, 3, 1), JAKARTA]


async def test_stopping_lets_a_running_round_end_first() -> None:
    """Cancelled while a round's transaction runs in its thread: run() returns only once the
    round is done (the bot then closes the engine)."""
    import threading

    release, entered = threading.Event(), threading.Event()
    finished: list[str] = []

    class SlowLedger(FakeLedger):
        def open_month(self, month: date, agencies: AgencyScope = EVERY_AGENCY) -> int:
            entered.set()
            release.wait(5)
            finished.append("open")
            return 0

    keeper = LedgerKeeper(SlowLedger(), lambda: datetime(2027, 3, 2, tzinfo=UTC), JAKARTA)
    task = asyncio.create_task(keeper.run())
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the round
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert finished == ["open"]


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LedgerKeeper(FakeLedger(), lambda: datetime(2027, 3, 2, tzinfo=UTC), JAKARTA, None, 0)


# ---- /status: the scholarship count -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "marked", "shown"),
    [
        ("active", 0, "0 dari 36 bulan iuran tercatat"),
        ("active", 12, "12 dari 36 bulan iuran tercatat"),
        (
            "active",
            36,
            "36 bulan iuran tercatat: syarat 36 bulan untuk beasiswa anak sudah terpenuhi",
        ),
        ("confirmed", 0, None),  # not covered yet: nothing counts
        ("lapsed", 5, None),
    ],
)
def test_status_shows_the_scholarship_count_of_an_active_sponsorship(
    status: str, marked: int, shown: str | None
) -> None:
    from bot import presenters
    from bot.i18n import Renderer
    from bot.storage.views import SponsorshipView, SponsorView, UserRecord
    from tests.unit.flowkit import PROGRAMME

    item = SponsorshipView(
        reference="PR-ABCDEF",
        worker_full_name="Ujang Suryana",
        nik_masked="3205********0001",
        worker_relationship=None,
        worker_job="asisten_rumah_tangga",
        worker_job_other=None,
        programme_code="jkk_jkm",
        monthly_amount=16800,
        payment_method="payroll",
        status=status,
        created_at=datetime(2026, 11, 21, tzinfo=UTC),
        marked_months=marked,
    )
    sponsor = SponsorView(1, "Siti", "32.05.DINKES", "1985***********001", "PNS", "+62******7890")
    for language, word in (("id", "bulan iuran tercatat"), ("en", "months of contributions")):
        text = presenters.status(
            UserRecord(1, language, sponsor, 1),
            [item],
            [],
            PROGRAMME.catalog,
            JAKARTA,
            Renderer(language),
        ).text
        if shown is None:
            assert word not in text
        elif language == "id":
            assert shown in text
        else:
            assert f"{marked} " in text and word in text
