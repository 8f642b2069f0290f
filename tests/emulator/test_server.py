"""The Bot API over HTTP: Telegram's answers, limits and refusals."""

from __future__ import annotations

import asyncio
import json

import pytest

from emulator import BotApiEmulator, make_png
from tests.emulator.conftest import TOKEN, RawClient

INLINE = {"inline_keyboard": [[{"text": "Ya", "callback_data": "yes"}]]}


async def started_user(emulator: BotApiEmulator, user_id: int = 1001) -> None:
    """Telegram only lets a bot write to users who wrote first."""
    await emulator.user(user_id).send_command("start")


async def test_wrong_token_and_unknown_method(emulator: BotApiEmulator, client: RawClient) -> None:
    async with client.session.post(client.url("getMe", token="1:WRONG")) as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    status, body = await client.json("sendMesage", chat_id=1, text="x")
    assert (status, body["description"]) == (404, "Not Found")
    assert [r.error_code for r in emulator.rejections] == [401, 404]


async def test_get_me_over_get_and_every_encoding(client: RawClient) -> None:
    async with client.session.get(client.url("getme")) as response:
        body = await response.json()
    assert body["ok"] and body["result"]["id"] == 123456 and body["result"]["is_bot"] is True
    assert (await client.form("getUpdates", timeout="0"))[1] == {"ok": True, "result": []}


async def test_every_refusal_is_recorded(emulator: BotApiEmulator, client: RawClient) -> None:
    await started_user(emulator)
    status, body = await client.json("sendMessage", chat_id=1001, text="x", parse_mod="HTML")
    assert status == 400 and 'unknown parameter "parse_mod"' in body["description"]
    status, body = await client.json("sendMessage", chat_id=1001)
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await client.json("sendMessage", chat_id=1001, text="x", reply_markup=[1])
    assert status == 400 and "reply_markup" in body["description"]
    assert [r.method for r in emulator.rejections] == ["sendMessage"] * 3
    assert emulator.rejections[0].params["parse_mod"] == "HTML"
    assert emulator.rejections[0].error_code == 400


@pytest.mark.parametrize("method", ["sendDice", "sendChatAction", "getFile", "copyMessage"])
async def test_unsupported_method(emulator: BotApiEmulator, client: RawClient, method: str) -> None:
    """A real Bot API method the bot does not use: refused, not silently answered."""
    status, body = await client.json(method, chat_id=1001)
    assert (status, body["description"]) == (
        400,
        "Bad Request: method not supported by the emulator",
    )
    assert emulator.rejections[-1].method == method


async def test_text_limits_after_entity_parsing(
    client: RawClient, emulator: BotApiEmulator
) -> None:
    await started_user(emulator)
    assert (await client.ok("sendMessage", chat_id=1001, text="a" * 4096))["text"] == "a" * 4096
    status, body = await client.json("sendMessage", chat_id=1001, text="a" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    # 4096 characters once "&amp;" is one character and tags are nothing.
    html_text = "<b>" + "&amp;" * 4096 + "</b>"
    emulator.per_chat_rate = None
    message = await client.ok("sendMessage", chat_id=1001, text=html_text, parse_mode="HTML")
    assert message["text"] == "&" * 4096
    assert message["entities"] == [{"offset": 0, "length": 4096, "type": "bold"}]
    status, body = await client.json(
        "sendMessage", chat_id=1001, text="<b>bold</i>", parse_mode="HTML"
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: Unmatched end tag")
    status, body = await client.json("sendMessage", chat_id=1001, text="<b></b>", parse_mode="HTML")
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_callback_data_is_limited_to_64_bytes(
    client: RawClient, emulator: BotApiEmulator
) -> None:
    await started_user(emulator)
    emulator.per_chat_rate = None

    def markup(data: str) -> dict[str, object]:
        return {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}

    await client.ok("sendMessage", chat_id=1001, text="ok", reply_markup=markup("é" * 32))
    status, body = await client.json(
        "sendMessage", chat_id=1001, text="x", reply_markup=markup("é" * 32 + "a")
    )
    assert status == 400 and "BUTTON_DATA_INVALID" in body["description"]
    assert "got 65" in body["description"]
    status, body = await client.json(
        "sendMessage",
        chat_id=1001,
        text="x",
        reply_markup={"inline_keyboard": [[{"text": "plain"}]]},
    )
    assert status == 400 and "Text buttons are unallowed" in body["description"]
    status, body = await client.json(
        "sendMessage",
        chat_id=1001,
        text="x",
        reply_markup={
            "inline_keyboard": [[{"text": "two", "callback_data": "a", "url": "https://a.id"}]]
        },
    )
    assert status == 400 and "exactly one" in body["description"]


async def test_per_chat_flood_limit(emulator: BotApiEmulator, client: RawClient) -> None:
    now = [1000.0]
    emulator._clock = lambda: now[0]  # a frozen clock: the outcome cannot depend on speed
    await started_user(emulator)
    await started_user(emulator, 1002)
    sent = [await client.ok("sendMessage", chat_id=1001, text=f"m{i}") for i in range(3)]
    status, body = await client.json("sendMessage", chat_id=1001, text="m3")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    await client.ok("sendMessage", chat_id=1002, text="another chat is not limited")
    edit = {"chat_id": 1001, "message_id": sent[0]["message_id"], "text": "m0 edited"}
    await client.ok("editMessageText", **edit)  # an edit is not a new message: not limited
    now[0] += 1.0
    await client.ok("sendMessage", chat_id=1001, text="after retry_after")


async def test_global_flood_limit(client: RawClient) -> None:
    emulator = BotApiEmulator(TOKEN, per_chat_rate=None, global_rate=2.0, global_burst=2)
    emulator._clock = lambda: 5.0
    base_url = await emulator.start()
    try:
        raw = RawClient(client.session, base_url)
        for user_id in (1, 2, 3):
            await emulator.user(user_id).send_text("hi")
        await raw.ok("sendMessage", chat_id=1, text="a")
        await raw.ok("sendMessage", chat_id=2, text="b")
        status, body = await raw.json("sendMessage", chat_id=3, text="c")
        assert status == 429 and body["parameters"]["retry_after"] == 1
        await raw.ok("sendMessage", chat_id=3, text="paid", allow_paid_broadcast=True)
    finally:
        await emulator.stop()


async def test_blocked_user_and_unknown_chats(emulator: BotApiEmulator, client: RawClient) -> None:
    await started_user(emulator)
    emulator.block(1001)
    status, body = await client.json("sendMessage", chat_id=1001, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert emulator.rejections[-1].error_code == 403
    emulator.user(1002)  # exists but never wrote to the bot
    status, body = await client.json("sendMessage", chat_id=1002, text="x")
    assert (status, body["description"]) == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    status, body = await client.json("sendMessage", chat_id=999, text="x")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    # Writing again unblocks, as in Telegram.
    await emulator.user(1001).send_text("halo lagi")
    await client.ok("sendMessage", chat_id=1001, text="x")


async def test_edits_and_deletes(emulator: BotApiEmulator, client: RawClient) -> None:
    await started_user(emulator)
    sent = await client.ok("sendMessage", chat_id=1001, text="Pilih", reply_markup=INLINE)
    message_id = sent["message_id"]
    status, body = await client.json(
        "editMessageText", chat_id=1001, message_id=message_id, text="Pilih", reply_markup=INLINE
    )
    assert (status, body["description"]) == (
        400,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    )
    edited = await client.ok("editMessageText", chat_id=1001, message_id=message_id, text="Pilih")
    assert "reply_markup" not in edited and "edit_date" in edited  # no markup: keyboard removed
    status, body = await client.json("editMessageReplyMarkup", chat_id=1001, message_id=message_id)
    assert status == 400 and "message is not modified" in body["description"]
    status, body = await client.json("editMessageText", chat_id=1001, message_id=99, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")
    status, body = await client.json("editMessageText", chat_id=1001, message_id=1, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message can't be edited")
    assert await client.ok("deleteMessage", chat_id=1001, message_id=message_id) is True
    status, body = await client.json("deleteMessage", chat_id=1001, message_id=message_id)
    assert (status, body["description"]) == (400, "Bad Request: message to delete not found")
    user = emulator.user(1001)
    assert user.messages == []
    assert [m.event for m in user.history] == ["sent", "deleted"]  # user's /start, bot's message


async def test_get_updates_long_poll_and_offset(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    user = emulator.user(1001)
    poll = asyncio.create_task(client.json("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    first = await user.send_text("satu")
    status, body = await asyncio.wait_for(poll, 2)
    assert status == 200 and body["result"] == [first]
    second = await user.send_text("dua")
    # Without a higher offset, updates are not confirmed and come again.
    assert [u["update_id"] for u in await client.ok("getUpdates")] == [
        first["update_id"],
        second["update_id"],
    ]
    result = await client.ok("getUpdates", offset=first["update_id"] + 1, limit=10)
    assert result == [second]
    assert await client.ok("getUpdates", offset=second["update_id"] + 1, timeout=0) == []


async def test_concurrent_get_updates_conflict(emulator: BotApiEmulator, client: RawClient) -> None:
    first = asyncio.create_task(client.json("getUpdates", timeout=5))
    await emulator.wait_until(lambda: emulator._poll_generation == 1, 2, "the first poll")
    second = asyncio.create_task(client.json("getUpdates", timeout=0))
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409 and "terminated by other getUpdates request" in body["description"]
    assert (await second)[0] == 200


async def test_get_updates_conflicts_with_webhook(client: RawClient) -> None:
    assert await client.ok("setWebhook", url="http://127.0.0.1:9/hook") is True
    status, body = await client.json("getUpdates")
    assert (status, body["description"]) == (
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
        "delete the webhook first",
    )
    assert (await client.ok("getWebhookInfo"))["url"] == "http://127.0.0.1:9/hook"
    assert await client.ok("deleteWebhook") is True
    assert await client.ok("getUpdates") == []


async def test_webhook_settings_are_checked(client: RawClient) -> None:
    status, body = await client.json(
        "setWebhook", url="http://127.0.0.1:9/hook", secret_token="has space"
    )
    assert status == 400 and "secret token" in body["description"]
    status, body = await client.json("setWebhook", url="https://example.org/hook")
    assert status == 400 and "loopback" in body["description"]


async def test_photo_upload_multipart_like_aiogram(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    await started_user(emulator)
    png = make_png(4, 3)
    status, body = await client.multipart(
        "sendPhoto",
        {
            "chat_id": "1001",
            "photo": "attach://k1",
            "caption": "<i>QR</i>",
            "parse_mode": "HTML",
            "reply_markup": json.dumps(INLINE),
        },
        {"k1": ("qr.png", png)},
    )
    assert status == 200, body
    photo = body["result"]["photo"][0]
    assert (photo["width"], photo["height"], photo["file_size"]) == (4, 3, len(png))
    assert body["result"]["caption"] == "QR"
    assert body["result"]["caption_entities"] == [{"offset": 0, "length": 2, "type": "italic"}]
    message = emulator.user(1001).last_message
    assert message is not None and message.photo == png and message.text == "QR"
    # Send it again by file_id.
    again = await client.ok("sendPhoto", chat_id=1001, photo=photo["file_id"])
    assert again["photo"][0]["file_id"] == photo["file_id"]
    status, body = await client.json("sendPhoto", chat_id=1001, photo="nonexistent")
    assert body["description"] == "Bad Request: wrong file identifier/HTTP URL specified"
    status, body = await client.json("sendPhoto", chat_id=1001, photo="x", caption="c" * 1025)
    assert body["description"] == "Bad Request: message caption is too long"


async def test_document_upload_keeps_name_and_bytes(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    await started_user(emulator)
    data = b"PK\x03\x04 a workbook"
    status, body = await client.multipart(
        "sendDocument",
        {
            "chat_id": "1001",
            "document": "attach://d1",
            "caption": "<b>Rekap</b>",
            "parse_mode": "HTML",
        },
        {"d1": ("rekap-2026-12.xlsx", data)},
    )
    assert status == 200, body
    document = body["result"]["document"]
    assert document["file_name"] == "rekap-2026-12.xlsx"
    assert document["file_size"] == len(data)
    assert body["result"]["caption"] == "Rekap"
    user = emulator.user(1001)
    message = user.last_message
    assert message is not None and message.text == "Rekap"
    assert message.document is not None and message.document.data == data
    assert [(d.filename, d.data) for d in user.documents] == [("rekap-2026-12.xlsx", data)]
    # Sent again by file_id; an unknown id, an empty file and a long caption are refused.
    again = await client.ok("sendDocument", chat_id=1001, document=document["file_id"])
    assert again["document"]["file_id"] == document["file_id"]
    status, body = await client.json("sendDocument", chat_id=1001, document="nonexistent")
    assert body["description"] == "Bad Request: wrong file identifier/HTTP URL specified"
    status, body = await client.multipart(
        "sendDocument", {"chat_id": "1001", "document": "attach://d1"}, {"d1": ("e.xlsx", b"")}
    )
    assert status == 400 and "non-empty" in body["description"]
    status, body = await client.json(
        "sendDocument", chat_id=1001, document=document["file_id"], caption="c" * 1025
    )
    assert body["description"] == "Bad Request: message caption is too long"
    status, body = await client.json("sendDocument", chat_id=1001)
    assert status == 400


async def test_callback_answers(emulator: BotApiEmulator, client: RawClient) -> None:
    await started_user(emulator)
    await client.ok("sendMessage", chat_id=1001, text="Pilih", reply_markup=INLINE)
    update = await emulator.user(1001).press("Ya")
    query_id = update["callback_query"]["id"]
    status, body = await client.json(
        "answerCallbackQuery", callback_query_id=query_id, text="x" * 201
    )
    assert status == 400 and "too long" in body["description"]
    assert await client.ok("answerCallbackQuery", callback_query_id=query_id, text="Oke") is True
    status, body = await client.json("answerCallbackQuery", callback_query_id=query_id)
    assert status == 400 and "query ID is invalid" in body["description"]
    answer = emulator.callback_answer(query_id)
    assert answer is not None and answer.text == "Oke"


async def test_commands_per_scope_and_language(emulator: BotApiEmulator, client: RawClient) -> None:
    commands = [
        {"command": "start", "description": "Mulai"},
        {"command": "bantuan", "description": "Bantuan"},
    ]
    assert await client.ok("setMyCommands", commands=commands, language_code="id") is True
    assert emulator.commands(language_code="id") == commands
    assert emulator.commands() == []
    scope = {"type": "chat", "chat_id": 1001}
    await client.ok("setMyCommands", commands=commands[:1], scope=scope)
    assert emulator.commands("chat", chat_id=1001) == commands[:1]
    await client.ok("setMyCommands", commands=[], scope=scope)
    assert emulator.commands("chat", chat_id=1001) == []
    for bad in ("Start", "a" * 33, "mulai-sekarang", ""):
        status, body = await client.json(
            "setMyCommands", commands=[{"command": bad, "description": "x"}]
        )
        assert status == 400, bad
    status, body = await client.json(
        "setMyCommands", commands=[{"command": "ok", "description": "d" * 257}]
    )
    assert status == 400 and "1-256" in body["description"]


async def test_request_contact_keyboard(emulator: BotApiEmulator, client: RawClient) -> None:
    await started_user(emulator)
    keyboard = {
        "keyboard": [[{"text": "Bagikan nomor", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    sent = await client.ok("sendMessage", chat_id=1001, text="Nomor?", reply_markup=keyboard)
    assert "reply_markup" not in sent  # Telegram only echoes inline keyboards
    user = emulator.user(1001)
    assert user.reply_keyboard() == [["Bagikan nomor"]]
    update = await user.tap("Bagikan nomor")
    assert update["message"]["contact"]["user_id"] == 1001
    assert user.reply_keyboard() is None  # one-time keyboard hidden after use


@pytest.mark.parametrize("token", ["²:TEST", "٣:TEST", "-1:TEST", "TEST"])
def test_a_token_whose_bot_id_is_not_ascii_digits_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="bot token looks like"):
        BotApiEmulator(token)
