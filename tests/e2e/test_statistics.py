"""/statistik through the real aiogram bot and the emulator: a superadmin sees the regency's
figures, an operator only their agencies (by command, by button and by forged callback), an
outsider gets what an unknown command gets; each view is in the audit log; the chart is a PNG."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.security.crypto import Sealer
from bot.storage import audit
from bot.storage.db import create_db_engine
from emulator.server import BotApiEmulator
from tests.e2e.harness import BotUnderTest, texts
from tests.e2e.test_worker_journey import (  # noqa: F401  (bot and clock are fixtures)
    ADMIN,
    bot,
    clock,
)
from tests.statskit import Worker, add_deductions, add_roster, add_sponsors, add_sponsorships, grant

KEY = Sealer(b"k" * 32)  # the e2e bot's DATA_KEY (tests.e2e.harness.settings_for)
OPERATOR, TREASURER, OUTSIDER = 9100, 9200, 9300
PNG = b"\x89PNG\r\n\x1a\n"
NOT_ALLOWED = "Instansi itu tidak ada atau di luar wewenang Anda."


@pytest.fixture
def engine(bot: BotUnderTest) -> Iterator[Engine]:  # noqa: F811
    """The bot's database with: dinkes 2 ASN (one worker covered since 1 November, one waiting),
    disdik 1 (confirmed); November deducted for the covered one; a roster of 4 for dinkes (both
    signed up); an operator of dinkes and a treasurer of disdik."""
    engine = create_db_engine(bot.settings.database_url)
    ids = add_sponsors(engine, KEY, [(7001, "dinkes", 1), (7002, "dinkes", 2), (7003, "disdik", 3)])
    covered, _, _ = add_sponsorships(
        engine,
        [
            (ids[7001], Worker("active", coverage_start=date(2026, 11, 1))),
            (ids[7002], Worker("waiting_worker", ("32.05.02", "Tarogong Kidul"))),
            (ids[7003], Worker("confirmed")),
        ],
    )
    add_deductions(engine, [(covered, date(2026, 11, 1), "dinkes", 16800, True)])
    add_roster(engine, KEY, [(1, "dinkes"), (2, "dinkes"), (5, "dinkes"), (6, "dinkes")])
    grant(engine, OPERATOR, "operator", "dinkes")
    grant(engine, TREASURER, "treasurer", "disdik")
    yield engine
    engine.dispose()


def views(engine: Engine) -> list[tuple[int | None, str, int | None]]:
    with Session(engine) as session:
        return [
            (e.actor_user_id, e.scope, e.row_count)
            for e in audit.entries(session, action="stats.view")
        ]


async def test_a_superadmin_sees_the_regency_figures_and_a_chart(
    emulator: BotApiEmulator,
    engine: Engine,
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    turn = await admin.say("/statistik", min_count=2)
    shown = texts(turn)
    assert "2 dari 44 dinas" in shown  # dinkes and disdik have ASN signed up
    assert "50,0 %" in shown and "(2 dari 4 ASN di daftar pegawai)" in shown
    assert "Dinas Kesehatan" in shown and "Dinas Pendidikan" in shown
    assert "dipotong bulan ini Rp16.800" in shown
    [photo] = [m for m in turn if m.photo is not None]
    assert photo.photo is not None and photo.photo.startswith(PNG)
    assert "Pendaftaran per instansi" in (photo.text or "")
    assert views(engine) == [(ADMIN, "*", 44 + 3 + 3)]  # 44 agencies, 2 kecamatan + 1, desa
    assert emulator.rejections == []


async def test_an_operator_sees_only_their_agency_by_command_button_or_forged_callback(
    emulator: BotApiEmulator,
    engine: Engine,
) -> None:
    operator = emulator.user(OPERATOR, first_name="Operator")
    turn = await operator.say("/statistik", min_count=2)
    shown = texts(turn)
    assert "Dinas Kesehatan" in shown and "Dinas Pendidikan" not in shown
    assert "1 dari 1 dinas" in shown
    summary = next(m for m in turn if m.inline_keyboard)
    labels = [b["text"] for row in summary.inline_keyboard for b in row]
    assert labels == ["📊 Dinas Kesehatan"]
    assert any(m.photo is not None and m.photo.startswith(PNG) for m in turn)

    # Another agency by command: refused, nothing of it shown.
    refused = texts(await operator.say("/statistik disdik"))
    assert NOT_ALLOWED in refused and "Dinas Pendidikan" not in refused

    # Another agency by forged callback data: a refusal toast, no message.
    mark = operator.mark()
    answer = await operator.wait_callback_answer(await operator.press_data("0:stat:disdik"))
    assert answer.text == "⛔ " + NOT_ALLOWED
    assert texts(await operator.replies_since(mark, min_count=0)) == ""

    # Their own agency's button: per kecamatan and desa, with the chart of its kecamatan.
    mark = operator.mark()
    await operator.press("📊 Dinas Kesehatan")
    detail = await operator.replies_since(mark, min_count=2)
    shown = texts(detail)
    assert "Kec. Garut Kota" in shown and "Kec. Tarogong Kidul" in shown
    assert "Sukamentri" in shown and "Dinas Pendidikan" not in shown
    assert any(m.photo is not None and m.photo.startswith(PNG) for m in detail)
    assert [(user, scope) for user, scope, _ in views(engine)] == [
        (OPERATOR, "dinkes"),
        (OPERATOR, "dinkes"),
    ]
    assert emulator.rejections == []


async def test_a_treasurer_sees_their_agency(
    emulator: BotApiEmulator,
    engine: Engine,
) -> None:
    treasurer = emulator.user(TREASURER, first_name="Bendahara")
    shown = texts(await treasurer.say("/statistik", min_count=2))
    assert "Dinas Pendidikan" in shown and "Dinas Kesehatan" not in shown
    assert "dikonfirmasi 1" in shown


async def test_an_outsider_gets_the_answer_to_an_unknown_command(
    emulator: BotApiEmulator,
    engine: Engine,
) -> None:
    outsider = emulator.user(OUTSIDER, first_name="Orang")
    unknown = texts(await outsider.say("/tidakada"))
    for command in ("/statistik", "/statistik dinkes"):
        answer = texts(await outsider.say(command))
        assert answer == unknown.replace("/tidakada", "/statistik")
        assert "Dinas" not in answer
    answer = await outsider.wait_callback_answer(await outsider.press_data("0:stat:dinkes"))
    assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
    assert views(engine) == []
    assert emulator.rejections == []


def exports(engine: Engine) -> list[tuple[int | None, str, str | None, int | None]]:
    with Session(engine) as session:
        return [
            (e.actor_user_id, e.scope, e.detail, e.row_count)
            for e in audit.entries(session, action="stats.export")
        ]


async def test_the_statistics_workbook_follows_the_chart(
    emulator: BotApiEmulator,
    engine: Engine,
) -> None:
    """An operator of dinkes gets, after the summary and its chart, the XLSX of their scope:
    dinkes only, the figures of the message, the native chart; the file is audit-logged."""
    operator = emulator.user(OPERATOR, first_name="Operator")
    turn = await operator.say("/statistik", min_count=3)
    kinds = ["photo" if m.photo else "document" if m.document else "text" for m in turn]
    assert kinds[-2:] == ["photo", "document"]  # the workbook comes after the chart
    [document] = operator.documents
    assert document.filename == "statistik-2026-11-dinkes.xlsx"
    assert "Statistik" in (turn[-1].text or "")
    assert document.data is not None
    book = openpyxl.load_workbook(io.BytesIO(document.data))
    assert book.sheetnames == [
        "Ringkasan",
        "Instansi",
        "Kecamatan dan desa",
        "Pekerjaan",
        "Hubungan",
    ]
    sheet = book["Instansi"]
    header = [c.value for c in sheet[1]]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(2, values_only=True)}
    assert list(rows) == ["dinkes"]  # nothing of disdik
    dinkes = rows["dinkes"]
    assert (dinkes["ASN ikut"], dinkes["Aktif"], dinkes["Pekerja terlindungi"]) == (2, 1, 1)
    assert dinkes["Dipotong bulan ini (Rp)"] == 16800 and dinkes["Partisipasi"] == 0.5
    areas = [r[:3] for r in book["Kecamatan dan desa"].iter_rows(min_row=2, values_only=True)]
    assert all(area[0] == "Dinas Kesehatan" for area in areas) and areas
    assert book["Ringkasan"]._charts
    row_count = views(engine)[0][2]
    assert exports(engine) == [(OPERATOR, "dinkes", "format=xlsx agencies=dinkes chat", row_count)]

    # One agency's button: that agency's workbook, logged too.
    mark = operator.mark()
    await operator.press("📊 Dinas Kesehatan")
    await operator.replies_since(mark, min_count=3)
    assert [d.filename for d in operator.documents] == [
        "statistik-2026-11-dinkes.xlsx",
        "statistik-2026-11-dinkes.xlsx",
    ]
    assert len(exports(engine)) == 2
    assert emulator.rejections == []


async def test_no_workbook_for_a_refusal(emulator: BotApiEmulator, engine: Engine) -> None:
    operator = emulator.user(OPERATOR, first_name="Operator")
    await operator.say("/statistik disdik")
    outsider = emulator.user(OUTSIDER, first_name="Orang")
    await outsider.say("/statistik")
    assert operator.documents == [] and outsider.documents == []
    assert exports(engine) == []
