"""python-telegram-bot's updates as flow inputs: the same mapping as the aiogram adapter's
(tests/unit/test_admin_input.py for callback data), on python-telegram-bot's own objects parsed
from the Bot API's JSON."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import CallbackQuery, Message, Update, User

from bot.telegram_ptb.adapter import callback_input, incoming_callback, message_input
from bot.telegram_ptb.updates import parse_update
from flows.inputs import (
    ChoicePicked,
    CommandIssued,
    ContactShared,
    MediaReceived,
    TextReceived,
    UnsupportedReceived,
)
from tests.unit.test_admin_input import PROMPT_NUMBERS

CHAT = {"id": 5, "type": "private", "first_name": "Budi"}
SENDER = {"id": 5, "is_bot": False, "first_name": "Budi"}


def message(**content: Any) -> Message:
    raw = {"message_id": 9, "date": 1_790_000_000, "chat": CHAT, "from": SENDER, **content}
    parsed = Message.de_json(raw, None)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(("data", "seq"), PROMPT_NUMBERS)
def test_the_prompt_number_in_callback_data_is_digits_only(data: str, seq: int) -> None:
    user = User(id=5, is_bot=False, first_name="Budi")
    callback = CallbackQuery(id="1", from_user=user, chat_instance="c", data=data)
    picked = callback_input(callback)
    assert isinstance(picked, ChoicePicked) and picked.seq == seq


def test_commands_drop_the_bot_name_and_keep_the_argument() -> None:
    assert message_input(message(text="/Start@peduli_bot  abc ")) == CommandIssued("start", "abc")
    assert message_input(message(text="/")) == TextReceived("/", 9, None)


def test_formatted_text_and_captions_arrive_as_html() -> None:
    bold = [{"type": "bold", "offset": 0, "length": 4}]
    assert message_input(message(text="Budi <3", entities=bold)) == TextReceived(
        "Budi <3", 9, "<b>Budi</b> &lt;3"
    )
    assert message_input(message(text="polos")) == TextReceived("polos", 9, None)
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "l", "width": 800, "height": 800},
    ]
    shown = message_input(message(photo=photo, caption="Foto", caption_entities=bold))
    assert shown == MediaReceived("photo", "large", "<b>Foto</b>", 9)
    document = {"file_id": "doc", "file_unique_id": "d"}
    assert message_input(message(document=document)) == MediaReceived("document", "doc", "", 9)


def test_a_contact_is_own_only_when_it_is_the_senders() -> None:
    own = {"phone_number": "+62812", "first_name": "Budi", "user_id": 5}
    other = {"phone_number": "+62813", "first_name": "Ani", "user_id": 6}
    assert message_input(message(contact=own)) == ContactShared("+62812", True, 9)
    assert message_input(message(contact=other)) == ContactShared("+62813", False, 9)
    assert message_input(message(contact=own | {"user_id": None})).is_own is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (
            {
                "sticker": {
                    "file_id": "x",
                    "file_unique_id": "x",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
            "sticker",
        ),
        ({"location": {"latitude": -6.2, "longitude": 106.8}}, "location"),
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}}, "voice"),
        ({"dice": {"emoji": "🎲", "value": 3}}, "other"),
    ],
)
def test_other_kinds_are_named_not_mistaken_for_photos(content: dict[str, Any], kind: str) -> None:
    # python-telegram-bot gives an absent photo as an empty tuple, not None.
    assert message_input(message(**content)) == UnsupportedReceived(kind)


def test_a_press_knows_its_button_label_and_the_message_html() -> None:
    pressed = {
        "update_id": 77,
        "callback_query": {
            "id": "q1",
            "from": SENDER,
            "chat_instance": "c",
            "data": "3:yes",
            "message": {
                "message_id": 4,
                "date": 1_790_000_000,
                "chat": CHAT,
                "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                "text": "Benar?",
                "entities": [{"type": "italic", "offset": 0, "length": 5}],
                "reply_markup": {
                    "inline_keyboard": [[{"text": "✅ Ya", "callback_data": "3:yes"}]]
                },
            },
        },
    }
    update = parse_update(pressed, None)  # type: ignore[arg-type]
    assert isinstance(update, Update) and update.callback_query is not None
    incoming = incoming_callback(77, update.callback_query)
    assert incoming is not None
    assert incoming.input == ChoicePicked(seq=3, value="yes", message_id=4)
    assert incoming.pressed_label == "✅ Ya" and incoming.pressed_message_html == "<i>Benar</i>?"
    assert incoming.callback_query_id == "q1" and incoming.callback_message_id == 4


@pytest.mark.parametrize(
    "raw",
    [
        {"update_id": 1, "message": {"message_id": 1, "date": "kemarin", "chat": CHAT}},
        {"update_id": 2, "message": {"message_id": 1, "date": 1_790_000_000}},  # no chat
        {"update_id": 3, "callback_query": {"id": "q", "chat_instance": "c"}},  # no sender
        {"update_id": 4, "future_kind": {"text": "x"}},
        {"message": {"message_id": 1, "date": 1_790_000_000, "chat": CHAT}},  # no id
        ["not", "an", "object"],
    ],
)
def test_an_update_that_cannot_be_handled_is_skipped(raw: Any) -> None:
    assert parse_update(raw, None) is None  # type: ignore[arg-type]
