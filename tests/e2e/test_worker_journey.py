"""Issue 3 end to end: the worker's invitation, their decision, coverage activation, and every
person's data rights, through the emulator with the real aiogram bot."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.service import qr_png
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.clock import MovableClock
from tests.e2e.harness import (
    NOW,
    VALID_NIK,
    BotUnderTest,
    register_worker,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)

ADMIN = 9001
LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")


@pytest.fixture
def clock() -> MovableClock:
    """The bot's clock, moved by the test (links expire after 14 days)."""
    return MovableClock(NOW)


@pytest.fixture
async def bot(
    emulator: BotApiEmulator, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(ADMIN))
    running = await BotUnderTest(settings, clock=clock, emulator=emulator).start()
    yield running
    await running.stop()


async def registered(emulator: BotApiEmulator, user_id: int = 8001) -> tuple[FakeUser, str, str]:
    """A sponsor who saved a worker; returns the sponsor, the deep-link start parameter, the
    reference."""
    sponsor = emulator.user(user_id, first_name="Siti", phone_number="+6281234567890")
    await sign_up(sponsor)
    await register_worker(sponsor)
    turn = await sponsor.choose("💾 Simpan", min_count=3)
    shown = texts(turn)
    reference = re.search(r"PR-[2-9A-Z]{6}", shown)
    link = LINK.search(shown)
    assert reference and link, shown
    return sponsor, link.group(1), reference.group(0)


async def open_link(worker: FakeUser, parameter: str) -> str:
    mark = worker.mark()
    await worker.send_command("start", parameter)
    return texts(await worker.replies_since(mark))


async def consent(worker: FakeUser, parameter: str) -> None:
    assert "Dra. Siti Aminah" in await open_link(worker, parameter)
    review = texts(await worker.say("05-01-1990"))
    assert "Pemberitahuan privasi" in review
    assert "Terima kasih" in texts(await worker.choose("✅ Setuju"))


async def test_sponsor_gets_a_link_a_qr_code_and_a_message_to_forward(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    sponsor, parameter, reference = await registered(emulator)
    assert len(parameter) <= 64
    photo = next(m for m in sponsor.messages if m.photo is not None)
    link = f"https://t.me/emulated_test_bot?start={parameter}"
    assert photo.photo == qr_png(link)  # the QR code encodes exactly the link
    assert reference in (photo.text or "")
    forward = sponsor.messages[-1].text or ""
    assert forward.startswith("Halo Ujang Suryana") and link in forward
    assert "Mohon konfirmasi lewat Telegram" in forward
    assert emulator.rejections == []


async def test_worker_confirms_and_both_see_it(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8101, first_name="Ujang")
    opened = await open_link(worker, parameter)
    assert "Dinas Kesehatan" in opened and "16.800" in opened and "Rp42.000.000" in opened
    verify = await worker.say("05-01-1990")
    assert any(m.event == "deleted" for m in verify)  # the birth date does not stay in the chat
    review = texts(verify)
    assert "3205********0001" in review and VALID_NIK not in review
    mark = sponsor.mark()
    assert "Persetujuan Anda tercatat" in texts(await worker.choose("✅ Setuju"))
    # min_count=0: the worker's turn ended only once the notification it wrote was sent.
    told = texts(await sponsor.replies_since(mark, min_count=0))
    assert "sudah mengonfirmasi" in told and reference in told

    assert "dikonfirmasi pekerja" in texts(await sponsor.say("/status"))
    worker_status = texts(await worker.say("/status"))
    assert reference in worker_status and "Dra. Siti Aminah" in worker_status
    assert "sudah dipakai" in await open_link(emulator.user(8102), parameter)
    assert emulator.rejections == []


async def test_a_stranger_opening_the_link_first_does_not_lock_the_worker_out(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    """Issue 6, item 10: the link reaches someone else first (a forwarded chat, a shared phone);
    they open it and stop at the identity check. The worker opens it after them and agrees."""
    sponsor, parameter, _reference = await registered(emulator)
    stranger = emulator.user(8150, first_name="Orang lain")
    assert "Dinas Kesehatan" in await open_link(stranger, parameter)
    worker = emulator.user(8151, first_name="Ujang")
    assert "Dinas Kesehatan" in await open_link(worker, parameter)
    await worker.say("05-01-1990")
    assert "Persetujuan Anda tercatat" in texts(await worker.choose("✅ Setuju"))
    # Decided and bound to the worker: the stranger can no longer use it.
    assert "sudah dipakai" in await open_link(stranger, parameter)
    assert "dikonfirmasi pekerja" in texts(await sponsor.say("/status"))
    assert emulator.rejections == []


async def test_worker_declines_and_their_data_are_erased(
    emulator: BotApiEmulator, bot: BotUnderTest, tmp_path: Path
) -> None:
    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8201)
    await open_link(worker, parameter)
    await worker.say("0001")
    assert "Yakin menolak" in texts(await worker.choose("❌ Tidak"))
    mark = sponsor.mark()
    assert "data Anda sudah dihapus" in texts(await worker.choose("❌ Ya, saya menolak"))
    assert "menolak" in texts(await sponsor.replies_since(mark))
    assert bot.repository.reveal_nik(reference) is None
    await bot.idle()
    stored = database_bytes(tmp_path)
    assert VALID_NIK.encode() not in stored and b"Ujang Suryana" not in stored
    with sqlite3.connect(tmp_path / "peduli.sqlite3") as database:
        kinds = database.execute("select subject, action from consents order by id").fetchall()
    assert ("worker", "declined") in kinds and ("sponsor", "given") in kinds


async def test_three_failed_verifications_lock_the_link_and_tell_the_sponsor(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    sponsor, parameter, _ = await registered(emulator)
    worker = emulator.user(8301)
    await open_link(worker, parameter)
    assert "Sisa percobaan: 2" in texts(await worker.say("01-01-1991"))
    assert "Sisa percobaan: 1" in texts(await worker.say("9999"))
    mark = sponsor.mark()
    assert "dikunci" in texts(await worker.say("02-02-1992"))
    assert "dikunci" in texts(await sponsor.replies_since(mark))
    assert "dikunci" in await open_link(worker, parameter)


async def test_expired_unknown_and_own_links(
    emulator: BotApiEmulator, bot: BotUnderTest, clock: MovableClock
) -> None:
    sponsor, parameter, _ = await registered(emulator)
    assert "tautan untuk pekerja yang Anda daftarkan" in await open_link(sponsor, parameter)
    assert "tidak dikenal" in await open_link(emulator.user(8401), "w_" + "x" * 32)
    clock.now = NOW + timedelta(days=15)
    assert "kedaluwarsa" in await open_link(emulator.user(8402), parameter)


async def test_worker_asks_for_a_correction_and_an_admin_resolves_it(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say("/start")
    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8501)
    await open_link(worker, parameter)
    await worker.say("0001")
    await worker.choose("✏️ Ada yang salah")
    marks = sponsor.mark(), admin.mark()
    assert "3 x 24 jam" in texts(await worker.say("Nama saya Ujang Suryana Putra"))
    assert "permintaan koreksi" in texts(await sponsor.replies_since(marks[0]))
    assert "permintaan baru di antrian" in texts(await admin.replies_since(marks[1]))

    queue = await admin.say("/antrian")
    shown = texts(queue)
    assert "Ujang Suryana Putra" in shown and "sisa 72 jam" in shown and reference in shown
    assert "Perintah /antrian tidak dikenal" in texts(await sponsor.say("/antrian"))
    done = texts(await admin.choose("✅ Selesai #1"))
    assert "ditandai selesai" in done and "Tidak ada permintaan" in done


async def test_coverage_import_twice_confirms_once(
    emulator: BotApiEmulator, bot: BotUnderTest, tmp_path: Path
) -> None:
    from bot.cli.coverage import main as coverage_main

    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8601, first_name="Ujang")
    await consent(worker, parameter)
    table = tmp_path / "bpjs.csv"
    # Cover that starts after the import (the import's clock is the real one): told as
    # registered, covered from that day, never as "kini terlindungi" (tests/unit/test_told.py
    # has the started case).
    start = date.today() + timedelta(days=40)
    table.write_text(f"reference,kpj,start_date\n{reference},23012345678,{start.isoformat()}\n")
    marks = sponsor.mark(), worker.mark()
    env = {"DATABASE_URL": bot.settings.database_url, "DATA_KEY": bot.settings.data_key}
    assert await asyncio.to_thread(run_import, coverage_main, table, env) == 0
    bot.built.service.outbox_ready.set()  # as the 5-second poll would
    to_sponsor = texts(await sponsor.replies_since(marks[0]))
    to_worker = texts(await worker.replies_since(marks[1]))
    assert "23012345678" in to_sponsor and f"{start.day} " in to_sponsor
    assert str(start.year) in to_sponsor and "Perlindungan mulai berlaku" in to_sponsor
    assert "Cara klaim" in to_sponsor and "Rp42.000.000" in to_sponsor
    assert "terdaftar di BPJS Ketenagakerjaan" in to_worker and "Cara klaim" in to_worker
    assert "terlindungi" not in to_worker and "Teruskan pesan ini ke keluarga Anda" in to_worker

    marks = sponsor.mark(), worker.mark()
    assert await asyncio.to_thread(run_import, coverage_main, table, env) == 0
    bot.built.service.outbox_ready.set()
    assert await sponsor.replies_since(marks[0], min_count=0) == []
    assert await worker.replies_since(marks[1], min_count=0) == []
    assert "aktif" in texts(await sponsor.say("/status"))


def database_bytes(folder: Path) -> bytes:
    """The SQLite database with its WAL, as bytes: what a thief of the disk would read."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("peduli.sqlite3*")))


def run_import(main: Any, table: Path, env: dict[str, str | None]) -> int:
    import os

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v})
    try:
        return int(main(["import", str(table)]))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_admin_activates_from_the_chat(emulator: BotApiEmulator, bot: BotUnderTest) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    sponsor, parameter, reference = await registered(emulator)
    await consent(emulator.user(8701), parameter)
    assert "Format" in texts(await admin.say("/aktifkan " + reference))
    mark = sponsor.mark()
    activated = texts(await admin.say(f"/aktifkan {reference} 23012345678 2026-12-01"))
    assert "diaktifkan" in activated
    assert "23012345678" in texts(await sponsor.replies_since(mark))


async def test_rights_personal_data_in_person_and_withdrawals(
    emulator: BotApiEmulator, bot: BotUnderTest, tmp_path: Path
) -> None:
    sponsor, _, reference = await registered(emulator)
    data = texts(await sponsor.say("/data_saya"))
    assert "1985***********001" in data and "3205********0001" in data
    assert VALID_NIK not in data and "198503152010011001" not in data
    assert "potong gaji disetujui" in data

    # A worker without Telegram: the sponsor records the consent given in person.
    await sponsor.say("/status")
    assert "Saya menyatakan" in texts(
        await sponsor.choose(f"🤝 {reference}: pekerja setuju langsung")
    )
    assert "tercatat" in texts(await sponsor.choose("✅ Ya, pekerja sudah setuju"))
    assert "persetujuan pekerja dicatat langsung" in texts(await sponsor.say("/status"))

    # The sponsor stops paying from next month.
    await sponsor.say("/status")
    await sponsor.choose(f"⏹️ {reference}: berhenti menanggung")
    stopped = texts(await sponsor.choose("⏹️ Ya, berhenti menanggung"))
    assert "Desember 2026" in stopped
    assert "berhenti mulai Desember 2026" in texts(await sponsor.say("/status"))
    consents = texts(await sponsor.say("/data_saya"))
    assert "potong gaji ditarik" in consents and "langsung, dicatat ASN" in consents


async def test_worker_sees_their_data_and_withdraws(
    emulator: BotApiEmulator, bot: BotUnderTest, tmp_path: Path
) -> None:
    sponsor, parameter, reference = await registered(emulator)
    worker = emulator.user(8801, first_name="Ujang")
    await consent(worker, parameter)
    data = texts(await worker.say("/data_saya"))
    assert "Sebagai pekerja" in data and "3205********0001" in data and VALID_NIK not in data
    await worker.say("/status")
    await worker.choose(f"⏹️ {reference}: tarik persetujuan")
    mark = sponsor.mark()
    assert "data Anda sudah dihapus" in texts(await worker.choose("⏹️ Ya, tarik persetujuan saya"))
    assert "menarik persetujuannya" in texts(await sponsor.replies_since(mark))
    assert bot.repository.reveal_nik(reference) is None
    stored = database_bytes(tmp_path)
    assert VALID_NIK.encode() not in stored
    assert "(dihapus)" in texts(await worker.say("/data_saya"))
    assert emulator.rejections == []


async def test_sponsor_makes_a_new_link_after_the_old_one_expired(
    emulator: BotApiEmulator, bot: BotUnderTest, clock: MovableClock
) -> None:
    sponsor, old, reference = await registered(emulator)
    clock.now = NOW + timedelta(days=15)
    worker = emulator.user(8901, first_name="Ujang")
    assert "kedaluwarsa" in await open_link(worker, old)
    await sponsor.say("/status")
    turn = await sponsor.choose(f"🔗 {reference}: buat tautan baru", min_count=3)
    shown = texts(turn)
    assert "Tautan baru" in shown and "Halo Ujang Suryana" in shown
    new = LINK.search(shown)
    assert new and new.group(1) != old
    assert sum(1 for m in turn if m.photo is not None) == 1
    await consent(worker, new.group(1))
    assert "dikonfirmasi pekerja" in texts(await sponsor.say("/status"))
