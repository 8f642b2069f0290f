"""Issue 6 items 16 and 17 end to end: a worker writing later gets the worker's menu (not the
ASN sign-up), and an invitation opened in the middle of a draft keeps the draft."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.server import BotApiEmulator
from tests.clock import MovableClock
from tests.e2e.harness import (
    NOW,
    BotUnderTest,
    choose_job,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)
from tests.e2e.test_worker_journey import consent, open_link, registered

OTHER_NIP = "197912082005011002"


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    running = await BotUnderTest(settings, clock=MovableClock(NOW), emulator=emulator).start()
    yield running
    await running.stop()


async def test_a_worker_writing_later_gets_the_worker_menu_not_the_nip_prompt(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8111, first_name="Ujang")
    await consent(worker, parameter)

    for message in ("terima kasih", "/start"):
        turn = await worker.say(message)
        shown = texts(turn)
        assert "terdaftar sebagai <b>pekerja</b>" not in shown  # rendered, not raw HTML
        assert "Anda terdaftar sebagai pekerja" in shown, shown
        assert "NIP" not in shown and "Pilih bahasa" not in shown
        assert turn[-1].button_labels[:2] == ["🛡️ Status kepesertaan saya", "📄 Data saya"]
    status = texts(await worker.choose("🛡️ Status kepesertaan saya"))
    assert reference in status and "Dra. Siti Aminah" in status
    await worker.say("terima kasih")
    assert "Sebagai pekerja" in texts(await worker.choose("📄 Data saya"))

    # The sponsor still gets the sponsor's menu.
    menu = await sponsor.say("terima kasih")
    assert "📋 Status pendaftaran" in menu[-1].button_labels
    assert emulator.rejections == []


async def test_an_invitation_opened_mid_draft_keeps_the_draft_for_after(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    _, parameter, _ = await registered(emulator)
    asn = emulator.user(8112, first_name="Euis", phone_number="+6281311112222")
    await sign_up(asn, nip=OTHER_NIP, name="Euis Rahmawati")
    await choose_job(asn)
    assert "Ketik NIK" in texts(await asn.say("Asep Sunandar"))

    asked = await open_link(asn, parameter)
    assert "sedang mengisi" in asked and "Buka undangan sekarang" in asked
    assert asn.messages[-1].button_labels == ["📨 Buka undangan", "▶️ Lanjutkan"]
    opened = texts(await asn.choose("📨 Buka undangan"))
    assert "Halo, Ujang Suryana" in opened
    await asn.say("05-01-1990")
    done = texts(await asn.choose("✅ Setuju"))
    assert "Persetujuan Anda tercatat" in done and "belum selesai" in done
    assert "Ketik NIK Asep Sunandar" in texts(await asn.choose("▶️ Lanjutkan"))

    # Both an ASN and now a worker: the ASN's menu.
    await asn.say("/batal")
    menu = await asn.say("terima kasih")
    assert "📝 Daftarkan pekerja" in menu[-1].button_labels
    assert emulator.rejections == []
