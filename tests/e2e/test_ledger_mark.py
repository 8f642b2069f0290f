"""Marking a month deducted under /rekap, through the real bot and the emulator: a treasurer asks
for the recap, presses the mark button, confirms, and their agency's rows of the month are marked
in the database (audit-logged); forged presses by an operator or a treasurer of another agency,
or by an operator of the same agency, mark nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.storage import audit
from bot.storage.models import Deduction
from emulator.server import BotApiEmulator
from tests.e2e.harness import BotUnderTest, settings_for, sqlite_url, texts
from tests.integration.exportkit import Person, add_deductions, grant, seed

SUPERADMIN = 9001
TREASURER = 7001  # dinkes
OPERATOR = 7002  # dinkes and disdik
TREASURER_B = 7004  # bappeda
OPERATOR_B = 7005  # bappeda
DECEMBER = date(2026, 12, 1)
PEOPLE = [
    Person(1, "198503152010011001", "Budi Santoso", "dinkes", "Siti Aminah", "3205014501900001"),
    Person(2, "198503152010011002", "Ani Lestari", "dinkes", "Rina", "3205010501900002"),
    Person(3, "198503152010011003", "Cecep Hidayat", "bappeda", "Dede", "3205014501900003"),
    Person(4, "198503152010011004", "Dodi Permana", "disdik", "Euis", "3205014501900004"),
]
NOT_ALLOWED = "Anda tidak dapat memakai tombol ini."


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    """The bot on 21 November 2026 (the default recap is December's), four sponsorships in the
    December ledger, none marked, and the staff's roles."""
    settings = settings_for(
        emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(SUPERADMIN)
    )
    running = await BotUnderTest(settings, emulator=emulator).start()
    assert running.built is not None
    engine = running.built.engine
    references = seed(running.repository, PEOPLE)
    add_deductions(engine, list(references.values()))
    grant(engine, TREASURER, "treasurer", "dinkes")
    grant(engine, OPERATOR, "operator", "dinkes", "disdik")
    grant(engine, TREASURER_B, "treasurer", "bappeda")
    grant(engine, OPERATOR_B, "operator", "bappeda")
    yield running
    await running.stop()


def marked_by(bot: BotUnderTest) -> dict[str, list[int | None]]:
    """Per agency, who marked each December row (None: unmarked)."""
    assert bot.built is not None
    found: dict[str, list[int | None]] = {}
    with Session(bot.built.engine) as session:
        rows = session.scalars(sa.select(Deduction).order_by(Deduction.id)).all()  # type: ignore[arg-type]
        for row in rows:
            assert row.month == DECEMBER
            by = row.deducted_by_user_id if row.deducted_at is not None else None
            found.setdefault(row.agency_code, []).append(by)
    return found


def marks(bot: BotUnderTest) -> list[tuple[int | None, str, int | None]]:
    assert bot.built is not None
    with Session(bot.built.engine) as session:
        entries = audit.entries(session, action="ledger.mark")
        return [(e.actor_user_id, e.scope, e.row_count) for e in entries]


async def test_a_treasurer_marks_the_month_after_confirming(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    treasurer = emulator.user(TREASURER, first_name="Bendahara")
    summary = (await treasurer.say("/rekap", min_count=2))[-1]
    labels = list(summary.button_labels)
    assert "✅ Tandai sudah dipotong" in labels
    mark = treasurer.mark()
    await treasurer.press("✅ Tandai sudah dipotong")
    [question] = await treasurer.replies_since(mark)
    assert "Tandai 2 baris 2026-12 Dinas Kesehatan sebagai sudah dipotong?" in question.text
    assert question.button_labels == ["Ya, tandai", "Batal"]
    assert marked_by(bot)["dinkes"] == [None, None]  # asking marks nothing
    # The recap's own buttons stay under it (another month can still be asked for).
    [still] = [m for m in treasurer.messages if m.message_id == summary.message_id]
    assert still.button_labels == labels
    mark = treasurer.mark()
    await treasurer.press("Ya, tandai")
    assert "2 baris ditandai" in texts(await treasurer.replies_since(mark))
    assert marked_by(bot) == {"dinkes": [TREASURER, TREASURER], "bappeda": [None], "disdik": [None]}
    assert marks(bot) == [(TREASURER, "dinkes", 2)]
    # The same confirmation pressed again (forged: its buttons are gone) marks nothing more.
    mark = treasurer.mark()
    await treasurer.press_data("0:act:lmarkok:2026-12", message_id=summary.message_id)
    assert "0 baris ditandai" in texts(await treasurer.replies_since(mark))
    assert marks(bot) == [(TREASURER, "dinkes", 2), (TREASURER, "dinkes", 0)]
    assert emulator.rejections == []


async def test_forged_presses_from_outside_mark_nothing(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    for user_id in (OPERATOR_B, TREASURER_B, OPERATOR):
        staff = emulator.user(user_id, first_name="Petugas")
        await staff.say("/rekap", min_count=2)
        for data in (
            "0:act:lmarkok:2026-12:dinkes",
            "0:act:lmark:2026-12:2:dinkes",
            *(("0:act:lmarkok:2026-12",) if user_id != TREASURER_B else ()),
        ):
            answer = await staff.wait_callback_answer(await staff.press_data(data))
            assert answer.text == NOT_ALLOWED, (user_id, data)
    assert marked_by(bot) == {"dinkes": [None, None], "bappeda": [None], "disdik": [None]}
    assert marks(bot) == []
    assert emulator.rejections == []
