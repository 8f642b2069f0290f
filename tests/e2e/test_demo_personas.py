"""The playground's personas through the real bot and the emulator: a fake user's own contact is
accepted (emulator.personas gives it a real Indonesian mobile number), and with the sample data
(bot.demo) the personas' /status and the admin's /statistik are not empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.demo import demo_chat_ids, load_demo, playground_admin_ids
from emulator.personas import ADMIN, ASN, WORKER, mobile_number
from emulator.server import BotApiEmulator
from tests.clock import NOW
from tests.e2e.harness import BotUnderTest, settings_for, sign_up, sqlite_url, texts


async def test_a_persona_shares_its_own_contact_and_the_bot_accepts_it(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    bot = await BotUnderTest(
        settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    try:
        # No phone_number given: the emulator's default for the id, as the chat page uses it.
        user = emulator.user(ASN.user_id, first_name=ASN.first_name)
        assert user.phone_number == mobile_number(ASN.user_id)
        await sign_up(user)  # taps "📱 Kirim nomor HP saya": "Nomor HP diterima"
        record = bot.repository.user_record(ASN.user_id)
        assert record.sponsor is not None
        assert record.sponsor.phone_masked.startswith(mobile_number(ASN.user_id)[:6])
        assert "bukan nomor HP" not in texts(user.messages)
        assert emulator.rejections == []
    finally:
        await bot.stop()


@pytest.fixture
async def demo_bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    settings = settings.model_copy(update={"admin_ids": playground_admin_ids(settings)})
    assert load_demo(settings, clock=lambda: NOW).loaded
    emulator.open_chats(demo_chat_ids())  # as the playground does
    bot = await BotUnderTest(settings, emulator=emulator).start()
    yield bot
    await bot.stop()


async def test_the_personas_see_the_sample_data(
    emulator: BotApiEmulator, demo_bot: BotUnderTest
) -> None:
    asn = emulator.user(ASN.user_id, first_name=ASN.first_name)
    status = texts(await asn.say("/status"))
    assert WORKER.full_name in status and "dikonfirmasi pekerja" in status

    worker = emulator.user(WORKER.user_id, first_name=WORKER.first_name)
    assert ASN.full_name in texts(await worker.say("/status"))

    admin = emulator.user(ADMIN.user_id, first_name=ADMIN.first_name)
    figures = texts(await admin.say("/statistik", min_count=2))
    assert "7 dari 44 dinas" in figures and "Dinas Kesehatan" in figures
    assert "(14 dari 24 ASN di daftar pegawai)" in figures
    assert emulator.rejections == []
