"""Admin input and callback data with digits of other scripts or forged values: read as ASCII
numbers or refused, never an exception (which the user would see as the apology)."""

from __future__ import annotations

from datetime import date

import pytest
from aiogram.types import CallbackQuery, User
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram_aiogram.adapter import callback_input
from flows.commands import ActivateCoverage, ResolveRequest
from flows.effects import Apply, Toast
from tests.unit.flowkit import Chat

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def admin() -> Chat:
    chat = Chat(user_id=9)
    chat.host.is_admin = True
    return chat


@pytest.mark.parametrize(
    "argument",
    [
        "PR-ABCDEF 23012345678 2026-12-01",
        "pr-abcdef 23012345678 01/12/2026",
        "PR-ABCDEF 23012345678 1 Desember 2026",
        "PR-ABCDEF 23012345678 1 December 2026",
        "PR-ABCDEF 23012345678 2026-12-01".translate(ARABIC_INDIC),
        "ＰＲ-ＡＢＣＤＥＦ ２３０１２３４５６７８ ２０２６-１２-０１",  # full width
        "  PR-ABCDEF   23012345678   2026-12-01  ",
    ],
)
def test_activation_reads_digits_of_any_script_and_any_date_form(argument: str) -> None:
    chat = admin()
    chat.command("aktifkan", argument)
    assert chat.host.applied == [ActivateCoverage("PR-ABCDEF", "23012345678", date(2026, 12, 1), 9)]
    assert chat.message_keys() == ["admin.activated"]


@pytest.mark.parametrize(
    "argument",
    [
        "",
        "PR-ABCDEF",
        "PR-ABCDEF 23012345678",
        "PR-ABCDEF 2301234 2026-12-01",  # 7 digits
        "PR-ABCDEF 23012345678901234 2026-12-01",  # 17 digits
        "PR-ABCDEF -23012345678 2026-12-01",
        "PR-ABCDEF 2301_2345678 2026-12-01",
        "PR-ABCDEF 2301234567½ 2026-12-01",
        "PR-ABCDEF 2301234567\u19da 2026-12-01",  # isdigit() is True, int() raises
        "PR-ABCDEF 23012345678 2026-13-01",
        "PR-ABCDEF 23012345678 besok",
        "PR-ABCDEF 23012345678 2026",
    ],
)
def test_a_malformed_activation_gets_the_usage(argument: str) -> None:
    chat = admin()
    chat.command("aktifkan", argument)
    assert chat.host.applied == []
    assert chat.message_keys() == ["admin.activate_usage"]


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_any_activation_argument_is_applied_or_explained(argument: str) -> None:
    chat = admin()
    chat.command("aktifkan", argument)
    applied = chat.host.applied
    if applied:
        [command] = applied
        assert isinstance(command, ActivateCoverage)
        assert command.kpj_number.isascii() and command.kpj_number.isdigit()
        assert chat.message_keys() == ["admin.activated"]
    else:
        assert chat.message_keys() == ["admin.activate_usage"]


def test_resolve_with_a_superscript_digit_is_read_as_that_digit() -> None:
    """`"²".isdigit()` is True and `int("²")` raises: NFKC reads it as 2, no exception."""
    chat = admin()
    chat.press("act:resolve:²", seq=0)
    assert chat.host.applied == [ResolveRequest(9, 2, chat.now)]
    chat = admin()
    chat.press("act:resolve:" + "17".translate(ARABIC_INDIC), seq=0)
    assert chat.host.applied == [ResolveRequest(9, 17, chat.now)]


@pytest.mark.parametrize(
    "value",
    [
        "act:resolve:",
        "act:resolve:½",
        "act:resolve:\u19da",  # isdigit() is True, int() raises
        "act:resolve:-1",
        "act:resolve: 1",
        "act:resolve:1_0",
        "act:resolve:1e3",
        "act:resolve:x",
        "act:resolve:1234567890",  # beyond a 32-bit request id
        "act:resolve:99999999999999999999999",
    ],
)
def test_a_forged_resolve_button_gets_a_toast(value: str) -> None:
    chat = admin()
    chat.press(value, seq=0)
    assert chat.host.applied == []
    assert [type(effect) for effect in chat.sent] == [Toast]
    assert chat.message_keys() == ["toast.stale"]


@given(st.text(max_size=40))
@settings(max_examples=300)
def test_any_resolve_argument_is_a_request_id_or_a_toast(argument: str) -> None:
    chat = admin()
    chat.press("act:resolve:" + argument, seq=0)
    applies = [effect for effect in chat.sent if isinstance(effect, Apply)]
    if chat.host.applied:
        [command] = chat.host.applied
        assert isinstance(command, ResolveRequest) and 0 <= command.request_id < 10**9
    else:
        assert not applies and chat.message_keys() == ["toast.stale"]


def callback(data: str) -> CallbackQuery:
    user = User(id=5, is_bot=False, first_name="Budi")
    return CallbackQuery(id="1", from_user=user, chat_instance="c", data=data)


#: Callback data and the prompt number read from it (-1: refused); tests/unit/test_ptb_updates.py
#: holds python-telegram-bot's adapter to the same table.
PROMPT_NUMBERS = [
    ("3:menu:status", 3),
    ("٣:menu:status", 3),
    ("²:menu:status", 2),
    (" 3:menu:status", -1),
    ("3_0:menu:status", -1),
    ("-3:menu:status", -1),
    ("½:menu:status", -1),
    ("1" * 19 + ":menu:status", -1),
    ("menu:status", -1),
    ("", -1),
]


@pytest.mark.parametrize(("data", "seq"), PROMPT_NUMBERS)
def test_the_prompt_number_in_callback_data_is_digits_only(data: str, seq: int) -> None:
    assert callback_input(callback(data)).seq == seq  # type: ignore[attr-defined]
