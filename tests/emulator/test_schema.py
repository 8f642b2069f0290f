"""The compact schema is up to date, carries no prose, and validation catches real mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import ApiError, BotApiSchema, UploadedFile
from emulator.generate_schema import render
from emulator.schema import SCHEMA_PATH

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
API_JSON = SHARED / "telegram-bot-api" / "api.json"


@pytest.fixture(scope="module")
def schema() -> BotApiSchema:
    return BotApiSchema.load()


def refusal(schema: BotApiSchema, method: str, params: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(ApiError) as caught:
        schema.validate_params(method, params, **kw)
    assert caught.value.error_code == 400
    return caught.value.description


@pytest.mark.skipif(not API_JSON.exists(), reason="shared/telegram-bot-api is not beside the repo")
def test_committed_schema_matches_generator() -> None:
    api = json.loads(API_JSON.read_text(encoding="utf-8"))
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(api), (
        "emulator/bot_api_schema.json is stale: run "
        "python -m emulator.generate_schema ../shared/telegram-bot-api/api.json"
    )


def test_schema_has_no_descriptions() -> None:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert "description" not in {key for method in data["methods"].values() for key in method}
    assert "Use this method" not in text and "href" not in text
    assert data["types"]["BotCommandScopeChat"]["fields"]["type"]["const"] == "chat"
    assert (
        "InlineKeyboardMarkup" in data["methods"]["sendMessage"]["fields"]["reply_markup"]["types"]
    )


def test_method_names_are_case_insensitive(schema: BotApiSchema) -> None:
    assert schema.canonical_method("sendmessage") == "sendMessage"
    assert schema.canonical_method("sendMesage") is None


def test_unknown_parameter_is_refused(schema: BotApiSchema) -> None:
    reason = refusal(schema, "sendMessage", {"chat_id": 1, "text": "x", "parse_mod": "HTML"})
    assert 'unknown parameter "parse_mod"' in reason


def test_missing_required_parameter(schema: BotApiSchema) -> None:
    assert "chat_id is empty" in refusal(schema, "sendMessage", {"text": "x"})
    assert refusal(schema, "sendMessage", {"chat_id": 1}) == "Bad Request: message text is empty"


def test_wrong_types(schema: BotApiSchema) -> None:
    assert "chat_id" in refusal(schema, "sendMessage", {"chat_id": [1], "text": "x"})
    assert "must be Boolean" in refusal(
        schema, "sendMessage", {"chat_id": 1, "text": "x", "disable_notification": "maybe"}
    )
    assert "must be Integer" in refusal(schema, "getUpdates", {"offset": "abc"})


def test_nested_typo_names_the_path(schema: BotApiSchema) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}, {"text": "B", "cb": "b"}]]}
    reason = refusal(schema, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup})
    assert "reply_markup.inline_keyboard[0][1].cb: unknown field of InlineKeyboardButton" in reason


def test_union_members_are_chosen_by_shape_and_discriminator(schema: BotApiSchema) -> None:
    params = schema.validate_params(
        "sendMessage",
        {"chat_id": "7", "text": "x", "reply_markup": '{"keyboard": [["Ya", {"text": "Tidak"}]]}'},
    )
    assert params["chat_id"] == 7
    assert params["reply_markup"]["keyboard"][0][0] == {"text": "Ya"}
    reason = refusal(
        schema,
        "setMyCommands",
        {"commands": [{"command": "a", "description": "b"}], "scope": {"type": "private"}},
    )
    assert "scope.type" in reason and "all_private_chats" in reason
    assert "needs field" in refusal(
        schema,
        "setMyCommands",
        {"commands": [{"command": "a", "description": "b"}], "scope": {"type": "chat"}},
    )


def test_form_strings_are_converted(schema: BotApiSchema) -> None:
    params = schema.validate_params(
        "getUpdates", {"offset": "-1", "timeout": "0", "allowed_updates": '["message"]'}
    )
    assert params == {"offset": -1, "timeout": 0, "allowed_updates": ["message"]}
    params = schema.validate_params(
        "sendMessage", {"chat_id": "@channel", "text": "123", "protect_content": "true"}
    )
    assert params == {"chat_id": "@channel", "text": "123", "protect_content": True}
    assert "can't parse JSON" in refusal(
        schema, "sendMessage", {"chat_id": "1", "text": "x", "reply_markup": "{not json"}
    )


def test_attached_files_are_resolved(schema: BotApiSchema) -> None:
    photo = UploadedFile(b"\x89PNG", "a.png", "image/png")
    params = schema.validate_params(
        "sendPhoto", {"chat_id": "1", "photo": "attach://p1"}, files={"p1": photo}
    )
    assert params["photo"] is photo
    assert 'no file part "p2"' in refusal(
        schema, "sendPhoto", {"chat_id": "1", "photo": "attach://p2"}, files={"p1": photo}
    )
    assert schema.validate_params("sendPhoto", {"chat_id": 1, "photo": "FILEID"})["photo"] == (
        "FILEID"
    )


def test_legacy_parameters_telegram_still_accepts(schema: BotApiSchema) -> None:
    params = schema.validate_params(
        "sendMessage",
        {"chat_id": 1, "text": "x", "reply_to_message_id": "5", "disable_web_page_preview": "1"},
    )
    assert params["reply_to_message_id"] == 5 and params["disable_web_page_preview"] is True
    assert "unknown parameter" in refusal(schema, "getMe", {"reply_to_message_id": 1})


def test_objects_the_emulator_produces_can_be_checked(schema: BotApiSchema) -> None:
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "text": "hi",
        },
    }
    assert schema.validate_object("Update", update) == update
    with pytest.raises(ApiError, match=r"Update.message.chat"):
        schema.validate_object(
            "Update", {"update_id": 1, "message": {**update["message"], "chat": {"id": 1}}}
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["chat_id", "text", "reply_markup", "entities", "parse_mode", "x"]),
        json_values | st.text(max_size=20),
        max_size=5,
    )
)
def test_validation_never_crashes(params: dict[str, Any]) -> None:
    """Any input is either accepted or refused with a 400, never an internal error."""
    schema = BotApiSchema.load()
    try:
        schema.validate_params("sendMessage", params)
    except ApiError as error:
        assert error.error_code == 400
