"""Free text typed by one person and shown to others (the "Lainnya" occupation, a correction
request) may carry links: it is shown word for word, as text, never as a link the bot made, and
no message of the bot ever gets a link preview."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    VALID_NIK,
    BotUnderTest,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)

ADMIN = 9001
LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")
OCCUPATION = '<a href="https://evil.example">x</a> https://evil.example/b'
CORRECTION = (
    '<a href="https://evil.example/c">hadiah</a> [x](https://evil.example/d) www.evil.example'
)


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, admin_ids=str(ADMIN))
    running = await BotUnderTest(settings, emulator=emulator).start()
    yield running
    await running.stop()


def preview_options(params: dict[str, Any]) -> dict[str, Any]:
    value = params.get("link_preview_options")
    return json.loads(value) if isinstance(value, str) else (value or {})


async def test_typed_links_are_shown_as_text_and_no_message_has_a_preview(
    emulator: BotApiEmulator, bot: BotUnderTest
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say("/start")
    sponsor = emulator.user(8001, first_name="Siti", phone_number="+6281234567890")
    await sign_up(sponsor)
    assert "Apa pekerjaan" in texts(await sponsor.choose("Tetangga"))
    await sponsor.say("lain")  # the job not in the list: found by typing
    assert "pekerjaan" in texts(await sponsor.choose("Lainnya (tulis sendiri)"))
    assert "Ketik nama lengkap pekerja" in texts(await sponsor.say(OCCUPATION))
    await sponsor.say("Ujang Suryana")
    await sponsor.say(VALID_NIK)
    await sponsor.choose("✅ Ya, benar")
    await sponsor.choose("⏭️ Lewati")
    await sponsor.choose("🇮🇩 Bahasa Indonesia")
    await sponsor.say("garut kota")
    await sponsor.choose("Garut Kota")
    await sponsor.choose("Kota Kulon")
    await sponsor.choose("JKK + JKM — Rp16.800/bulan")
    await sponsor.choose("Potong gaji lewat bendahara")
    summary = texts(await sponsor.choose("✅ Setuju"))
    assert OCCUPATION in summary
    link = LINK.search(texts(await sponsor.choose("💾 Simpan", min_count=3)))
    assert link

    worker = emulator.user(8101, first_name="Ujang")
    await worker.send_command("start", link.group(1))
    review = texts(await worker.say("0001"))
    assert OCCUPATION in review  # the worker sees the sponsor's words, as typed
    await worker.choose("✏️ Ada yang salah")
    mark = admin.mark()
    await worker.say(CORRECTION)
    assert "antrian admin" in texts(await admin.replies_since(mark))  # the hourly notice
    assert CORRECTION in texts(await admin.say("/antrian"))

    sent = [
        call
        for call in emulator.calls
        if call.ok and call.method in ("sendMessage", "editMessageText")
    ]
    assert len(sent) > 20
    for call in sent:
        assert preview_options(call.params).get("is_disabled") is True, call.method

    bot_messages = [m for user in (sponsor, worker, admin) for m in user.messages if m.from_bot]
    shown = [m for m in bot_messages if "evil.example" in (m.text or "")]
    assert shown, "the typed text is shown"
    for message in bot_messages:
        kinds = {entity["type"] for entity in message.entities}
        assert "text_link" not in kinds, message.text
        for entity in message.entities:
            assert "evil.example" not in entity.get("url", ""), message.text
    assert emulator.rejections == []
