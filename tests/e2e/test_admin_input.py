"""Admin input in other digits and forged callback numbers, through the real bot: read as
ASCII numbers or refused with a toast; never the apology."""

from __future__ import annotations

from emulator.server import BotApiEmulator
from tests.e2e.harness import BotUnderTest, texts
from tests.e2e.test_worker_journey import (  # noqa: F401  (bot and clock are fixtures)
    ADMIN,
    bot,
    clock,
    consent,
    registered,
)

APOLOGY = "Maaf, terjadi kesalahan"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


async def test_forged_resolve_numbers_get_a_toast_or_a_refusal_never_the_apology(
    emulator: BotApiEmulator,
    bot: BotUnderTest,  # noqa: F811
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say("/start")  # a message with buttons to press on
    for data in ("0:act:resolve:\u19da", "0:act:resolve:½", "0:act:resolve:99999999999"):
        mark = admin.mark()
        answer = await admin.wait_callback_answer(await admin.press_data(data))
        assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir.", data
        assert APOLOGY not in texts(await admin.replies_since(mark, min_count=0))
    mark = admin.mark()
    await admin.wait_callback_answer(await admin.press_data("0:act:resolve:²"))  # request 2
    shown = texts(await admin.replies_since(mark))
    assert "tidak ditemukan" in shown and APOLOGY not in shown
    assert emulator.rejections == []


async def test_activation_typed_in_arabic_indic_digits(
    emulator: BotApiEmulator,
    bot: BotUnderTest,  # noqa: F811
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    sponsor, parameter, reference = await registered(emulator)
    await consent(emulator.user(8701), parameter)
    mark = sponsor.mark()
    typed = f"/aktifkan {reference} {'23012345678 01/12/2026'.translate(ARABIC_INDIC)}"
    activated = texts(await admin.say(typed))
    assert "diaktifkan" in activated and APOLOGY not in activated
    assert "23012345678" in texts(await sponsor.replies_since(mark))
