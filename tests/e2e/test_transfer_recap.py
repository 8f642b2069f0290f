"""The transfers of sponsors without a NIP under /rekap (issue 12), through the real bot and the
emulator: the treasurer of the agency that looks after the villages (DPMD) asks for /rekap, whose
summary has a button for the month's transfers; it sends their list (CSV) with a summary and a
button marking them paid, which marks the village's row and leaves the ASN's salary deduction
alone (and the other way round). An operator sees the transfers but a forged mark marks nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.storage import audit
from bot.storage.models import Deduction, Sponsorship
from emulator.server import BotApiEmulator
from flows.commands import Applied
from tests.e2e.harness import BotUnderTest, settings_for, sqlite_url, texts
from tests.integration.exportkit import add_deductions, grant
from tests.integration.test_storage_funders import village
from tests.integration.test_storage_repository import apply, register, submit

TREASURER = 7101  # dpmd
OPERATOR = 7102  # dpmd
TRANSFERS = "💸 Transfer desa/BAZNAS/perusahaan 2026-12"
NOT_ALLOWED = "Anda tidak dapat memakai tombol ini."


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    """The bot on 21 November 2026 (the default recap is December's): an ASN of DPMD paying by
    salary deduction and a village (looked after by DPMD) paying from its budget, both owing
    December, nothing marked."""
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    running = await BotUnderTest(settings, emulator=emulator).start()
    assert running.built is not None
    repo = running.repository
    apply(repo, 1, register(1, agency_code="dpmd"))
    apply(repo, 3, village(3))
    references = []
    for user_id, nik, method in (
        (1, "3205014501900011", "salary_deduction"),
        (3, "3205014501900012", "village_budget"),
    ):
        [outcome] = apply(
            repo, user_id, submit(user_id, f"k{user_id}", nik=nik, payment_method=method)
        )
        assert isinstance(outcome, Applied) and outcome.reference
        references.append(outcome.reference)
    add_deductions(running.built.engine, references)
    grant(running.built.engine, TREASURER, "treasurer", "dpmd")
    grant(running.built.engine, OPERATOR, "operator", "dpmd")
    yield running
    await running.stop()


def marked(bot: BotUnderTest) -> dict[str, int | None]:
    """Payment method -> who marked its December row (None: unmarked)."""
    assert bot.built is not None
    with Session(bot.built.engine) as session:
        rows = session.execute(
            sa.select(Sponsorship.payment_method, Deduction.deducted_by_user_id).join(  # type: ignore[call-overload]
                Deduction, Deduction.sponsorship_id == Sponsorship.id
            )
        ).all()
    return {method: by for method, by in rows}


async def test_the_treasurer_sees_the_transfers_and_marks_them_paid(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    treasurer = emulator.user(TREASURER, first_name="Bendahara")
    summary = (await treasurer.say("/rekap", min_count=2))[-1]
    assert "1 baris" in summary.text  # the ASN's salary deduction only
    assert TRANSFERS in summary.button_labels
    listed = await treasurer.choose(TRANSFERS, min_count=2)
    [document] = [m.document for m in listed if m.document is not None]
    assert document.filename == "transfer-2026-12-dpmd.csv" and document.data is not None
    rows = list(csv.DictReader(io.StringIO(document.data.decode("utf-8-sig"))))
    assert [row["lembaga"] for row in rows] == ["Pemerintah Desa Wanaraja"]
    assert rows[0]["nik_pekerja"] == "3205********0012"
    shown = listed[-1]
    assert "Rekap transfer 2026-12" in shown.text and "Rp16.800" in shown.text
    assert "📑 Potongan gaji ASN 2026-12" in shown.button_labels
    mark = treasurer.mark()
    await treasurer.press("✅ Tandai sudah dibayar")
    [question] = await treasurer.replies_since(mark)
    assert "Tandai 1 baris transfer 2026-12" in question.text and "sudah dibayar?" in question.text
    assert marked(bot) == {"salary_deduction": None, "village_budget": None}  # asking marks nothing
    mark = treasurer.mark()
    await treasurer.press("Ya, tandai")
    assert "1 baris transfer ditandai sudah dibayar" in texts(await treasurer.replies_since(mark))
    assert marked(bot) == {"salary_deduction": None, "village_budget": TREASURER}
    assert bot.built is not None
    with Session(bot.built.engine) as session:
        entries = audit.entries(session, action="ledger.mark")
        assert [(e.actor_user_id, e.row_count) for e in entries] == [(TREASURER, 1)]
        assert entries[0].detail is not None and "transfers" in entries[0].detail
    assert emulator.rejections == []


async def test_an_operator_sees_the_transfers_but_cannot_mark_them(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    operator = emulator.user(OPERATOR, first_name="Operator")
    await operator.say("/rekap", min_count=2)
    listed = await operator.choose(TRANSFERS, min_count=2)
    assert "✅ Tandai sudah dibayar" not in listed[-1].button_labels
    for data in ("0:act:tmarkok:2026-12", "0:act:tmark:2026-12:1:dpmd"):
        answer = await operator.wait_callback_answer(await operator.press_data(data))
        assert answer.text == NOT_ALLOWED, data
    assert marked(bot) == {"salary_deduction": None, "village_budget": None}
    assert emulator.rejections == []
