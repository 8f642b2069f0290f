"""The printable copy of the salary-deduction statement: once the sponsorship is saved, the ASN
gets a PDF of the very statement they agreed to, for their treasurer. Its fingerprint is the
consent record's text hash; the NIK in it is masked; no font is embedded (nothing is fetched)."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    VALID_NIK,
    BotUnderTest,
    choose_job,
    register_worker,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)
from tests.e2e.test_consent_record import salary_consent_hashes

STREAM = re.compile(rb"/Length (\d+)[^>]*>>\s*stream\r?\n")


SHOWN = re.compile(r"\(((?:\\.|[^\\)])*)\) Tj")


def pdf_text(data: bytes) -> str:
    """The text the PDF shows (strings in deflated content streams, each read by its /Length:
    compressed bytes may end in a line break of their own), its lines joined by spaces."""
    streams = []
    for found in STREAM.finditer(data):
        raw = data[found.end() : found.end() + int(found.group(1))]
        try:
            streams.append(zlib.decompress(raw).decode("latin-1"))
        except zlib.error:
            streams.append(raw.decode("latin-1"))
    shown = SHOWN.findall("\n".join(streams))
    return " ".join(re.sub(r"\\(.)", r"\1", line) for line in shown)


async def test_the_asn_gets_a_printable_copy_of_the_statement_they_agreed_to(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        user = emulator.user(7401, first_name="Siti", phone_number="+6281234567890")
        await sign_up(user)
        await register_worker(user)
        saved = await user.choose("💾 Simpan", min_count=4)
        assert "Tersimpan" in "\n".join(m.text or "" for m in saved)
        (copy,) = user.documents
    finally:
        await bot.stop()

    assert copy.filename.startswith("pernyataan-potong-gaji-PR-")
    assert copy.filename.endswith(".pdf")
    data = copy.data
    assert data is not None and data.startswith(b"%PDF-")
    assert b"/FontFile" not in data  # a core font: nothing embedded, nothing fetched
    text = pdf_text(data)
    assert "SURAT PERNYATAAN KESEDIAAN PEMOTONGAN GAJI" in text
    assert "3205********0001" in text and VALID_NIK not in text
    assert "Ujang Suryana" in text and "bendahara" in text
    (stored,) = salary_consent_hashes(tmp_path / "peduli.sqlite3")
    assert stored in text  # the consent record's hash of the statement as shown
    assert emulator.rejections == []


async def test_paying_directly_sends_no_statement_for_the_treasurer(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        user = emulator.user(7402, first_name="Budi", phone_number="+6281234567891")
        await sign_up(user, name="Budi Santoso")
        await choose_job(user)
        await user.say("Ujang Suryana")
        await user.say(VALID_NIK)
        await user.choose("✅ Ya, benar")
        await user.choose("⏭️ Lewati")
        await user.choose("🇮🇩 Bahasa Indonesia")
        await user.say("garut kota")
        await user.choose("Garut Kota")
        await user.choose("Kota Kulon")
        await user.choose("JKK + JKM — Rp16.800/bulan")
        consent = texts(await user.choose("Saya bayar langsung (tanpa potong gaji)"))
        assert "PERNYATAAN KESEDIAAN MEMBAYAR IURAN" in consent
        summary = texts(await user.choose("✅ Setuju"))
        assert "Saya bayar langsung (tanpa potong gaji)" in summary
        saved = await user.choose("💾 Simpan", min_count=3)
        assert "Tersimpan" in texts(saved)
        assert user.documents == []
    finally:
        await bot.stop()
