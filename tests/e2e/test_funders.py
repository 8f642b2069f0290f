"""Issue 12 end to end, on each transport: a village signs up without a NIP (its kecamatan and
desa, its officer and position), registers two workers paid from its budget (APBDes) under its
own statement, and a worker's invitation names the village; a company signs up too."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.e2e.harness import BotUnderTest, choose_job, settings_for, sqlite_url, texts

LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")
NO_NIP = "🏘️ Saya bukan ASN (tidak punya NIP)"


async def without_nip(user: FakeUser, funder: str) -> str:
    """/start, Indonesian, "Saya bukan ASN", the funder type: returns its first question."""
    await user.say("/start")
    started = await user.choose("🇮🇩 Bahasa Indonesia")
    assert NO_NIP in started[-1].button_labels  # under the NIP question
    asked = await user.choose(NO_NIP)
    assert "penanggung dari mana" in texts(asked)
    return texts(await user.choose(funder))


async def share_phone(user: FakeUser) -> str:
    assert user.reply_keyboard() == [["📱 Kirim nomor HP saya"]]
    mark = user.mark()
    await user.tap("📱 Kirim nomor HP saya")
    return texts(await user.replies_since(mark, min_count=3))


async def register_worker(user: FakeUser, nik: str, worker: str) -> str:
    """One worker paid from the village's budget; returns what the sponsor reads once saved."""
    assert "Ketik nama lengkap pekerja" in texts(await choose_job(user))
    assert "Ketik NIK" in texts(await user.say(worker))
    assert "menunjukkan" in texts(await user.say(nik))
    assert "nomor HP" in texts(await user.choose("✅ Ya, benar"))
    await user.choose("⏭️ Lewati")
    await user.choose("🇮🇩 Bahasa Indonesia")
    await user.say("garut kota")
    await user.choose("Garut Kota")
    await user.choose("Kota Kulon")
    payment = await user.choose("JKK + JKM — Rp16.800/bulan")
    labels = payment[-1].button_labels
    assert "Transfer dari APBDes" in labels and "Potong gaji lewat bendahara" not in labels
    consent = texts(await user.choose("Transfer dari APBDes"))
    assert "SURAT PERNYATAAN KESEDIAAN MEMBAYAR IURAN DARI APBDes" in consent
    assert "Pemerintah Desa Wanaraja" in consent and "Jabatan: Kepala Desa" in consent
    assert "NIP" not in consent and "Rp16.800 per bulan" in consent
    assert "Periksa data" in texts(await user.choose("✅ Setuju"))
    return texts(await user.choose("💾 Simpan", min_count=3))


async def test_a_village_sponsors_two_workers_and_a_company_signs_up(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        village = emulator.user(7501, first_name="Asep", phone_number="+6281234567891")
        assert "kecamatan" in await without_nip(village, "Pemerintah desa (APBDes)")
        await village.say("wanaraja")
        assert "Pilih desa Anda di Kecamatan Wanaraja" in texts(await village.choose("Wanaraja"))
        asked = texts(await village.choose("Wanaraja"))  # the desa, in the kecamatan's list
        assert "nama lengkap" in asked and "Pemerintah Desa Wanaraja" in asked
        assert "jabatan" in texts(await village.say("Asep Saepudin"))
        await village.say("Kepala Desa")
        done = await share_phone(village)
        assert "Anda terdaftar sebagai penanggung" in done and "sampai 100 pekerja" in done
        assert "Apa hubungan Anda dengan pekerja" in done

        first = await register_worker(village, "3205014501900001", "Ujang Suryana")
        assert "Tersimpan" in first
        # The message to forward names the village the officer signs for.
        assert "Saya, Asep Saepudin (Pemerintah Desa Wanaraja), mendaftarkan Anda" in first
        link = LINK.search(first)
        assert link, first
        assert "Apa hubungan" in texts(await village.say("/pekerja"))  # a second one
        second = await register_worker(village, "3205014501900002", "Euis Komariah")
        assert "Tersimpan" in second

        status = texts(await village.say("/status"))
        assert "Penanggung: Pemerintah Desa Wanaraja" in status and "2 dari 100" in status

        data = texts(await village.say("/data_saya"))
        assert "Sebagai penanggung" in data and "Jabatan: Kepala Desa" in data
        assert "Lembaga: Pemerintah Desa Wanaraja" in data and "NIP" not in data
        assert "pembayaran iuran disetujui" in data and "potong gaji" not in data

        worker = emulator.user(7502, first_name="Ujang")
        mark = worker.mark()
        await worker.send_command("start", link.group(1))
        invited = texts(await worker.replies_since(mark))
        assert "Asep Saepudin dari Pemerintah Desa Wanaraja" in invited

        company = emulator.user(7503, first_name="Rina", phone_number="+6281234567892")
        assert "nama perusahaan" in await without_nip(company, "Perusahaan (CSR)")
        assert "PT Sumber Rejeki Garut" in texts(await company.say("PT Sumber Rejeki Garut"))
        await company.say("Rina Marlina")
        await company.say("Manajer CSR")
        signed_up = await share_phone(company)
        assert "Perusahaan (CSR)" in signed_up and "sampai 500 pekerja" in signed_up
    finally:
        await bot.stop()

    with sqlite3.connect(tmp_path / "peduli.sqlite3") as db:
        sponsors = db.execute(
            "SELECT user_id, funder_type, nip_sealed, organisation_name, organisation_code,"
            " position, agency_code FROM sponsors ORDER BY user_id"
        ).fetchall()
        sponsorships = db.execute("SELECT payment_method FROM sponsorships ORDER BY id").fetchall()
        consents = db.execute(
            "SELECT text_key, text_version FROM consents WHERE subject = 'sponsor'"
        ).fetchall()
    assert sponsors == [
        (7501, "desa", None, "Wanaraja", "32.05.03.2001", "Kepala Desa", "dpmd"),
        (7503, "perusahaan", None, "PT Sumber Rejeki Garut", None, "Manajer CSR", "disnakertrans"),
    ]
    assert sponsorships == [("village_budget",), ("village_budget",)]
    assert consents == [("funder.consent_village_budget", "2026-12-1")] * 2
    assert emulator.rejections == []
