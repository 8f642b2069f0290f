"""bot.plain_updates: the webhook's common updates read from their JSON give the service the same
Incoming (or the same refusal) as each framework's Update read by its adapter; anything it does
not read fully is left to the framework."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiogram.types import Update as AiogramUpdate
from telegram import Update as PtbUpdate

from bot.plain_updates import NOT_PLAIN, NotPlain, plain_incoming
from bot.service import Incoming
from bot.telegram_aiogram import adapter as aiogram_adapter
from bot.telegram_ptb import adapter as ptb_adapter
from bot.telegram_ptb.updates import parse_update as ptb_parse

DATE = 1_790_000_000
SENDER = {"id": 5, "is_bot": False, "first_name": "Budi", "language_code": "id"}
CHAT = {"id": 5, "type": "private", "first_name": "Budi"}
BOT = {"id": 1, "is_bot": True, "first_name": "Bot", "username": "peduli_bot"}


def message(**content: Any) -> dict[str, Any]:
    return {"message_id": 9, "date": DATE, "chat": CHAT, "from": SENDER, **content}


def press(text: str, entities: list[dict[str, Any]] | None = None, **more: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {"message_id": 4, "date": DATE, "chat": CHAT, "from": BOT, "text": text}
    if entities is not None:
        shown["entities"] = entities
    shown["reply_markup"] = {
        "inline_keyboard": [
            [
                {"text": "✅ Ya", "callback_data": "3:ya"},
                {"text": "Tidak", "callback_data": "3:no"},
            ],
            [{"text": "Situs", "url": "https://example.org"}],
        ]
    }
    return {
        "id": "q1",
        "from": SENDER,
        "chat_instance": "c",
        "data": "3:ya",
        "message": shown,
    } | more


#: Updates plain_incoming reads: each framework's path must give the same answer.
PLAIN: dict[str, dict[str, Any]] = {
    "text": {"update_id": 10, "message": message(text="Budi Santoso")},
    "text & <tags>": {"update_id": 11, "message": message(text="a < b & c")},
    "command": {
        "update_id": 12,
        "message": message(
            text="/start inv_abc", entities=[{"type": "bot_command", "offset": 0, "length": 6}]
        ),
    },
    "command @bot": {"update_id": 13, "message": message(text="/Batal@peduli_bot")},
    "own contact": {
        "update_id": 14,
        "message": message(contact={"phone_number": "+628123", "first_name": "B", "user_id": 5}),
    },
    "someone else's contact": {
        "update_id": 15,
        "message": message(contact={"phone_number": "0812", "first_name": "S", "user_id": 6}),
    },
    "contact without a user": {
        "update_id": 16,
        "message": message(contact={"phone_number": "0812", "first_name": "S"}),
    },
    "press": {"update_id": 17, "callback_query": press("Benar? <ya>")},
    "press, formatted": {
        "update_id": 18,
        "callback_query": press(
            "Nama: Budi 😀 Santoso & NIK",
            [
                {"type": "bold", "offset": 0, "length": 5},
                {"type": "italic", "offset": 6, "length": 15},
                {"type": "text_link", "offset": 24, "length": 3, "url": "https://x.org/?a=1&b"},
                {"type": "code", "offset": 11, "length": 2},
            ],
        ),
    },
    "press on a button gone": {
        "update_id": 19,
        "callback_query": press("Lama", data="7:old"),
    },
    "press without data": {
        "update_id": 20,
        "callback_query": {k: v for k, v in press("x").items() if k != "data"},
    },
    "edited message pressed": {
        "update_id": 21,
        "callback_query": press("x") | {"message": press("x")["message"] | {"edit_date": DATE}},
    },
    "group message": {
        "update_id": 22,
        "message": message(chat={"id": -100, "type": "supergroup", "title": "G"}, text="/batal"),
    },
    "forged message": {
        "update_id": 23,
        "message": message(chat={"id": 77, "type": "private", "first_name": "X"}, text="/batal"),
    },
    "forged press": {
        "update_id": 24,
        "callback_query": press("x")
        | {"message": press("x")["message"] | {"chat": {"id": 77, "type": "private"}}},
    },
    "null optional field": {"update_id": 25, "message": message(text="hai", entities=None)},
}

#: Updates it leaves to the framework (which parses, routes or refuses them as before).
NOT_READ: dict[str, Any] = {
    "formatted text": {
        "update_id": 30,
        "message": message(text="tebal", entities=[{"type": "bold", "offset": 0, "length": 5}]),
    },
    "photo": {"update_id": 31, "message": message(photo=[{"file_id": "f", "width": 1}])},
    "text and contact": {
        "update_id": 32,
        "message": message(text="x", contact={"phone_number": "1", "first_name": "a"}),
    },
    "unknown message field": {"update_id": 33, "message": message(text="x", via_bot=BOT)},
    "unknown user field": {
        "update_id": 34,
        "message": message(text="x", **{"from": SENDER | {"is_robot": True}}),
    },
    "no sender": {
        "update_id": 35,
        "message": {k: v for k, v in message(text="x").items() if k != "from"},
    },
    "date as text": {"update_id": 36, "message": message(text="x", date="kemarin")},
    "id as bool": {"update_id": 37, "message": message(text="x", message_id=True)},
    "chat without type": {"update_id": 38, "message": message(text="x", chat={"id": 5})},
    "sender id as text": {
        "update_id": 39,
        "message": message(text="x", **{"from": SENDER | {"id": "5"}}),
    },
    "text mention": {
        "update_id": 40,
        "callback_query": press(
            "Budi", [{"type": "text_mention", "offset": 0, "length": 4, "user": SENDER}]
        ),
    },
    "entity without length": {
        "update_id": 41,
        "callback_query": press("Budi", [{"type": "bold", "offset": 0}]),
    },
    "inaccessible message": {
        "update_id": 42,
        "callback_query": press("x") | {"message": {"message_id": 4, "date": 0, "chat": CHAT}},
    },
    "inline press": {
        "update_id": 43,
        "callback_query": {"id": "q", "from": SENDER, "chat_instance": "c"},
    },
    "press in a group": {
        "update_id": 44,
        "callback_query": press("x")
        | {
            "message": press("x")["message"] | {"chat": {"id": -100, "type": "group", "title": "G"}}
        },
    },
    "press on a photo": {
        "update_id": 45,
        "callback_query": press("x") | {"message": {"message_id": 4, "date": DATE, "chat": CHAT}},
    },
    "reply keyboard on a message": {
        "update_id": 46,
        "message": message(text="x", reply_markup={"keyboard": [[{"text": "a"}]]}),
    },
    "another kind": {"update_id": 47, "edited_message": message(text="x")},
    "two kinds": {
        "update_id": 48,
        "message": message(text="x"),
        "edited_message": message(text="y"),
    },
    "id as text": {"update_id": "49", "message": message(text="x")},
    "no id": {"message": message(text="x")},
    "message not an object": {"update_id": 50, "message": ["x"]},
    "data not text": {"update_id": 51, "callback_query": press("x", data=3)},
}


def aiogram_incoming(raw: dict[str, Any]) -> Incoming | None:
    update = AiogramUpdate.model_validate(copy.deepcopy(raw))
    if update.message is not None:
        return aiogram_adapter.incoming_message(update.update_id, update.message)
    assert update.callback_query is not None
    return aiogram_adapter.incoming_callback(update.update_id, update.callback_query)


def ptb_incoming(raw: dict[str, Any]) -> Incoming | None:
    update = ptb_parse(copy.deepcopy(raw), None)  # type: ignore[arg-type]
    assert isinstance(update, PtbUpdate)
    if update.message is not None:
        return ptb_adapter.incoming_message(update.update_id, update.message)
    assert update.callback_query is not None
    return ptb_adapter.incoming_callback(update.update_id, update.callback_query)


@pytest.mark.parametrize("name", list(PLAIN))
def test_a_plain_update_reads_as_aiogram_reads_it(name: str) -> None:
    raw = PLAIN[name]
    assert plain_incoming(raw, aiogram_adapter.entities_html) == aiogram_incoming(raw)


@pytest.mark.parametrize("name", list(PLAIN))
def test_a_plain_update_reads_as_python_telegram_bot_reads_it(name: str) -> None:
    raw = PLAIN[name]
    assert plain_incoming(raw, ptb_adapter.entities_html) == ptb_incoming(raw)


def test_the_plain_updates_cover_what_the_service_takes_and_the_refusals() -> None:
    read = {name: plain_incoming(raw, aiogram_adapter.entities_html) for name, raw in PLAIN.items()}
    refused = {name for name, incoming in read.items() if incoming is None}
    assert refused == {"group message", "forged message", "forged press"}
    assert not any(isinstance(incoming, NotPlain) for incoming in read.values())
    pressed = read["press, formatted"]
    assert isinstance(pressed, Incoming) and pressed.pressed_message_html is not None
    assert "<b>Nama:</b>" in pressed.pressed_message_html


@pytest.mark.parametrize("name", list(NOT_READ))
def test_anything_else_is_left_to_the_framework(name: str) -> None:
    html_calls: list[object] = []

    def html(message: Any) -> str:
        html_calls.append(message)
        raise AssertionError("not read")

    assert plain_incoming(NOT_READ[name], html) is NOT_PLAIN
    assert html_calls == []
