"""Issue 12 end to end, on each transport: the sponsor says who the worker is to them, then the
worker's job from a searchable list (or in their own words), edits the job from the summary; the
worker reads the job in the data they agree to and in /data_saya."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    BotUnderTest,
    register_worker_rest,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)

LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    running = await BotUnderTest(settings, emulator=emulator).start()
    yield running
    await running.stop()


async def test_relationship_job_in_own_words_then_edited_and_read_by_the_worker(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    sponsor = emulator.user(8801, first_name="Siti", phone_number="+6281234567890")
    await sign_up(sponsor)  # ends at "Apa hubungan Anda dengan pekerja …?"
    assert sponsor.last_message is not None
    assert sponsor.last_message.button_labels[:4] == [
        "Bekerja di rumah tangga saya",
        "Tetangga",
        "Keluarga / kerabat",
        "Tidak ada hubungan khusus",
    ]
    asked = texts(await sponsor.choose("Tetangga"))
    assert "Apa pekerjaan" in asked and "Halaman 1 dari 2" in asked
    # Not in the list: found by typing, then described in the sponsor's words.
    assert "Hasil pencarian" in texts(await sponsor.say("lain"))
    assert sponsor.last_message is not None
    assert "Lainnya (tulis sendiri)" in sponsor.last_message.button_labels
    assert "Tulis pekerjaan" in texts(await sponsor.choose("Lainnya (tulis sendiri)"))
    assert "Ketik nama lengkap pekerja" in texts(await sponsor.say("Tukang becak"))
    summary = await register_worker_rest(sponsor)
    assert "Pekerjaan: Tukang becak" in summary and "Hubungan: Tetangga" in summary

    # From the summary: another job, found by a word of its name; back at the summary.
    assert "Apa pekerjaan" in texts(await sponsor.choose("✏️ Pekerjaan"))
    await sponsor.say("ngaji")
    edited = texts(await sponsor.choose("Guru ngaji"))
    assert "Pekerjaan: Guru ngaji" in edited and "Tukang becak" not in edited
    assert "Hubungan: Tetangga" in edited

    saved = texts(await sponsor.choose("💾 Simpan", min_count=3))
    link = LINK.search(saved)
    assert link, saved

    worker = emulator.user(8802, first_name="Ujang")
    mark = worker.mark()
    await worker.send_command("start", link.group(1))
    await worker.replies_since(mark)
    notice = texts(await worker.say("05-01-1990"))
    assert "Pekerjaan: Guru ngaji" in notice and "Tetangga" not in notice
    await worker.choose("✅ Setuju")
    assert "Pekerjaan: Guru ngaji" in texts(await worker.say("/data_saya"))
    assert emulator.rejections == []
