"""Updates Telegram would not send, over long polling: one that cannot be parsed, one whose
private chat is not its sender's (forged), one from a group. None stalls or fools the bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.utils.backoff import BackoffConfig
from aiohttp import web

from bot.telegram_aiogram.runner import create_bot
from bot.telegram_aiogram.updates import poll_updates
from emulator.models import ApiCall
from emulator.server import BotApiEmulator
from tests.e2e.harness import PARSE_ERROR, BotUnderTest, settings_for, sqlite_url, texts

SECRET_TEXT = "NIK saya 3205014501900001 rahasia-sekali"


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    running = await BotUnderTest(
        settings_for(emulator.base_url or "", sqlite_url(tmp_path), tmp_path), emulator=emulator
    ).start()
    yield running
    await running.stop()


def person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Tamu"}


def private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Tamu"}


def message(chat: dict[str, Any], sender: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": chat,
        "from": person(sender),
        "text": text,
        **extra,
    }


def handed_in(emulator: BotApiEmulator, update_id: int) -> list[ApiCall]:
    """The getUpdates calls whose answer carried this update."""
    return [
        call
        for call in emulator.calls_to("getUpdates")
        if call.ok and any(u["update_id"] == update_id for u in call.result)
    ]


async def test_an_unparsable_update_is_skipped_and_the_next_user_is_answered(
    emulator: BotApiEmulator, bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A date aiogram cannot parse: before the fix the whole batch failed, getUpdates was retried
    # at the same offset for ever (every 5 s), and the error logged the raw batch.
    bad = await emulator.inject_update(
        "message", message(private_chat(7301), 7301, SECRET_TEXT, date="kemarin sore")
    )
    # Alone in its batch: only the offset of the next getUpdates can confirm it.
    await emulator.wait_until(lambda: bool(handed_in(emulator, bad["update_id"])), 10, "handed")
    # Skipped before the dispatcher, so the harness never sees it to report it handled; that it
    # was skipped (and the offset moved past it) is what the assertions below check.
    emulator.report_handled(bad["update_id"])
    other = emulator.user(7302)
    assert "Pilih bahasa" in texts(await other.say("/start"))

    # Offered once, then confirmed: every later getUpdates asks past it (no retry of the batch).
    assert "Ketik NIP" in texts(await other.choose("🇮🇩 Bahasa Indonesia"))
    polls = [call for call in emulator.calls_to("getUpdates") if call.ok]
    first = next(i for i, call in enumerate(polls) if call in handed_in(emulator, bad["update_id"]))
    later = polls[first + 1 :]
    assert later, "no getUpdates answered after the bad update"
    assert all(call.params.get("offset", 0) > bad["update_id"] for call in later)
    assert handed_in(emulator, bad["update_id"]) == [polls[first]]
    assert emulator.calls_to("sendMessage")[0].params["chat_id"] == 7302  # nothing to 7301
    skipped = [r for r in caplog.records if "cannot be parsed" in r.getMessage()]
    assert [r.getMessage() for r in skipped] == [
        f"update {bad['update_id']} skipped: cannot be parsed ({PARSE_ERROR[bot.transport]})"
    ]
    assert "3205014501900001" not in caplog.text and "rahasia-sekali" not in caplog.text
    assert "kemarin sore" not in caplog.text


async def test_a_private_chat_that_is_not_the_senders_is_refused_and_groups_are_ignored(
    emulator: BotApiEmulator, bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    victim = emulator.user(7101)
    assert "Pilih bahasa" in texts(await victim.say("/start"))
    language_button = next(data for row in victim.inline_buttons() for _, data in row)
    sent_before = len(emulator.calls)

    # An attacker (chat 7201) posing as the victim: /batal would end the victim's sign-up, a
    # press would pick their language; each answer would land in the attacker's chat.
    forged_text = await emulator.inject_update(
        "message", message(private_chat(7201), 7101, "/batal")
    )
    forged_press = await emulator.inject_update(
        "callback_query",
        {
            "id": "9990001",
            "from": person(7101),
            "message": message(private_chat(7201), 0, "x") | {"from": person(emulator.bot_id)},
            "chat_instance": "1",
            "data": language_button,
        },
    )
    group = {"id": -1001234, "type": "supergroup", "title": "Grup"}
    in_group = await emulator.inject_update("message", message(group, 7101, "/batal"))

    # The victim's own press is handled as if nothing had come in between: the forged updates
    # changed nothing that was stored.
    assert "Ketik NIP" in texts(await victim.choose("🇮🇩 Bahasa Indonesia"))
    calls = emulator.calls[sent_before:]
    assert {c.params.get("chat_id") for c in calls if "chat_id" in c.params} <= {7101}
    assert not [
        c
        for c in calls
        if c.method == "answerCallbackQuery" and c.params["callback_query_id"] == "9990001"
    ]
    assert emulator.rejections == []
    refused = {
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("bot.telegram", "bot.incoming"))
    }
    assert f"update {forged_text['update_id']} refused: the private chat is not the sender's" in (
        refused
    )
    assert f"update {forged_press['update_id']} refused: the private chat is not the sender's" in (
        refused
    )
    assert f"update {in_group['update_id']} ignored: not a private chat" in refused


@pytest.mark.transports("aiogram")  # aiogram's poll_updates; the ptb transport has its own test
async def test_a_getupdates_answer_that_cannot_be_used_is_retried_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not an update but the whole answer is broken (a proxy in between, say), or an update has
    no id (no offset can confirm it): polling backs off and asks again, and the log names the
    error type, not the answer (it may hold updates)."""
    caplog.set_level(logging.DEBUG)
    answers = [
        {"ok": True, "result": {"not": "a list", "text": SECRET_TEXT}},
        {"ok": True, "result": [{"message": message(private_chat(1), 1, SECRET_TEXT)}]},
        {"ok": True, "result": [{"update_id": 5, "message": message(private_chat(1), 1, "hai")}]},
    ]

    async def get_updates(request: web.Request) -> web.Response:
        return web.json_response(answers.pop(0) if answers else {"ok": True, "result": []})

    app = web.Application()
    app.router.add_post("/bot{token}/getUpdates", get_updates)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    telegram_bot = create_bot("123456:TEST", f"http://127.0.0.1:{port}")
    updates = poll_updates(telegram_bot, 0, BackoffConfig(0.01, 0.02, 1.5, 0.0))
    try:
        update = await asyncio.wait_for(anext(updates), 10)
    finally:
        await updates.aclose()
        await telegram_bot.session.close()
        await runner.cleanup()
    assert update.update_id == 5 and answers == []
    failures = [r.getMessage() for r in caplog.records if "getUpdates failed" in r.getMessage()]
    assert failures == ["getUpdates failed (ClientDecodeError); retrying in 0.0 s"]
    assert [r.getMessage() for r in caplog.records if "without an id" in r.getMessage()] == [
        "update without an id skipped: cannot be parsed (ValidationError)",
        "getUpdates answered an update without an id; asking again later",
    ]
    assert "3205014501900001" not in caplog.text and "not a list" not in caplog.text


@pytest.mark.transports("ptb")  # the ptb transport's own polling loop (bot.telegram_ptb.updates)
async def test_a_getupdates_answer_python_telegram_bot_cannot_use_is_retried_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the aiogram test above: a broken answer, an update without an id, an update that does
    not parse; polling backs off, moves past what it can confirm, and logs error types only."""
    from bot.telegram_ptb.runner import create_application
    from bot.telegram_ptb.updates import Backoff
    from bot.telegram_ptb.updates import poll_updates as ptb_poll_updates

    caplog.set_level(logging.DEBUG)
    answers: list[Any] = [
        {"ok": True, "result": {"not": "a list", "text": SECRET_TEXT}},
        "<html>502 Bad Gateway " + SECRET_TEXT,
        {"ok": True, "result": [{"message": message(private_chat(1), 1, SECRET_TEXT)}]},
        {
            "ok": True,
            "result": [
                {"update_id": 4, "message": message(private_chat(1), 1, SECRET_TEXT, date="x")},
                {"update_id": 5, "message": message(private_chat(1), 1, "hai")},
            ],
        },
    ]
    offsets: list[int | None] = []

    async def get_updates(request: web.Request) -> web.Response:
        # python-telegram-bot's calls come as JSON (bot.telegram_ptb.request)
        offsets.append((await request.json()).get("offset"))
        answer = answers.pop(0) if answers else {"ok": True, "result": []}
        if isinstance(answer, str):
            return web.Response(text=answer, status=502)
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/bot{token}/getUpdates", get_updates)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    application, polling = create_application("123456:TEST", f"http://127.0.0.1:{port}")
    await polling.initialize()
    updates = ptb_poll_updates(application.bot, polling, 0, Backoff(0.01, 0.02, 1.5))
    try:
        update = await asyncio.wait_for(anext(updates), 10)
        with contextlib.suppress(TimeoutError):  # nothing more comes: polls confirming 5
            await asyncio.wait_for(anext(updates), 0.3)
    finally:
        await updates.aclose()
        await application.shutdown()
        for request in (application.bot.request, polling):
            await request.shutdown()
        await runner.cleanup()
    assert update.update_id == 5 and answers == []
    failures = [r.getMessage() for r in caplog.records if "getUpdates failed" in r.getMessage()]
    assert failures == [
        "getUpdates failed (UnusableAnswer: the result is not an array); retrying in 0.0 s",
        "getUpdates failed (UnusableAnswer: not JSON); retrying in 0.0 s",
    ]
    assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()] == [
        "update without an id skipped: cannot be parsed (TypeError)",
        "update 4 skipped: cannot be parsed (TypeError)",
    ]
    assert "getUpdates answered an update without an id; asking again later" in caplog.text
    assert "3205014501900001" not in caplog.text and "not a list" not in caplog.text
    assert "Bad Gateway" not in caplog.text
    # Nothing confirmed until the batch with ids; then past both, the unparsable 4 included.
    assert offsets[:4] == [None, None, None, None]
    assert offsets[4:] and set(offsets[4:]) == {6}
