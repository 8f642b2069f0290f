"""/umumkan end to end through the real aiogram bot and the Bot API emulator: a superadmin
composes a formatted announcement with a button, sees the live count and a preview, sends it;
the recipients get exactly the preview (text, formatting, buttons); the progress message in the
author's chat ends in the final report (the runner's progress loop). A recipient's opt-out
button stops the next one. An operator composes only within their agencies; a treasurer or an
outsider does not know the command. Above the threshold a second superadmin must approve, the
author cannot. Delivery is the bot's own delivery engine, which renders with the same function
as the preview."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.clock import MovableClock
from tests.e2e.harness import NOW, BotUnderTest, settings_for, sqlite_url, texts
from tests.integration.announcekit import Asn, populate

ADMIN, SECOND_ADMIN, OPERATOR = 9001, 9002, 9101
RECIPIENTS = (8201, 8202, 8203)  # dinkes, dinkes, setda


@pytest.fixture
def threshold() -> int:
    return 1000


@pytest.fixture
def broadcast_rate() -> float | None:
    return None


@pytest.fixture
async def bot(
    emulator: BotApiEmulator, tmp_path: Path, threshold: int, broadcast_rate: float | None
) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(
        emulator.base_url,
        sqlite_url(tmp_path),
        tmp_path,
        admin_ids=f"{ADMIN},{SECOND_ADMIN}",
        announcement_approval_threshold=threshold,
        broadcast_rate=broadcast_rate,
    )
    running = await BotUnderTest(settings, clock=MovableClock(NOW), emulator=emulator).start()
    yield running
    await running.stop()


def sql(bot: BotUnderTest, statement: str) -> list[tuple[Any, ...]]:
    assert bot.built is not None
    with bot.built.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(statement))]


async def recipients_who_wrote(emulator: BotApiEmulator, bot: BotUnderTest) -> list[FakeUser]:
    people = [emulator.user(user_id, first_name="ASN") for user_id in RECIPIENTS]
    for person in people:
        await person.say("/start")
    assert bot.built is not None
    agencies = ("dinkes", "dinkes", "setda")
    populate(
        bot.built.engine,
        [Asn(user_id, agency) for user_id, agency in zip(RECIPIENTS, agencies, strict=True)],
        known=RECIPIENTS,
    )
    return people


async def compose(author: FakeUser, audience: str, min_count: int = 3) -> list[Any]:
    """/umumkan, a bold text, the sponsor button, `audience`: the preview turn."""
    assert "Pengumuman baru" in texts(await author.say("/umumkan"))
    mark = author.mark()
    author.emulator._user_message(
        author,
        {
            "text": "Daftar sebelum 30 September",
            "entities": [{"type": "bold", "offset": 0, "length": 6}],
        },
    )
    await author.replies_since(mark)
    assert "Tambahkan tombol" in texts(await author.choose("➕ Daftarkan pekerja"))
    return await author.choose(audience, min_count=min_count)


async def deliver(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    """Wait until the bot's delivery engine has given every row of a sending announcement an
    outcome (the engine renders them with the same function as the preview)."""
    await emulator.wait_until(
        lambda: (
            sql(
                bot,
                "SELECT COUNT(*) FROM outbox o JOIN announcements a ON a.id = o.announcement_id"
                " WHERE a.status = 'sending' AND o.outcome IS NULL",
            )
            == [(0,)]
        ),
        30,
        what="every announcement row sent",
    )
    await bot.idle()


def seen(message: Any) -> tuple[Any, ...]:
    return (message.text, message.entities, message.buttons)


async def test_compose_preview_send_and_what_arrives(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    people = await recipients_who_wrote(emulator, bot)
    admin = emulator.user(ADMIN, first_name="Admin")
    turn = await compose(admin, "👥 Semua ASN · 3 orang")  # each audience button counts it
    shown = texts(turn)
    assert "persis seperti yang akan diterima 3 orang" in shown
    assert "<b>3 orang</b>" not in shown and "3 orang" in shown
    preview = next(m for m in turn if m.text == "Daftar sebelum 30 September")
    assert preview.entities == [{"type": "bold", "offset": 0, "length": 6}]
    assert [label for row in preview.buttons for label, _ in row] == [
        "➕ Daftarkan pekerja",
        "🔕 Berhenti menerima pengumuman",
    ]

    sent_turn = await admin.choose("📤 Kirim", min_count=2)
    assert "masuk antrean untuk 3 orang" in texts(sent_turn)
    assert sql(bot, "SELECT status, recipients FROM announcements") == [("sending", 3)]

    await deliver(emulator, bot)
    for person in people:
        arrived = person.messages[-1]
        assert seen(arrived) == seen(preview)  # the preview is exactly what arrives

    # The runner's progress loop marks it done, edits the progress message, sends the report.
    await emulator.wait_until(
        lambda: any("Laporan pengumuman" in (m.text or "") for m in admin.messages),
        30,
        what="the final report",
    )
    assert sql(bot, "SELECT status FROM announcements") == [("done",)]
    progress = next(m for m in admin.messages if "Pengumuman #1" in (m.text or ""))
    assert "selesai" in (progress.text or "") and not progress.buttons

    # A recipient stops announcements with the button under it; the next audience skips them.
    stopped = texts(await people[0].choose("🔕 Berhenti menerima pengumuman"))
    assert "/mulai_pengumuman" in stopped
    assert sql(
        bot,
        "SELECT announcements_off_at IS NOT NULL FROM telegram_users"
        f" WHERE user_id = {RECIPIENTS[0]}",
    ) == [(1,)]
    turn = await compose(admin, "👥 Semua ASN · 2 orang")  # the person who stopped is not counted
    assert "akan diterima 2 orang" in texts(turn)
    await admin.choose("📤 Kirim", min_count=2)
    before = len(people[0].messages)
    await deliver(emulator, bot)
    assert len(people[0].messages) == before  # nothing more for the person who stopped
    assert people[1].messages[-1].text == "Daftar sebelum 30 September"
    assert "/berhenti" in texts(await people[0].say("/mulai_pengumuman"))


MORE_DINKES = tuple(range(8301, 8341))  # 40 more ASN of dinkes, whose chats the bot may use


@pytest.mark.parametrize("broadcast_rate", [1.0])  # one a second: the pause comes mid-way
async def test_pause_resume_cancel_from_the_progress_message(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    people = [emulator.user(user_id, first_name="ASN") for user_id in RECIPIENTS]
    for person in people:
        await person.say("/start")
    emulator.open_chats(MORE_DINKES)
    assert bot.built is not None
    agencies = ("dinkes", "dinkes", "setda")
    populate(
        bot.built.engine,
        [Asn(user_id, agency) for user_id, agency in zip(RECIPIENTS, agencies, strict=True)]
        + [Asn(user_id, "dinkes") for user_id in MORE_DINKES],
        known=RECIPIENTS,
    )
    audience = RECIPIENTS[:2] + MORE_DINKES

    def received() -> int:
        return sum(len(emulator.user(user_id).messages) for user_id in audience) - 2  # /start

    def sent() -> int:
        return int(sql(bot, "SELECT COUNT(*) FROM outbox WHERE outcome = 'sent'")[0][0])

    admin = emulator.user(ADMIN, first_name="Admin")
    await compose(admin, "🏢 ASN instansi tertentu", min_count=1)
    assert "42 orang" in texts(await admin.say("dinkes", min_count=3))
    # While it sends, the bot is never idle: press, then wait for what the press changes.
    await admin.press("📤 Kirim")
    await emulator.wait_until(
        lambda: any(
            label == "⏸️ Jeda" for m in admin.messages for row in m.buttons for label, _ in row
        ),
        30,
        what="the progress message",
    )
    await admin.press("⏸️ Jeda")
    await emulator.wait_until(
        lambda: sql(bot, "SELECT status FROM announcements") == [("paused",)], 30, what="paused"
    )
    await bot.idle()  # what was in flight at the pause has landed; nothing more is claimed
    at_pause = sent()
    assert at_pause < len(audience) and received() == at_pause
    await emulator.wait_until(
        lambda: any(
            label == "▶️ Lanjutkan" for m in admin.messages for row in m.buttons for label, _ in row
        ),
        30,
        what="the resume button",
    )
    assert sent() == at_pause  # held while paused
    await admin.press("▶️ Lanjutkan")
    await emulator.wait_until(lambda: sent() > at_pause, 30, what="sending again")
    assert sql(bot, "SELECT status FROM announcements") == [("sending",)]
    await admin.press("⏹️ Batalkan pengiriman")
    await emulator.wait_until(
        lambda: sql(bot, "SELECT status FROM announcements") == [("cancelled",)],
        30,
        what="cancelled",
    )
    await bot.idle()
    outcomes = dict(sql(bot, "SELECT outcome, COUNT(*) FROM outbox GROUP BY outcome"))
    # Those sent before the cancel are 'sent', the rest cancelled; nobody got one afterwards.
    assert set(outcomes) == {"cancelled", "sent"}
    assert outcomes["cancelled"] + outcomes["sent"] == len(audience)
    assert received() == outcomes["sent"]


@pytest.mark.parametrize("threshold", [2])
async def test_approval_over_the_threshold_and_not_by_the_author(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    await recipients_who_wrote(emulator, bot)
    admin = emulator.user(ADMIN, first_name="Admin")
    second = emulator.user(SECOND_ADMIN, first_name="Kedua")
    await second.say("/start")
    await compose(admin, "👥 Semua ASN · 3 orang")  # 3 people > threshold 2
    waiting = texts(await admin.choose("📤 Kirim", min_count=1))
    assert "perlu persetujuan superadmin lain" in waiting
    await emulator.wait_until(
        lambda: any("Persetujuan pengumuman #1" in (m.text or "") for m in second.messages),
        30,
        what="the approval request",
    )
    await bot.idle()
    # The author's turn asked and recorded it: the progress loop does not ask again.
    assert sql(
        bot, "SELECT channel, row_count FROM audit_log WHERE action = 'announcement.ask_approval'"
    ) == [("telegram", 1)]
    assert sql(bot, "SELECT COUNT(*) FROM outbox") == [(0,)]
    # The author pressing approve (forged: the request was not sent to them) is refused.
    await admin.press_data("0:act:annok:1")
    await bot.idle()
    assert "harus disetujui superadmin lain" in (admin.messages[-1].text or "")
    assert sql(bot, "SELECT status FROM announcements") == [("awaiting_approval",)]
    approved = texts(await second.choose("✅ Setujui", min_count=1))
    assert "Disetujui" in approved
    assert sql(bot, "SELECT status, approved_by_user_id FROM announcements") == [
        ("sending", SECOND_ADMIN)
    ]
    assert sql(bot, "SELECT COUNT(*) FROM outbox") == [(3,)]
    await emulator.wait_until(
        lambda: any("Pengumuman #1" in (m.text or "") for m in admin.messages),
        30,
        what="the progress message in the author's chat",
    )


async def test_operator_scope_and_who_knows_the_command(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    await recipients_who_wrote(emulator, bot)
    admin = emulator.user(ADMIN, first_name="Admin")
    operator = emulator.user(OPERATOR, first_name="Operator")
    outsider = emulator.user(8299, first_name="Luar")
    await admin.say(f"/admin tambah operator setda {OPERATOR}", min_count=2)
    turn = await compose(operator, "👥 Semua ASN · 1 orang")  # only the setda ASN
    assert "akan diterima 1 orang" in texts(turn)
    await compose(operator, "🏢 ASN instansi tertentu", min_count=1)
    assert "di luar wewenang Anda: dinkes" in texts(await operator.say("dinkes"))
    assert "tidak dikenal" in texts(await outsider.say("/umumkan"))
    await admin.say(f"/admin tambah bendahara setda {OPERATOR}", min_count=2)
    assert "tidak dikenal" in texts(await operator.say("/umumkan"))


async def test_a_photo_with_its_caption_arrives_as_previewed(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    people = await recipients_who_wrote(emulator, bot)
    operator = emulator.user(OPERATOR, first_name="Operator")
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say(f"/admin tambah operator setda {OPERATOR}", min_count=2)
    await operator.say("/umumkan")
    mark = operator.mark()
    await operator.send_photo(caption="Poster pendaftaran")
    await operator.replies_since(mark)
    await operator.choose("Tanpa tombol")
    turn = await operator.choose("👥 Semua ASN · 1 orang", min_count=3)
    preview = next(m for m in turn if m.photo is not None)
    assert preview.text == "Poster pendaftaran"
    assert [label for row in preview.buttons for label, _ in row] == [
        "🔕 Berhenti menerima pengumuman"
    ]
    await operator.choose("📤 Kirim", min_count=2)
    await deliver(emulator, bot)
    arrived = people[2].messages[-1]  # the setda ASN only
    assert seen(arrived) == seen(preview) and arrived.photo == preview.photo
    assert all("Poster" not in (m.text or "") for p in people[:2] for m in p.messages)


@pytest.mark.parametrize("threshold", [2])
async def test_a_large_cli_announcement_is_approved_in_the_chat(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    import asyncio
    import io

    from bot.cli import announce as cli_announce

    await recipients_who_wrote(emulator, bot)
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say("/start")
    out = io.StringIO()
    status = await asyncio.to_thread(
        cli_announce.send,
        text="Dari baris perintah",
        file=None,
        audience="all_asn",
        yes=True,
        settings=bot.settings,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert status == 0 and "waits for a superadmin's approval" in out.getvalue()
    # The running bot's loop asks every superadmin (the CLI has no Telegram id of its own).
    await emulator.wait_until(
        lambda: any("Persetujuan pengumuman #1" in (m.text or "") for m in admin.messages),
        30,
        what="the approval request of a CLI announcement",
    )
    assert any(m.text == "Dari baris perintah" for m in admin.messages)  # its preview
    assert "Disetujui" in texts(await admin.choose("✅ Setujui"))
    assert sql(bot, "SELECT status, channel, approved_by_user_id FROM announcements") == [
        ("sending", "cli", ADMIN)
    ]
    assert sql(bot, "SELECT COUNT(*) FROM outbox") == [(3,)]
    await asyncio.sleep(4)  # another round of the loop: asked once only
    asked = [m for m in admin.messages if "Persetujuan pengumuman #1" in (m.text or "")]
    assert len(asked) == 1
