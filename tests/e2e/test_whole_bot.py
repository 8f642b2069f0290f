"""A bot that is only the flows (create_dispatcher, `peduli run`) answers everything in a private
chat, unlike the flows hosted in another bot (tests/examples): a command it does not know, text
between flows, a button whose data it never sent."""

from __future__ import annotations

from pathlib import Path

from emulator.server import BotApiEmulator
from tests.e2e.harness import BotUnderTest, settings_for, sqlite_url, texts


async def test_the_whole_bot_answers_what_no_flow_takes(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    bot = await BotUnderTest(
        settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    try:
        user = emulator.user(7501)
        assert "Perintah /zzz tidak dikenal." in texts(await user.say("/zzz"))
        assert "Pilih bahasa" in texts(await user.say("halo"))  # between flows: the welcome
        pressed = await user.press_data("host:like")  # not the flows' format
        answer = await user.wait_callback_answer(pressed)
        assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
        assert emulator.rejections == []
    finally:
        await bot.stop()
