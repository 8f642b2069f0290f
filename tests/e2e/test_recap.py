"""/rekap through the real bot and the emulator: a treasurer gets the workbook of their agency only,
an operator cannot reach another agency's rows by command, button or forged callback data, an
outsider gets what an unknown command gets, and the audit log holds each action."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from bot.i18n import Renderer
from bot.service import Incoming
from bot.storage import audit
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from flows.effects import SendDeductionRecap
from flows.inputs import TextReceived
from tests.e2e.harness import BotUnderTest, settings_for, sqlite_url, texts
from tests.integration.exportkit import Person, add_deductions, grant, seed

SUPERADMIN = 9001
TREASURER = 7001  # dinkes
OPERATOR = 7002  # dinkes and disdik
OUTSIDER = 7003
TREASURER_B = 7004  # bappeda
PEOPLE = [
    Person(1, "198503152010011001", "Budi Santoso", "dinkes", "Siti Aminah", "3205014501900001"),
    Person(2, "198503152010011002", "Ani Lestari", "dinkes", "=HYPERLINK(1)", "3205010501900002"),
    Person(3, "198503152010011003", "Cecep Hidayat", "bappeda", "Dede", "3205014501900003"),
    Person(4, "198503152010011004", "Dodi Permana", "disdik", "Euis", "3205014501900004"),
]
REFUSED = "Anda tidak berwenang melihat rekap instansi itu"


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    """The bot on 21 November 2026 (the default recap is December's), with four sponsorships
    in the December ledger and the staff's roles."""
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
    yield running
    await running.stop()


def workbook(user: FakeUser, index: int = -1) -> tuple[str, openpyxl.Workbook]:
    document = user.documents[index]
    assert document.data is not None
    return document.filename, openpyxl.load_workbook(io.BytesIO(document.data))


def nips(book: openpyxl.Workbook) -> dict[str, list[str]]:
    """NIPs per agency sheet (the rows between the header and the total)."""
    found: dict[str, list[str]] = {}
    for sheet in book.worksheets[:-1]:
        rows = list(sheet.iter_rows(min_row=4, values_only=True))
        found[sheet.title] = [str(row[0]) for row in rows if row[0] != "Jumlah"]
    return found


def audit_log(bot: BotUnderTest) -> list[tuple[int | None, str, str, int | None]]:
    assert bot.built is not None
    with Session(bot.built.engine) as session:
        return [(e.actor_user_id, e.action, e.scope, e.row_count) for e in audit.entries(session)]


async def test_a_treasurer_gets_the_workbook_of_their_agency_only(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    treasurer = emulator.user(TREASURER, first_name="Bendahara")
    shown = texts(await treasurer.say("/rekap", min_count=2))
    assert "Rekap potongan gaji 2026-12" in shown
    assert "Dinas Kesehatan" in shown and "2 baris, jumlah Rp33.600" in shown
    name, book = workbook(treasurer)
    assert name == "rekap-2026-12-dinkes.xlsx"
    assert book.sheetnames == ["dinkes", "Pernyataan"]
    assert nips(book) == {"dinkes": ["198503152010011002", "198503152010011001"]}
    cells = [c for row in book["dinkes"].iter_rows(values_only=True) for c in row]
    assert "'=HYPERLINK(1)" in cells and 33600 in cells
    # Another month, by the button under the summary: November has no rows.
    mark = treasurer.mark()
    await treasurer.press("◀️ 2026-11")
    shown = texts(await treasurer.replies_since(mark, min_count=2))
    assert "Belum ada potongan gaji untuk 2026-11" in shown
    assert len(treasurer.documents) == 2
    assert audit_log(bot) == [
        (TREASURER, "export.deductions", "dinkes", 2),
        (TREASURER, "export.deductions", "dinkes", 0),
    ]
    assert emulator.rejections == []


async def test_an_operator_cannot_reach_another_agency(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    operator = emulator.user(OPERATOR, first_name="Operator")
    turn = await operator.say("/rekap 2026-12", min_count=2)
    _name, book = workbook(operator)
    assert nips(book) == {
        "dinkes": ["198503152010011002", "198503152010011001"],
        "disdik": ["198503152010011004"],
    }
    labels = turn[-1].button_labels
    assert "📥 Dinas Kesehatan" in labels and "📥 Dinas Pendidikan" in labels
    assert not any("Perencanaan" in label for label in labels)
    # One agency of the scope, by its button.
    mark = operator.mark()
    await operator.press("📥 Dinas Pendidikan")
    await operator.replies_since(mark, min_count=2)
    name, book = workbook(operator)
    assert name == "rekap-2026-12-disdik.xlsx"
    assert nips(book) == {"disdik": ["198503152010011004"]}
    # Another agency by command, by forged button data: refused, and no file.
    assert REFUSED in texts(await operator.say("/rekap 2026-12 bappeda"))
    for data in ("0:act:rekap:2026-12:bappeda", "5:act:rekap:2027-01:bappeda"):
        mark = operator.mark()
        await operator.wait_callback_answer(await operator.press_data(data))
        assert REFUSED in texts(await operator.replies_since(mark))
    # Mangled data: the stale-button notice.
    answer = await operator.wait_callback_answer(await operator.press_data("0:act:rekap:xx:dinkes"))
    assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
    assert len(operator.documents) == 2
    assert all("Cecep" not in str(d.data) for d in operator.documents)
    assert audit_log(bot) == [
        (OPERATOR, "export.deductions", "dinkes,disdik", 3),
        (OPERATOR, "export.deductions", "dinkes,disdik", 1),
    ]
    assert emulator.rejections == []


async def test_the_host_checks_the_scope_again(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    """The flows refuse an agency outside the scope (a treasurer of bappeda pressing dinkes
    button data). Behind them the service reads the scope from the database again: an effect
    that reached it for another agency (a role removed after the turn, a bug in the flows)
    gets a refusal, no file, and an audit entry."""
    other = emulator.user(TREASURER_B, first_name="Bendahara B")
    await other.say("/rekap", min_count=2)
    _name, book = workbook(other)
    assert nips(book) == {"bappeda": ["198503152010011003"]}
    mark = other.mark()
    await other.wait_callback_answer(await other.press_data("0:act:rekap:2026-12:dinkes"))
    assert REFUSED in texts(await other.replies_since(mark))
    assert bot.built is not None
    service = bot.built.service
    transport = bot.transport_client
    incoming = Incoming(1, TREASURER_B, TREASURER_B, TextReceived(""))
    for effect in (SendDeductionRecap("2026-12", "dinkes"), SendDeductionRecap("2026-12", "x")):
        mark = other.mark()
        await service._send_recap(incoming, effect, Renderer("id"), transport)
        assert REFUSED in texts(await other.replies_since(mark, quiet=0.2))
    # Someone whose role is gone by the time the answer is sent.
    gone = emulator.user(OUTSIDER, first_name="Mantan")
    await gone.say("/start")
    mark = gone.mark()
    await service._send_recap(
        Incoming(2, OUTSIDER, OUTSIDER, TextReceived("")),
        SendDeductionRecap("2026-12"),
        Renderer("id"),
        transport,
    )
    assert REFUSED in texts(await gone.replies_since(mark, quiet=0.2))
    assert len(other.documents) == 1 and gone.documents == []
    assert audit_log(bot) == [
        (TREASURER_B, "export.deductions", "bappeda", 1),
        (TREASURER_B, "export.refused", "bappeda", 0),
        (TREASURER_B, "export.refused", "bappeda", 0),
    ]


async def test_an_outsider_gets_an_unknown_command(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    outsider = emulator.user(OUTSIDER, first_name="Orang")
    await outsider.say("/start", min_count=1)
    unknown = texts(await outsider.say("/rekap"))
    assert "Perintah /rekap tidak dikenal." in unknown
    other = texts(await outsider.say("/rekap 2026-12 dinkes"))
    assert "Perintah /rekap tidak dikenal." in other
    answer = await outsider.wait_callback_answer(
        await outsider.press_data("0:act:rekap:2026-12:dinkes")
    )
    assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
    assert outsider.documents == []
    assert audit_log(bot) == []
    assert emulator.rejections == []


async def test_a_superadmin_gets_every_agency(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    admin = emulator.user(SUPERADMIN, first_name="Admin")
    shown = texts(await admin.say("/rekap", min_count=2))
    assert "semua instansi" in shown and "4 baris, jumlah Rp67.200" in shown
    name, book = workbook(admin)
    assert name == "rekap-2026-12-semua.xlsx"
    assert book.sheetnames == ["bappeda", "dinkes", "disdik", "Pernyataan"]
    assert audit_log(bot) == [(SUPERADMIN, "export.deductions", "*", 4)]
