"""The emulator's limits for broadcasts: paid broadcasts have their own limit (1000/s by
default) instead of the free 30/s; photos and documents sent again by file_id count like any
message; many users who started the bot can be made at once (benchmarks)."""

from __future__ import annotations

from emulator import BotApiEmulator, make_png
from tests.emulator.conftest import TOKEN, RawClient


async def test_paid_broadcasts_have_their_own_limit(client: RawClient) -> None:
    emulator = BotApiEmulator(
        TOKEN, per_chat_rate=None, global_rate=1.0, global_burst=1, paid_rate=2.0, paid_burst=2
    )
    emulator._clock = lambda: 5.0  # no refill during the test
    base_url = await emulator.start()
    try:
        raw = RawClient(client.session, base_url)
        emulator.open_chats(range(1, 6))
        await raw.ok("sendMessage", chat_id=1, text="free")
        status, _ = await raw.json("sendMessage", chat_id=2, text="free")
        assert status == 429
        await raw.ok("sendMessage", chat_id=2, text="paid", allow_paid_broadcast=True)
        await raw.ok("sendMessage", chat_id=3, text="paid", allow_paid_broadcast=True)
        status, body = await raw.json(
            "sendMessage", chat_id=4, text="paid", allow_paid_broadcast=True
        )
        assert status == 429 and body["parameters"]["retry_after"] >= 1
        assert emulator.flood_refusals == 2
    finally:
        await emulator.stop()


async def test_media_by_file_id_is_sent_and_counted(client: RawClient) -> None:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=None, global_rate=2.0, global_burst=2)
    emulator._clock = lambda: 5.0
    base_url = await emulator.start()
    try:
        raw = RawClient(client.session, base_url)
        emulator.open_chats([1, 2, 3])
        photo = emulator._store_file(make_png(), "a.png", "image/png", "photo")
        document = emulator._store_file(b"%PDF-1.4", "a.pdf", "application/pdf", "document")
        sent = await raw.ok(
            "sendPhoto", chat_id=1, photo=photo.file_id, caption="<b>Halo</b>", parse_mode="HTML"
        )
        assert sent["photo"][0]["file_id"] == photo.file_id and sent["caption"] == "Halo"
        sent = await raw.ok("sendDocument", chat_id=2, document=document.file_id, caption="x")
        assert sent["document"]["file_name"] == "a.pdf"
        status, _ = await raw.json("sendPhoto", chat_id=3, photo=photo.file_id)
        assert status == 429  # the third message of the second: media count too
        status, _ = await raw.json("sendPhoto", chat_id=3, photo="no-such-file")
        assert status == 400
    finally:
        await emulator.stop()


async def test_open_chats_makes_thousands_of_started_users_quickly(client: RawClient) -> None:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=None, global_rate=None)
    base_url = await emulator.start()
    try:
        raw = RawClient(client.session, base_url)
        emulator.open_chats(range(10_000, 15_000))
        assert emulator.updates == {}  # no update for the bot to read
        await raw.ok("sendMessage", chat_id=14_999, text="halo")
        assert emulator.user(14_999).messages[0].text == "halo"
    finally:
        await emulator.stop()
