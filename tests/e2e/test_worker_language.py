"""Issue 12 end to end: a worker registered in Sundanese reads their invitation and its check
in Sundanese, switches to Javanese, and consents: the consent is recorded with the Javanese
translation's own version and the hash of the Javanese statement they received."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any

from bot.i18n import Renderer
from emulator.server import BotApiEmulator
from flows.text import t
from flows.worker import NOTICE_KEY
from tests.e2e.harness import BotUnderTest, register_worker, settings_for, sign_up, sqlite_url
from tests.e2e.test_consent_record import TAGS, as_html

LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")
BASE_VERSION = "2026-12-1"  # bot/data/programme.toml privacy_notice_version


def texts(turn: list[Any]) -> str:
    return "\n".join(m.text or m.caption or "" for m in turn)


def notice_received(turn: list[Any], marker: str, language: str) -> str:
    """The privacy notice in the review message, as the HTML the bot sent (without the question
    that follows it in the worker's language)."""
    (message,) = [m for m in turn if m.event == "sent" and marker in (m.text or "")]
    assert all(e["type"] in TAGS for e in message.entities), message.entities
    received = as_html(message.text, message.entities)
    question = Renderer(language)(t("worker.ask_decision", notice=""))
    assert received.endswith(question), received
    return received[: -len(question)]


async def test_a_worker_invited_in_sundanese_switches_to_javanese_and_consents(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        sponsor = emulator.user(7401, first_name="Siti", phone_number="+6281234567890")
        await sign_up(sponsor)
        summary = await register_worker(sponsor, worker_language="🗣️ Basa Sunda")
        assert "Periksa data" in summary  # the sponsor's own side stays in Indonesian
        assert "Bahasa pekerja: 🗣️ Basa Sunda" in summary
        saved = texts(await sponsor.choose("💾 Simpan", min_count=3))
        # The message the sponsor forwards is in the worker's language, the rest in theirs.
        assert "Wilujeng Ujang Suryana" in saved and "Hatur nuhun." in saved
        assert "Tersimpan" in saved and "Mohon konfirmasi" not in saved
        first = LINK.search(saved)
        assert first, saved
        # A new link from /status: its message is in the worker's language again.
        await sponsor.say("/status")
        reference = re.search(r"PR-[0-9A-Z]+", saved)
        assert reference
        renewed = texts(await sponsor.choose(f"🔗 {reference[0]}: buat tautan baru", min_count=3))
        assert "Tautan baru" in renewed and "Wilujeng Ujang Suryana" in renewed
        link = LINK.search(renewed)
        assert link and link.group(1) != first.group(1)

        worker = emulator.user(7402, first_name="Ujang")
        mark = worker.mark()
        await worker.send_command("start", link.group(1))
        invited = texts(await worker.replies_since(mark))
        assert "Wilujeng, Ujang Suryana." in invited
        assert "mayarkeun iuranna Rp16.800 unggal sasih" in invited
        assert "4 angka pamungkas NIK" in invited

        wrong = texts(await worker.say("kamari"))  # not a date: asked again, in Sundanese
        assert "teu acan kabaca salaku tanggal lahir" in wrong
        sundanese = await worker.say("05-01-1990")
        assert "Bewara privasi" in texts(sundanese)
        assert "5 Januari 1990" in texts(sundanese)
        assert sundanese[-1].button_labels[:3] == ["✅ Satuju", "❌ Henteu", "✏️ Aya anu lepat"]
        assert "⬅️ Uih deui" in sundanese[-1].button_labels

        switched = await worker.say("/bahasa")
        assert "🗣️ Basa Jawa" in switched[-1].button_labels
        javanese = await worker.choose("🗣️ Basa Jawa")
        assert "Basa sampun dipungantos dados Basa Jawa" in texts(javanese)
        notice = notice_received(javanese, "Wara-wara privasi", "jv")
        assert "Ujang Suryana" in notice and "Tanggal wiyosan: 5 Januari 1990" in notice
        # The short notice of 2026-12-1: who controls the data, and BPJS's own copy.
        assert "Pengendali data: Pemerintah Kabupaten Garut" in notice
        assert "BPJS Ketenagakerjaan nyimpen salinanipun piyambak" in notice
        labels = javanese[-1].button_labels
        assert labels[:3] == ["✅ Sarujuk", "❌ Mboten", "✏️ Wonten ingkang lepat"]
        assert "📖 Waos jangkepipun" in labels  # the full notice, in Javanese too
        # The Sundanese notice's button no longer counts: the consent is to the text shown last.
        mark = worker.mark()
        pressed = await worker.press("✅ Satuju", message_id=sundanese[-1].message_id)
        answer = await worker.wait_callback_answer(pressed)
        assert (
            answer.text
            == "Tombol menika sampun mboten laku. Mangga mirsani pesen ingkang pungkasan."
        )
        assert await worker.replies_since(mark, min_count=0, timeout=2) == []
        consented = texts(await worker.choose("✅ Sarujuk"))
        assert "Matur nuwun." in consented
        assert "Persetujuan Panjenengan sampun kacathet" in consented
    finally:
        await bot.stop()

    with sqlite3.connect(tmp_path / "peduli.sqlite3") as db:
        consents = db.execute(
            "SELECT subject, text_key, text_version, text_hash FROM consents ORDER BY id"
        ).fetchall()
        (language,) = db.execute("SELECT worker_language FROM sponsorships").fetchone()
        (worker_language,) = db.execute(
            "SELECT language FROM telegram_users WHERE user_id = 7402"
        ).fetchone()
    sponsor_consent, worker_consent = consents
    assert sponsor_consent[0] == "sponsor" and sponsor_consent[2] == BASE_VERSION
    assert worker_consent[:3] == ("worker", NOTICE_KEY, f"{BASE_VERSION}+jv.1")
    assert worker_consent[3] == hashlib.sha256(notice.encode("utf-8")).hexdigest()
    assert language == "su" and worker_language == "jv"
    assert emulator.rejections == []
