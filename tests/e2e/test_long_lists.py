"""Long lists against the emulator, which refuses a message over 4096 characters as Telegram does:
twelve long correction requests in the admins' queue, one "requests waiting" notice per admin,
and the per-person limit on open requests, as a person meets them in the chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.storage.repository import MAX_OPEN_REQUESTS
from emulator.server import BotApiEmulator
from flows.commands import Applied, RegisterSponsor, RequestCorrection
from tests.e2e.harness import NOW, BotUnderTest, settings_for, sign_up, sqlite_url, texts

ADMIN = 9101
# A long request, with characters HTML must escape: 480 characters, about 700 once shown.
DETAILS = ("Nama ibu & tanggal <lahir> di data saya salah; yang benar ada di KTP. " * 7)[:480]
NEXT, PREVIOUS = "Berikutnya ▶️", "◀️ Sebelumnya"
SHOWING = re.compile(r"Menampilkan (\d+)–(\d+) dari (\d+)")


def showing(text: str | None) -> tuple[int, int, int]:
    found = SHOWING.search(text or "")
    assert found, text
    first, last, total = (int(number) for number in found.groups())
    return first, last, total


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(ADMIN))
    running = await BotUnderTest(settings, emulator=emulator).start()
    yield running
    await running.stop()


def outbox_keys(bot: BotUnderTest) -> list[tuple[str, int]]:
    assert bot.built is not None
    with bot.built.engine.connect() as connection:
        found = connection.execute(sa.text("SELECT dedupe_key, recipient_user_id FROM outbox"))
        return [(str(key), int(recipient)) for key, recipient in found]


def seed_requests(bot: BotUnderTest, sponsors: int) -> None:
    """Other sponsors' requests, written as their turns would (3 each: the most allowed)."""
    for number in range(sponsors):
        user_id = 8500 + number
        command = RegisterSponsor(
            user_id=user_id,
            nip=f"19850315201001{1002 + number}",
            nip_kind="PNS",
            full_name=f"Sponsor {number}",
            agency_code="32.05.DINKES",
            phone_e164="+6281234567890",
        )
        requests = [
            RequestCorrection(user_id, None, "sponsor", f"{n}. {DETAILS}", NOW)
            for n in range(MAX_OPEN_REQUESTS)
        ]
        outcomes = bot.repository.apply(user_id, [command, *requests])
        assert all(isinstance(outcome, Applied) for outcome in outcomes), outcomes


async def test_twelve_long_requests_page_the_admin_queue_and_ping_each_admin_once(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say("/start")  # the admin's chat is open, so notices can reach it
    sponsor = emulator.user(8401, first_name="Siti", phone_number="+6281234567890")
    await sign_up(sponsor)
    await sponsor.say("/batal")

    # Three requests through the chat; the fourth is refused, saying what to do.
    for number in range(MAX_OPEN_REQUESTS):
        assert "Data apa yang perlu dikoreksi" in texts(await sponsor.say("/koreksi"))
        assert "sudah masuk ke antrian" in texts(await sponsor.say(f"{number}. {DETAILS}"))
    await sponsor.say("/koreksi")
    refused = texts(await sponsor.say(DETAILS))
    assert "sudah punya 3 permintaan" in refused and "/data_saya" in refused
    seed_requests(bot, sponsors=3)  # 3 + 9 = 12 open requests
    assert len(bot.repository.open_requests()) == 12

    # The admin was told once that requests are waiting (the outbox, after the first request).
    def pings() -> int:
        return sum("Ada permintaan baru" in (m.text or "") for m in admin.messages)

    await emulator.wait_until(lambda: pings() >= 1, what="the admin's notice")

    # /antrian: the first page, under the limit, with a button to the next.
    first = (await admin.say("/antrian"))[-1]
    assert first.text is not None and len(first.text) < 4096
    assert "Antrian permintaan (12)" in first.text
    assert showing(first.text) == (1, 5, 12)
    assert first.text.count("koreksi data dari") == 5
    labels = [label for row in admin.inline_buttons(first) for label, _data in row]
    assert labels[-1] == NEXT and PREVIOUS not in labels
    assert all(len(data.encode()) <= 64 for row in admin.inline_buttons(first) for _l, data in row)

    # ▶️ shows the next page in place of the first; ◀️ goes back.
    second = (await admin.choose(NEXT))[-1]
    assert second.message_id == first.message_id
    assert second.text is not None and showing(second.text) == (6, 10, 12)
    assert len(second.text) < 4096
    third = (await admin.choose(NEXT))[-1]
    assert third.text is not None and showing(third.text) == (11, 12, 12)
    third_labels = [label for row in admin.inline_buttons(third) for label, _data in row]
    assert NEXT not in third_labels and PREVIOUS in third_labels
    back = (await admin.choose(PREVIOUS))[-1]
    assert back.text is not None and showing(back.text) == (6, 10, 12)

    # A request handled from page 2: the queue is shown again, one shorter.
    resolve = next(
        label
        for row in admin.inline_buttons(back)
        for label, _data in row
        if label.startswith("✅ Selesai")
    )
    turn = await admin.choose(resolve, min_count=2)
    assert "ditandai selesai" in texts(turn) and showing(turn[-1].text) == (1, 5, 11)

    # Twelve requests, one notice to the admin (the hour's window).
    assert pings() == 1
    assert [key for key, _ in outbox_keys(bot) if str(ADMIN) in key] == [
        f"requests-waiting:{NOW.astimezone(UTC):%Y-%m-%dT%H}:admin:{ADMIN}"
    ]
    assert emulator.rejections == []
