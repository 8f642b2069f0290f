"""Issue 9, reminders end to end with the real aiogram and the emulator: a sponsorship left
part-way is tracked (unfinished_flows, written by the service's turn), reminded after a day, and
the reminder's button brings the person back to the very step they left, asked again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.reminders import Zones
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


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


ADMIN = 9001


@pytest.fixture
async def bot(
    emulator: BotApiEmulator, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(ADMIN))
    running = await BotUnderTest(settings, clock=clock, emulator=emulator).start()
    yield running
    await running.stop()


async def test_the_reminder_button_resumes_at_the_step_left(
    emulator: BotApiEmulator, bot: BotUnderTest, clock: MovableClock
) -> None:
    asn = emulator.user(8201, first_name="Siti", phone_number="+6281234567890")
    await sign_up(asn)
    await choose_job(asn)
    assert "Ketik NIK" in texts(await asn.say("Asep Sunandar"))
    await bot.idle()

    assert bot.built is not None
    service = bot.built.service
    store = service.repository.reminders(
        Zones.of(service.programme.catalog, service.programme.timezone)
    )
    clock.advance(hours=23)
    assert await asyncio.to_thread(store.run_round, clock()) == []  # not a day yet
    clock.advance(hours=1)
    [key] = await asyncio.to_thread(store.run_round, clock())
    assert key.startswith("reminder:unfinished:8201:sponsorship:") and key.endswith(":day1")
    # The bot's delivery engine sends it (through the reminder gate, with its buttons).
    service.outbox_ready.set()
    await emulator.wait_until(
        lambda: "belum selesai" in (asn.messages[-1].text or ""), 30, what="the reminder"
    )
    await bot.idle()
    assert sum("belum selesai" in (m.text or "") for m in asn.messages) == 1  # once
    assert asn.messages[-1].button_labels == ["▶️ Lanjutkan"]
    resumed = texts(await asn.choose("▶️ Lanjutkan"))
    assert "Ketik NIK Asep Sunandar" in resumed
    # Answering goes on from there.
    assert "menunjukkan" in texts(await asn.say("3205014501900001"))

    # Finishing or cancelling the draft removes it: no reminder on day 3.
    await asn.say("/batal")
    await bot.idle()
    clock.advance(days=3)
    assert await asyncio.to_thread(store.run_round, clock()) == []
    assert emulator.rejections == []


async def test_superadmin_sets_the_campaign_and_sees_upcoming_reminders(
    emulator: BotApiEmulator, bot: BotUnderTest, clock: MovableClock
) -> None:
    asn = emulator.user(8202, first_name="Siti", phone_number="+6281234567890")
    await sign_up(asn)
    await asn.say("/batal")  # signed up, no worker: the campaign reminds them
    # Not staff: the staff commands do not exist for them.
    assert "Perintah /kampanye tidak dikenal" in texts(await asn.say("/kampanye 2026-12-31 7,1"))
    assert "Perintah /pengingat tidak dikenal" in texts(await asn.say("/pengingat"))

    admin = emulator.user(ADMIN, first_name="Admin")
    assert "Belum ada kampanye" in texts(await admin.say("/kampanye"))
    assert "sudah lewat" in texts(await admin.say("/kampanye 2020-01-01 7,1"))
    assert "tidak terbaca" in texts(await admin.say("/kampanye 2026-11-30 7,7"))
    asked = texts(await admin.say("/kampanye 2026-11-30 7,1"))
    assert "30 November 2026" in asked and "Simpan" in asked
    assert "tidak diubah" in texts(await admin.choose("✖️ Batal"))
    await admin.say("/kampanye 2026-11-30 7,1")
    saved = texts(await admin.choose("✅ Simpan", min_count=2))
    assert "Kampanye disimpan" in saved, saved
    assert "Kampanye berlaku: tenggat 30 November 2026, pengingat 7,1" in saved, saved

    # Deadline 30 Nov, 7 days before: 23 Nov at 07:00 local. Now: 21 Nov.
    shown = texts(await admin.say("/pengingat 3"))
    assert "23 November 2026 — tenggat kampanye: 1" in shown, shown
    assert "tidak terbaca" not in shown

    # The ASN stops optional reminders: the report no longer counts them.
    assert "Pengingat tidak akan dikirim lagi" in texts(await asn.say("/berhenti_pengingat"))
    assert "Tidak ada pengingat" in texts(await admin.say("/pengingat 3"))
    assert "dinyalakan kembali" in texts(await asn.say("/pengingat_aktif"))
    assert "tenggat kampanye: 1" in texts(await admin.say("/pengingat 3"))
    assert emulator.rejections == []
