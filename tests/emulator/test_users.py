"""The person's side: what fake users send, see and wait for."""

from __future__ import annotations

import asyncio

import pytest

from emulator import BotApiEmulator
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
    assert updates[4]["message"]["photo"][0]["file_id"] in emulator.files


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


async def settle() -> None:
    """Let every ready task run a few steps (not a wait for the bot: nothing is in flight)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_tracked_turn_ends_when_the_bot_reports_the_update_handled(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """With track_handling, a turn is over when the bot says so, however long it pauses: a
    message sent, then silence far longer than the quiet period, then more of the same turn."""
    emulator.track_handling()
    user = emulator.user(1001)
    mark = user.mark()
    update = await user.send_text("hi")
    waiter = asyncio.create_task(user.replies_since(mark, min_count=1, timeout=5))
    (fetched,) = await client.ok("getUpdates")
    await client.ok("getUpdates", offset=fetched["update_id"] + 1, timeout=0)  # acknowledged
    await client.ok("sendMessage", chat_id=1001, text="Satu")
    await settle()
    assert not waiter.done() and not emulator.bot_idle()
    assert emulator.unreported_updates == [update["update_id"]]
    await client.ok("sendMessage", chat_id=1001, text="Dua")
    emulator.report_handled(update["update_id"])
    assert [m.text for m in await waiter] == ["Satu", "Dua"]
    assert emulator.bot_idle()


async def test_tracked_turn_waits_for_background_work(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """An update reported handled, but the outbox still busy: not idle until it is done."""
    busy = True
    emulator.track_handling(lambda: not busy)
    user = emulator.user(1001)
    mark = user.mark()
    update = await user.send_text("hi")
    waiter = asyncio.create_task(user.replies_since(mark, min_count=0, timeout=5))
    await client.ok("getUpdates")
    emulator.report_handled(update["update_id"])
    await settle()
    assert not waiter.done()
    await client.ok("sendMessage", chat_id=1001, text="Notifikasi")
    busy = False
    emulator.notify()
    assert [m.text for m in await waiter] == ["Notifikasi"]


async def test_tracked_wait_fails_naming_the_update_not_handled(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    emulator.track_handling()
    user = emulator.user(1001)
    update = await user.send_text("hi")
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=1001, text="Satu")
    with pytest.raises(AssertionError, match=rf"not reported handled: \[{update['update_id']}\]"):
        await user.replies_since(0, min_count=1, timeout=0.2)


async def test_redelivered_and_dropped_updates_in_tracked_waits(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """A redelivery is in flight again until reported; an update dropped with
    drop_pending_updates is never waited for (the bot will never see it)."""
    emulator.track_handling()
    user = emulator.user(1001)
    first = await user.send_text("satu")
    emulator.report_handled(first["update_id"])
    assert emulator.bot_idle()
    await emulator.redeliver(first["update_id"])
    assert emulator.unreported_updates == [first["update_id"]] and not emulator.bot_idle()
    await client.ok("getUpdates")
    emulator.report_handled(first["update_id"])
    second = await user.send_text("dua")
    assert emulator.unreported_updates == [second["update_id"]]
    await client.ok("deleteWebhook", drop_pending_updates=True)
    assert emulator.unreported_updates == [] and emulator.bot_idle()


async def test_untracking_restores_the_quiet_period(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    emulator.track_handling()
    emulator.untrack_handling()
    user = emulator.user(1001)
    mark = user.mark()
    await user.send_text("hi")
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=1001, text="Satu")
    assert [m.text for m in await user.replies_since(mark, timeout=5)] == ["Satu"]
    assert not emulator.bot_idle()  # idleness is only known while tracked


async def test_replies_counted_waits_for_the_acknowledgement_and_the_count(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    """For a bot in another process: the turn's known size, and the bot's getUpdates offset past
    the update; more events than announced fail the test."""
    user = emulator.user(1001)
    mark = user.mark()
    update = await user.send_text("hi")
    waiter = asyncio.create_task(user.replies_counted(mark, 2, timeout=5))
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=1001, text="Satu")
    await client.ok("sendMessage", chat_id=1001, text="Dua")
    await settle()
    assert not waiter.done() and not emulator.acknowledged(1001)  # fetched, not confirmed
    await client.ok("getUpdates", offset=update["update_id"] + 1, timeout=0)
    assert [m.text for m in await waiter] == ["Satu", "Dua"]

    other = emulator.user(1002)  # a fresh chat: a fresh per-chat flood limit
    mark = other.mark()
    again = await other.send_text("lagi")
    await client.ok("getUpdates", offset=again["update_id"] + 1, timeout=0)
    await client.ok("sendMessage", chat_id=1002, text="Tiga")
    await client.ok("sendMessage", chat_id=1002, text="Empat")
    with pytest.raises(AssertionError, match="expected 1 bot event"):
        await other.replies_counted(mark, 1, timeout=5)


async def test_a_webhook_delivery_answered_2xx_acknowledges_the_update(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    from aiohttp import web

    received: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json())["update_id"])
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await client.ok("setWebhook", url=f"http://127.0.0.1:{port}/hook")
        user = emulator.user(1001)
        update = await user.send_text("hi")
        await emulator.wait_until(lambda: emulator.acknowledged(1001), 5, what="the 2xx answer")
        assert received == [update["update_id"]]
    finally:
        await runner.cleanup()
