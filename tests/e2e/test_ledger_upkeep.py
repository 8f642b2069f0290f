"""Issue 8 end to end: the running bot keeps the monthly ledger by itself. Each start (and every
hour) it opens the current local month; /status shows the months counted toward the children's
scholarship; two months without a recorded deduction lapse the sponsorship, and the sponsor and
the worker are told once, through the outbox, by the real aiogram bot against the emulator."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

from bot.cli.ledger import run as ledger_cli
from bot.settings import Settings
from emulator.server import BotApiEmulator
from tests.clock import MovableClock
from tests.e2e.harness import NOW, WIB, BotUnderTest, settings_for, sqlite_url, texts
from tests.e2e.test_worker_journey import consent, registered

ADMIN = 9001


def ledger_rows(database: Path) -> list[tuple[str, bool]]:
    with sqlite3.connect(database) as connection:
        found = connection.execute(
            "SELECT month, deducted_at IS NOT NULL FROM deductions ORDER BY month"
        ).fetchall()
    return [(str(month), bool(marked)) for month, marked in found]


async def started(
    settings: Settings, clock: MovableClock, emulator: BotApiEmulator
) -> BotUnderTest:
    return await BotUnderTest(settings, clock=clock, emulator=emulator).start()


async def rows_become(database: Path, expected: list[tuple[str, bool]]) -> None:
    """The keeper's first round runs beside polling: wait for it (a few seconds at most)."""
    for _ in range(100):
        if ledger_rows(database) == expected:
            return
        await asyncio.sleep(0.1)
    assert ledger_rows(database) == expected


async def test_the_running_bot_keeps_the_ledger(emulator: BotApiEmulator, tmp_path: Path) -> None:
    database = tmp_path / "peduli.sqlite3"
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(ADMIN))
    clock = MovableClock(NOW)  # 21 November 2026: the consent names December as the first month
    bot = await started(settings, clock, emulator)
    try:
        sponsor, parameter, reference = await registered(emulator)
        worker = emulator.user(8701)
        await consent(worker, parameter)
        admin = emulator.user(ADMIN, first_name="Admin")
        activated = texts(await admin.say(f"/aktifkan {reference} 23012345678 2026-11-29"))
        assert "diaktifkan" in activated
        assert ledger_rows(database) == []  # November is owed by nobody
    finally:
        await bot.stop()

    clock.now = datetime(2026, 12, 2, 8, 0, tzinfo=WIB)
    bot = await started(settings, clock, emulator)
    try:
        await rows_become(database, [("2026-12-01", False)])  # opened by itself
        assert "0 dari 36 bulan iuran tercatat" in texts(await sponsor.say("/status"))
        with sqlite3.connect(database) as connection:
            [(agency,)] = connection.execute("SELECT agency_code FROM deductions").fetchall()
        marked = await asyncio.to_thread(
            ledger_cli, "mark", "2026-12", agency=str(agency), settings=settings
        )
        assert marked == 0
        assert "1 dari 36 bulan iuran tercatat" in texts(await sponsor.say("/status"))
    finally:
        await bot.stop()

    # January and February pass with nothing marked; in March the keeper lapses it.
    for month in (1, 2):
        clock.now = datetime(2027, month, 3, 8, 0, tzinfo=WIB)
        bot = await started(settings, clock, emulator)
        await rows_become(
            database,
            [("2026-12-01", True), *((f"2027-{m:02d}-01", False) for m in range(1, month + 1))],
        )
        await bot.stop()
    sponsor_mark, worker_mark = sponsor.mark(), worker.mark()
    clock.now = datetime(2027, 3, 1, 0, 30, tzinfo=WIB)  # still February in UTC
    bot = await started(settings, clock, emulator)
    try:
        told = await sponsor.wait_for_reply(after=sponsor_mark)
        assert "tidak aktif" in (told.text or "") and reference in (told.text or "")
        worker_told = await worker.wait_for_reply(after=worker_mark)
        assert "Januari 2027 dan Februari 2027" in (worker_told.text or "")
        await bot.idle()
        assert "tidak aktif (iuran tertunggak)" in texts(await sponsor.say("/status"))
    finally:
        await bot.stop()
    # Another start in March (another process, the next hour): nobody is told again.
    sponsor_mark, worker_mark = sponsor.mark(), worker.mark()
    bot = await started(settings, clock, emulator)
    try:
        await asyncio.sleep(0.5)
        await bot.idle()
        assert sponsor.mark() == sponsor_mark and worker.mark() == worker_mark
    finally:
        await bot.stop()
