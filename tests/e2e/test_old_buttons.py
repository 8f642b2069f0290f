"""Issue 6, tests that could not fail: a button of an earlier copy of a question is refused end to
end (the prompt number in the callback data), even when its value is valid for the question now
on screen."""

from __future__ import annotations

from pathlib import Path

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    RELATIONSHIP,
    BotUnderTest,
    choose_job,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)


async def test_a_button_of_an_earlier_copy_of_the_same_question_is_refused_with_a_toast(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    bot = await BotUnderTest(
        settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    try:
        user = emulator.user(7401, first_name="Siti", phone_number="+6281234567890")
        await sign_up(user)  # ends at "Apa hubungan Anda dengan pekerja …?"
        earlier = user.last_message
        assert earlier is not None
        other = dict(button for row in earlier.buttons for button in row)["Keluarga / kerabat"]

        assert "Apa pekerjaan" in texts(await user.choose(RELATIONSHIP))
        assert "Apa hubungan" in texts(await user.choose("⬅️ Kembali"))

        mark = user.mark()
        pressed = await user.press_data(other, message_id=earlier.message_id)
        answer = await user.wait_callback_answer(pressed)
        assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."
        assert await user.replies_since(mark, min_count=0, timeout=2) == []
        # The question on screen still takes its own answer.
        assert "Ketik nama lengkap pekerja" in texts(await choose_job(user))
        assert emulator.rejections == []
    finally:
        await bot.stop()
