"""Issue 12, one deployment, many regencies, end to end through the real framework and the
emulator: the sample deployment (Garut, Kendal in WIB, Majene in WITA, bot/data/
regencies_example.toml). The agency an ASN picks decides the regency: its kecamatan and desa, its
programmes, its time zone (times shown, the reminders' quiet hours); statistics per regency."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.settings import DEFAULT_PROGRAMME_FILE
from bot.storage.reminders import Zones
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.clock import NOW, MovableClock
from tests.e2e.harness import VALID_NIP, BotUnderTest, choose_job, settings_for, sqlite_url, texts

DEPLOYMENT = DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml"
ADMIN, OPERATOR = 9001, 9101
KENDAL_NIK = "3324124501900001"  # issued in Weleri, Kendal
MAJENE_NIK = "7605014501900001"  # issued in Banggae, Majene
OTHER_NIP = "199001202015032002"
LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


@pytest.fixture
async def bot(
    emulator: BotApiEmulator, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(
        emulator.base_url,
        sqlite_url(tmp_path),
        tmp_path,
        admin_ids=str(ADMIN),
        programme_file=DEPLOYMENT,
    )
    running = await BotUnderTest(settings, clock=clock, emulator=emulator).start()
    yield running
    await running.stop()


async def sign_up(
    user: FakeUser,
    search: str,
    agency: str,
    nip: str = VALID_NIP,
    *,
    offered: frozenset[str] = frozenset(),
) -> str:
    """Sign-up as far as the first question about the worker; returns what the ASN read last."""
    await user.say("/start")
    await user.choose("🇮🇩 Bahasa Indonesia")
    await user.say(nip)
    await user.choose("✅ Ya, benar")
    assert "Pilih instansi" in texts(await user.say("Dra. Siti Aminah"))
    found = await user.say(search)
    assert {agency} | offered <= set(found[-1].button_labels), found[-1].button_labels
    await user.choose(agency)
    mark = user.mark()
    await user.tap("📱 Kirim nomor HP saya")
    done = texts(await user.replies_since(mark, min_count=3))
    assert "Anda terdaftar sebagai ASN" in done
    return done


async def register_worker(
    user: FakeUser, nik: str, regency: str, district: str, village: str
) -> list[str]:
    """From the relationship and the job to the consent; returns the programme buttons offered."""
    assert "Ketik nama lengkap pekerja" in texts(await choose_job(user))
    await user.say("Sri Wahyuni")
    assert "menunjukkan" in texts(await user.say(nik))
    await user.choose("✅ Ya, benar")
    assert "Dalam bahasa apa" in texts(await user.choose("⏭️ Lewati"))
    asked = texts(await user.choose("🇮🇩 Bahasa Indonesia"))
    assert f"kecamatan mana Sri Wahyuni tinggal ({regency})" in asked, asked
    await user.say(district.lower())
    assert "desa/kelurahan" in texts(await user.choose(district))
    turn = await user.choose(village)
    assert "program" in texts(turn)
    return turn[-1].button_labels


async def test_kendal_and_majene_asn_join_their_own_regency(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    kendal = emulator.user(8301, first_name="Siti", phone_number="+6281234567890")
    # Three regencies have a Dinas Kesehatan: the regency names which.
    garut, majene_dinkes = "Dinas Kesehatan — Kabupaten Garut", "Dinas Kesehatan — Kabupaten Majene"
    await sign_up(
        kendal,
        "kesehatan",
        "Dinas Kesehatan — Kabupaten Kendal",
        offered=frozenset({garut, majene_dinkes}),
    )
    offered = await register_worker(kendal, KENDAL_NIK, "Kabupaten Kendal", "Weleri", "Sumberagung")
    assert offered[:2] == ["JKK + JKM — Rp16.800/bulan", "JKK + JKM + JHT — Rp36.800/bulan"]
    await kendal.choose("JKK + JKM — Rp16.800/bulan")
    consent = texts(await kendal.choose("Potong gaji lewat bendahara"))
    assert "Rp16.800 per bulan" in consent and "Desember 2026" in consent
    summary = texts(await kendal.choose("✅ Setuju"))
    assert "Sumberagung" in summary and "Weleri" in summary
    assert "Tersimpan" in texts(await kendal.choose("💾 Simpan"))

    majene = emulator.user(8302, first_name="Andi", phone_number="+6281234567891")
    await sign_up(majene, "kesehatan majene", "Dinas Kesehatan — Kabupaten Majene", nip=OTHER_NIP)
    offered = await register_worker(majene, MAJENE_NIK, "Kabupaten Majene", "Banggae", "Totoli")
    # Majene's programme file offers JKK + JKM only.
    assert [o for o in offered if o.startswith("JKK")] == ["JKK + JKM — Rp16.800/bulan"]
    await majene.choose("JKK + JKM — Rp16.800/bulan")
    await majene.choose("Potong gaji lewat bendahara")
    summary = texts(await majene.choose("✅ Setuju"))
    assert "Totoli" in summary and "Banggae" in summary
    saved = texts(await majene.choose("💾 Simpan", min_count=3))
    assert "Tersimpan" in saved
    link = LINK.search(saved)
    assert link, saved

    (row,) = bot.repository.sponsorships_of(8302)
    assert row.status == "waiting_worker" and row.monthly_amount == 16800

    # The same moment (10:00 WIB) is shown in each ASN's own time: 11:00 in Majene (WITA).
    assert "21 November 2026 pukul 10:00" in texts(await kendal.say("/data_saya"))
    majene_data = texts(await majene.say("/data_saya"))
    assert "21 November 2026 pukul 11:00" in majene_data, majene_data

    # The worker agrees to the notice of their sponsor's regency (Majene's own version).
    worker = emulator.user(8303, first_name="Sri")
    mark = worker.mark()
    await worker.send_command("start", link.group(1))
    assert "Dinas Kesehatan" in texts(await worker.replies_since(mark))
    assert "Pemberitahuan privasi" in texts(await worker.say("05-01-1990"))
    assert "Persetujuan Anda tercatat" in texts(await worker.choose("✅ Setuju"))
    assert "versi 2026-12-1.mjn" in texts(await worker.say("/data_saya"))
    assert emulator.rejections == []


async def test_statistics_per_regency(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    kendal = emulator.user(8311, first_name="Siti", phone_number="+6281234567890")
    await sign_up(kendal, "kesehatan kendal", "Dinas Kesehatan — Kabupaten Kendal")
    await kendal.say("/batal")
    majene = emulator.user(8312, first_name="Andi", phone_number="+6281234567891")
    await sign_up(
        majene,
        "pendidikan majene",
        "Dinas Pendidikan Pemuda dan Olahraga — Kabupaten Majene",
        nip=OTHER_NIP,
    )
    await majene.say("/batal")
    admin = emulator.user(ADMIN, first_name="Admin")
    everyone = texts(await admin.say("/statistik", min_count=2))
    assert "2 dari 113 dinas" in everyone  # 44 Garut + 36 Kendal + 33 Majene
    shown = texts(await admin.say("/statistik 76.05", min_count=2))
    assert "Kabupaten Majene (33 instansi" in shown and "1 dari 33 dinas" in shown, shown
    assert "Dinas Pendidikan Pemuda dan Olahraga" in shown and "Kendal" not in shown
    shown = texts(await admin.say("/statistik 33.24", min_count=2))
    assert "1 dari 36 dinas" in shown and "Dinas Kesehatan" in shown

    # Kendal's operator, given the regency's code: all Kendal's agencies, nothing of Majene.
    added = texts(await admin.say(f"/admin tambah operator 33.24 {OPERATOR}", min_count=2))
    assert "Peran petugas disimpan" in added and "Dinas Kesehatan (kdl-dinkes)" in added
    operator = emulator.user(OPERATOR, first_name="Operator")
    mine = texts(await operator.say("/statistik", min_count=2))
    assert "36 instansi dalam wewenang Anda" in mine and "1 dari 36 dinas" in mine, mine
    mine = texts(await operator.say("/statistik 33.24", min_count=2))
    assert "Kabupaten Kendal (36 instansi" in mine and "1 dari 36 dinas" in mine, mine
    refused = texts(await operator.say("/statistik 76.05"))
    assert refused == "⛔ Instansi itu tidak ada atau di luar wewenang Anda."
    assert emulator.rejections == []


async def test_reminders_keep_each_regency_quiet_hours(
    emulator: BotApiEmulator, bot: BotUnderTest, clock: MovableClock
) -> None:
    """Drafts left at 19:30 WIB (20:30 WITA): a day later Kendal's reminder goes at once, Majene's
    waits for 07:00 WITA (06:00 WIB), out of Majene's quiet hours (20:00-07:00 local)."""
    clock.advance(hours=9, minutes=30)
    kendal = emulator.user(8321, first_name="Siti", phone_number="+6281234567890")
    await sign_up(kendal, "kesehatan kendal", "Dinas Kesehatan — Kabupaten Kendal")
    await choose_job(kendal)
    majene = emulator.user(8322, first_name="Andi", phone_number="+6281234567891")
    await sign_up(majene, "kesehatan majene", "Dinas Kesehatan — Kabupaten Majene", nip=OTHER_NIP)
    await choose_job(majene)
    await bot.idle()

    assert bot.built is not None
    service = bot.built.service
    store = service.repository.reminders(
        Zones.of(service.programme.catalog, service.programme.timezone)
    )
    clock.advance(hours=24)
    due = await asyncio.to_thread(store.run_round, clock())
    assert [key.split(":")[2] for key in due] == ["8321"], due
    clock.advance(hours=10, minutes=29)  # 05:59 WIB, 06:59 WITA
    assert await asyncio.to_thread(store.run_round, clock()) == []
    clock.advance(minutes=1)
    due = await asyncio.to_thread(store.run_round, clock())
    assert [key.split(":")[2] for key in due] == ["8322"], due
    assert re.fullmatch(r"reminder:unfinished:8322:sponsorship:.*:day1", due[0])


async def test_a_worker_living_outside_the_sponsors_regency(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    """A Garut ASN (the default single-regency deployment) covers a relative in Kendal: province,
    regency, kecamatan and desa from the Kemendagri regions, each found by typing."""
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        asn = emulator.user(8331, first_name="Siti", phone_number="+6281234567890")
        await sign_up(asn, "kesehatan", "Dinas Kesehatan")
        await choose_job(asn)
        await asn.say("Sri Wahyuni")
        await asn.say(KENDAL_NIK)
        await asn.choose("✅ Ya, benar")
        await asn.choose("⏭️ Lewati")
        district = await asn.choose("🇮🇩 Bahasa Indonesia")
        assert district[-1].button_labels[0] == "🗺️ Tinggal di luar Kabupaten Garut"
        asked = texts(await asn.choose("🗺️ Tinggal di luar Kabupaten Garut"))
        assert "provinsi" in asked
        assert "Jawa Tengah" in (await asn.say("jawa tengah"))[-1].button_labels
        assert "kabupaten/kota" in texts(await asn.choose("Jawa Tengah"))
        await asn.say("kendal")
        asked = texts(await asn.choose("Kabupaten Kendal"))
        assert "kecamatan mana Sri Wahyuni tinggal (Kabupaten Kendal)" in asked, asked
        await asn.say("weleri")
        assert "Kecamatan Weleri" in texts(await asn.choose("Weleri"))
        await asn.choose("Sidomukti")
        await asn.choose("JKK + JKM — Rp16.800/bulan")
        await asn.choose("Potong gaji lewat bendahara")
        summary = texts(await asn.choose("✅ Setuju"))
        assert "Sidomukti" in summary and "Weleri, Kabupaten Kendal" in summary, summary
        assert "Tersimpan" in texts(await asn.choose("💾 Simpan"))
        (row,) = bot.repository.sponsorships_of(8331)
        assert row.status == "waiting_worker"
        assert bot.built is not None
        with bot.built.engine.connect() as connection:
            stored = connection.execute(
                sa.text("SELECT district_code, village_code, village_name FROM sponsorships")
            ).one()
        assert tuple(stored) == ("33.24.12", "33.24.12.2001", "Sidomukti")
        assert emulator.rejections == []
    finally:
        await bot.stop()
