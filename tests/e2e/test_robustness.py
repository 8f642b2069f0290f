"""What goes wrong in real life: repeated updates, double presses, races, bad input, rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    TOKEN,
    VALID_NIK,
    BotUnderTest,
    choose_job,
    register_worker,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)

OTHER_NIP = "197912082005011002"


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    running = await BotUnderTest(
        settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    yield running
    await running.stop()


async def test_same_update_twice_and_save_pressed_twice_store_one(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    user = emulator.user(6001, phone_number="+6281234567890")
    await sign_up(user)
    await register_worker(user)
    summary = user.last_message
    assert summary is not None
    save_data = dict(summary.buttons[-2])["💾 Simpan"]

    mark = user.mark()
    first = await user.press("💾 Simpan")
    await user.replies_since(mark)
    # Telegram redelivers the same update (a webhook retry), and the user presses Simpan again
    # on the same message (a second tap before the buttons disappeared).
    await emulator.redeliver(first["update_id"])
    second = await user.press_data(save_data, message_id=summary.message_id)
    answer = await user.wait_callback_answer(second)
    later = await user.replies_since(mark, min_count=0)

    assert texts(later).count("Tersimpan") == 1
    assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
    assert len(bot.repository.sponsorships_of(6001)) == 1
    assert emulator.rejections == []


async def test_two_asn_racing_for_one_nik_exactly_one_wins(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    first = emulator.user(6101, first_name="Asep", phone_number="+6281200000001")
    second = emulator.user(6102, first_name="Euis", phone_number="+6281200000002")
    await asyncio.gather(sign_up(first), sign_up(second, nip=OTHER_NIP, name="Euis Rahmawati"))
    await asyncio.gather(register_worker(first), register_worker(second))

    marks = first.mark(), second.mark()
    await asyncio.gather(first.press("💾 Simpan"), second.press("💾 Simpan"))
    replies = await asyncio.gather(
        first.replies_since(marks[0], min_count=1), second.replies_since(marks[1], min_count=1)
    )
    outcomes = sorted("Tersimpan" in texts(r) for r in replies)
    assert outcomes == [False, True]
    loser = replies[0] if "Tersimpan" not in texts(replies[0]) else replies[1]
    assert "sudah didaftarkan oleh ASN lain" in texts(loser)
    assert "Asep" not in texts(loser) and "Euis" not in texts(loser)
    assert "Ketik NIK" in texts(loser)  # asked for another NIK, not a dead end
    owners = [u for u in (6101, 6102) if bot.repository.sponsorships_of(u)]
    assert len(owners) == 1


async def test_bad_input_is_explained_and_stores_nothing(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    user = emulator.user(6201, phone_number="+6281234567890")
    await user.say("/start")
    await user.choose("🇮🇩 Bahasa Indonesia")
    mark = user.mark()
    await user.send_sticker()
    assert "tidak bisa membaca stiker" in texts(await user.replies_since(mark))
    assert "NIP harus 18 angka" in texts(await user.say("12345"))
    assert "Angka ke-15 NIP" in texts(await user.say("198503152010013001"))
    stuck = await user.say("hello")
    assert "Sepertinya ada kesulitan" in texts(stuck)
    assert stuck[-1].button_labels == ["🔁 Coba lagi", "❓ Bantuan", "✖️ Batal"]
    assert "NIP adalah Nomor Induk Pegawai" in texts(await user.choose("❓ Bantuan"))
    await user.say("198503152010011001")
    assert "jawab dengan menekan salah satu tombol" in texts(await user.say("ya"))
    await user.choose("✅ Ya, benar")
    assert "hanya boleh berisi huruf" in texts(await user.say("B0b 123"))
    await user.say("Budi Santoso")
    assert "Tidak ada yang cocok" in texts(await user.say("zzzzqq"))
    assert "Dinas Sosial" in (await user.say("sosial"))[-1].button_labels
    await user.choose("Dinas Sosial")
    mark = user.mark()
    await user.share_contact("+6281299998888", own=False)
    assert "kontak orang lain" in texts(await user.replies_since(mark))
    assert "nomor telepon rumah" in texts(await user.say("022-7654321"))
    assert "Dibatalkan" in texts(await user.say("/batal"))

    record = bot.repository.user_record(6201)
    assert record.sponsor is None and record.language == "id"
    assert bot.repository.sponsorships_of(6201) == []
    assert emulator.rejections == []


async def test_refusing_consent_saves_nothing_and_offers_a_way_out(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    user = emulator.user(6301, phone_number="+6281234567890")
    await sign_up(user)
    await choose_job(user)
    await user.say("Ujang Suryana")
    await user.say(VALID_NIK)
    await user.choose("✅ Ya, benar")
    await user.choose("⏭️ Lewati")
    await user.choose("🇮🇩 Bahasa Indonesia")
    await user.choose("Garut Kota")
    await user.choose("Kota Kulon")
    await user.choose("JKK + JKM — Rp16.800/bulan")
    await user.choose("Potong gaji lewat bendahara")
    refused = texts(await user.choose("❌ Tidak setuju"))
    assert "Tanpa persetujuan, pendaftaran tidak bisa disimpan" in refused
    assert "Bagaimana cara membayar" in texts(await user.choose("⬅️ Kembali"))
    assert bot.repository.sponsorships_of(6301) == []


async def test_rate_limits_are_waited_out_not_lost(tmp_path: Path) -> None:
    """Telegram's 1 message a second per chat, strictly: the bot waits retry_after and resends."""
    strict = BotApiEmulator(TOKEN, per_chat_rate=1.0, per_chat_burst=1)
    await strict.start()
    running = await BotUnderTest(
        settings_for(strict.base_url, sqlite_url(tmp_path), tmp_path), emulator=strict
    ).start()
    try:
        user = strict.user(6401, phone_number="+6281234567890")
        await user.say("/start")
        await user.choose("🇮🇩 Bahasa Indonesia")
        turn = await user.say("198503152010011001")
        assert "NIP ini menunjukkan" in texts(turn)
        limited = [r for r in strict.rejections if r.error_code == 429]
        assert limited, "the strict emulator should have refused a burst"
        sent = [c for c in strict.calls if c.method == "sendMessage" and c.ok]
        assert any("Ketik <b>NIP</b>" in c.params["text"] for c in sent)
    finally:
        await running.stop()
        await strict.stop()
