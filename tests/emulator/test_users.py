"""The person's side: what fake users send, see and wait for."""

from __future__ import annotations

import asyncio

import pytest

from bot.emulator import BotApiEmulator
from tests.emulator.conftest import RawClient

INLINE = {
    "inline_keyboard": [
        [{"text": "Ya", "callback_data": "yes"}, {"text": "Tidak", "callback_data": "no"}],
        [{"text": "Situs", "url": "https://bpjsketenagakerjaan.go.id"}],
    ]
}


async def test_every_update_a_user_produces_is_valid_bot_api(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """aiogram and python-telegram-bot parse these; a malformed update would break them."""
    user = emulator.user(1001, "Siti", username="siti_a", last_name="Aminah")
    updates = [
        await user.send_command("start", "ref_123"),
        await user.send_text("halo"),
        await user.share_contact(),
        await user.share_contact("+6281100001111", own=False),
        await user.send_photo(caption="foto KTP"),
        await user.send_document(),
        await user.send_sticker(),
        await user.send_voice(),
        await user.send_location(),
    ]
    await client.ok("sendMessage", chat_id=1001, text="Pilih", reply_markup=INLINE)
    updates.append(await user.press("Ya"))
    user.block()
    user.unblock()
    updates.extend(await client.ok("getUpdates", offset=updates[-1]["update_id"] + 1))
    for update in updates:
        emulator.validate("Update", update)
    assert updates[0]["message"]["text"] == "/start ref_123"
    assert updates[0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert updates[2]["message"]["contact"]["user_id"] == 1001
    assert updates[3]["message"]["contact"]["user_id"] != 1001
    assert [u["message"]["message_id"] for u in updates[:9]] == list(range(1, 10))
    assert [next(k for k in u if k != "update_id") for u in updates[-2:]] == ["my_chat_member"] * 2
    file_id = updates[4]["message"]["photo"][0]["file_id"]
    assert (await client.ok("getFile", file_id=file_id))["file_size"] > 0


async def test_results_are_valid_bot_api(emulator: BotApiEmulator, client: RawClient) -> None:
    await emulator.user(1001).send_text("hi")
    message = await client.ok(
        "sendMessage", chat_id=1001, text="<b>x</b>", parse_mode="HTML", reply_markup=INLINE
    )
    emulator.validate("Message", message)
    emulator.validate("User", await client.ok("getMe"))
    emulator.validate("WebhookInfo", await client.ok("getWebhookInfo"))


async def test_press_finds_buttons_and_reports_missing_ones(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    user = emulator.user(1001)
    await user.send_text("hi")
    with pytest.raises(LookupError, match="no bot message with an inline keyboard"):
        await user.press("Ya")
    first = await client.ok("sendMessage", chat_id=1001, text="Satu", reply_markup=INLINE)
    await client.ok("sendMessage", chat_id=1001, text="Tanpa tombol")
    assert user.inline_buttons() == [
        [("Ya", "yes"), ("Tidak", "no")],
        [("Situs", "https://bpjsketenagakerjaan.go.id")],
    ]
    update = await user.press("Tidak")
    assert update["callback_query"]["message"]["message_id"] == first["message_id"]
    assert update["callback_query"]["data"] == "no"
    with pytest.raises(LookupError, match=r"buttons: \['Ya', 'Tidak', 'Situs'\]"):
        await user.press("Mungkin")
    with pytest.raises(LookupError, match="not a callback button"):
        await user.press("Situs")
    forged = await user.press_data("admin:delete:42", first["message_id"])
    assert forged["callback_query"]["data"] == "admin:delete:42"
    assert user.callback_answer(update) is None


async def test_replies_since_collects_a_whole_turn(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """Messages sent in a burst, an edit and a deletion all belong to the same turn."""
    user = emulator.user(1001)
    await user.send_text("hi")
    mark = user.mark()

    async def bot_turn() -> None:
        await client.ok("getUpdates")
        sent = await client.ok("sendMessage", chat_id=1001, text="Satu", reply_markup=INLINE)
        await asyncio.sleep(0.05)  # shorter than the quiet period: still the same turn
        await client.ok("sendMessage", chat_id=1001, text="Dua")
        await client.ok(
            "editMessageText", chat_id=1001, message_id=sent["message_id"], text="Satu!"
        )

    turn = asyncio.create_task(bot_turn())
    # quiet=0.5: ten times the pause inside the turn, so a slow machine cannot split it.
    replies = await user.replies_since(mark, min_count=1, timeout=5, quiet=0.5)
    await turn
    assert [(m.event, m.text) for m in replies] == [
        ("sent", "Satu"),
        ("sent", "Dua"),
        ("edited", "Satu!"),
    ]
    assert replies[0].buttons[0] == [("Ya", "yes"), ("Tidak", "no")]
    assert replies[2].reply_markup is None
    assert [m.text for m in user.messages] == ["Satu!", "Dua"]
    assert user.messages[0].edit_count == 1


async def test_replies_since_fails_with_diagnostics(emulator: BotApiEmulator) -> None:
    user = emulator.user(1001)
    await user.send_text("hi")
    with pytest.raises(AssertionError, match=r"expected 1 bot message.*not yet fetched by the bot"):
        await user.replies_since(0, timeout=0.2)


async def test_silence_is_checked_after_the_bot_fetched_the_update(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    user = emulator.user(1001)
    mark = user.mark()
    await user.send_text("tidak dijawab")

    async def bot_reads_but_does_not_answer() -> None:
        await asyncio.sleep(0.1)
        await client.ok("getUpdates")

    reader = asyncio.create_task(bot_reads_but_does_not_answer())
    assert await user.replies_since(mark, min_count=0, timeout=5) == []
    assert reader.done()  # it waited for the bot to fetch the update


async def test_wait_for_reply_and_callback_answer(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    user = emulator.user(1001)
    await user.send_text("hi")
    await client.ok("sendMessage", chat_id=1001, text="Pilih", reply_markup=INLINE)
    update = await user.press("Ya")

    async def bot() -> None:
        await asyncio.sleep(0.05)
        await client.ok(
            "answerCallbackQuery", callback_query_id=update["callback_query"]["id"], text="Oke"
        )
        await client.ok("sendMessage", chat_id=1001, text="Terima kasih")

    task = asyncio.create_task(bot())
    answer = await user.wait_callback_answer(update, timeout=5)
    reply = await user.wait_for_reply(timeout=5)
    await task
    assert answer.text == "Oke" and reply.text == "Terima kasih"


async def test_retry_after_extends_the_quiet_period(client: RawClient) -> None:
    """A bot that waits retry_after and resends is still within the same turn."""
    emulator = BotApiEmulator(per_chat_burst=1, quiet_period=0.05)
    base_url = await emulator.start()
    try:
        raw = RawClient(client.session, base_url)
        user = emulator.user(7)
        await user.send_text("hi")
        mark = user.mark()

        async def polite_bot() -> None:
            await raw.ok("getUpdates")
            await raw.ok("sendMessage", chat_id=7, text="satu")
            status, body = await raw.json("sendMessage", chat_id=7, text="dua")
            assert status == 429
            await asyncio.sleep(body["parameters"]["retry_after"])
            await raw.ok("sendMessage", chat_id=7, text="dua")

        task = asyncio.create_task(polite_bot())
        replies = await user.replies_since(mark, timeout=5)
        await task
        assert [m.text for m in replies] == ["satu", "dua"]
    finally:
        await emulator.stop()


async def test_playground_endpoints(emulator: BotApiEmulator, client: RawClient) -> None:
    base = emulator.base_url
    session = client.session
    async with session.post(f"{base}/_emulator/users/55/text", json={"text": "halo"}) as response:
        body = await response.json()
    assert body["update"]["message"]["text"] == "halo"
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=55, text="Pilih", reply_markup=INLINE)
    async with session.post(f"{base}/_emulator/users/55/press", json={"label": "Ya"}) as response:
        assert (await response.json())["update"]["callback_query"]["data"] == "yes"
    async with session.get(f"{base}/_emulator/users/55/messages") as response:
        messages = (await response.json())["messages"]
    assert [m["text"] for m in messages] == ["Pilih"]
    await client.ok("getUpdates")
    async with session.get(f"{base}/_emulator/users/55/replies?since=0&timeout=1") as response:
        assert [m["text"] for m in (await response.json())["replies"]] == ["Pilih"]
    async with session.post(f"{base}/_emulator/users/55/press", json={"label": "?"}) as response:
        assert response.status == 404
    async with session.get(f"{base}/_emulator/") as response:
        assert "Emulated chat" in await response.text()
