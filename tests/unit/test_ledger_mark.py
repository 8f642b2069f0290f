"""Marking a month deducted from /rekap (flows.router, flows.recap, bot.exports.recap): who gets
the button, the question and its confirmation, and forged presses refused with nothing applied."""

from __future__ import annotations

from datetime import date

import pytest

from bot.exports.deductions import DeductionSummary
from bot.exports.recap import summary
from bot.i18n import Renderer
from flows import callbacks
from flows.access import Role, Scope
from flows.commands import Applied, MarkMonthDeducted
from flows.effects import Message, Toast
from tests.unit.flowkit import PROGRAMME, Chat

TREASURER = Scope.of(Role.TREASURER, ["dinkes"])
OPERATOR = Scope.of(Role.OPERATOR, ["dinkes", "disdik"])
DECEMBER = date(2026, 12, 1)


def staff(scope: Scope | None, user_id: int = 42) -> Chat:
    chat = Chat(user_id=user_id)
    chat.host.scope = scope
    chat.host.language = "id"
    return chat


def test_a_treasurer_is_asked_then_marks_the_month() -> None:
    chat = staff(TREASURER)
    effects = chat.press(callbacks.ledger_mark("2026-12", None, 3))
    assert chat.host.applied == []  # asking marks nothing
    question = chat.last()
    assert question.text.key == "ledger_mark.question"
    assert question.text.params["rows"] == 3
    rendered = Renderer("id")(question.text)
    assert "Tandai 3 baris 2026-12 Dinas Kesehatan sebagai sudah dipotong?" in rendered
    assert chat.values() == [
        callbacks.ledger_mark_confirmed("2026-12", None),
        callbacks.ledger_mark_cancelled("2026-12"),
    ]
    assert not any(isinstance(effect, Toast) for effect in effects)
    chat.host.scripted[MarkMonthDeducted] = [Applied(row_count=3)]
    chat.press(callbacks.ledger_mark_confirmed("2026-12", None))
    assert chat.host.applied == [MarkMonthDeducted(42, DECEMBER, None)]
    assert chat.message_keys() == ["ledger_mark.done"]
    assert "3 baris ditandai" in chat.rendered()


def test_a_superadmin_marks_one_agency_or_all() -> None:
    chat = staff(Scope.superadmin())
    chat.press(callbacks.ledger_mark("2026-12", "disdik", 2))
    assert chat.last().text.key == "ledger_mark.question"
    chat.press(callbacks.ledger_mark_confirmed("2026-12", "disdik"))
    chat.press(callbacks.ledger_mark_confirmed("2026-12", None))
    assert chat.host.applied == [
        MarkMonthDeducted(42, DECEMBER, "disdik"),
        MarkMonthDeducted(42, DECEMBER, None),
    ]


def test_cancel_marks_nothing() -> None:
    chat = staff(TREASURER)
    chat.press(callbacks.ledger_mark_cancelled("2026-12"))
    assert chat.host.applied == []
    assert chat.message_keys() == ["ledger_mark.cancelled"]


@pytest.mark.parametrize(
    "value",
    [
        callbacks.ledger_mark("2026-12", None, 3),
        callbacks.ledger_mark_confirmed("2026-12", None),
        callbacks.ledger_mark_confirmed("2026-12", "dinkes"),
    ],
)
def test_an_operator_may_not_mark_even_their_own_agency(value: str) -> None:
    chat = staff(OPERATOR)
    chat.press(value)
    assert chat.host.applied == []
    assert chat.message_keys() == ["toast.not_allowed"]


@pytest.mark.parametrize(
    "value",
    [
        callbacks.ledger_mark("2026-12", "disdik", 3),
        callbacks.ledger_mark_confirmed("2026-12", "disdik"),
    ],
)
def test_a_treasurer_cannot_mark_another_agency(value: str) -> None:
    chat = staff(TREASURER)
    chat.press(value)
    assert chat.host.applied == []
    assert chat.message_keys() == ["toast.not_allowed"]


@pytest.mark.parametrize(
    "value",
    [
        callbacks.ledger_mark("2026-12", None, 3),
        callbacks.ledger_mark_confirmed("2026-12", None),
        callbacks.ledger_mark_cancelled("2026-12"),
    ],
)
def test_an_outsider_gets_the_stale_notice(value: str) -> None:
    chat = staff(None)
    chat.press(value)
    assert chat.host.applied == []
    assert chat.message_keys() == ["toast.stale"]


@pytest.mark.parametrize(
    "value",
    [
        "act:lmark:2026-12",
        "act:lmark:2026-13:3",
        "act:lmark:2026-12:x:dinkes",
        "act:lmark:2026-12:3:dinkes:more",
        "act:lmarkok:bogus",
        "act:lmarkok:2026-12:",
    ],
)
def test_mangled_data_gets_the_stale_notice(value: str) -> None:
    chat = staff(Scope.superadmin())
    chat.press(value)
    assert chat.host.applied == []
    assert chat.message_keys() == ["toast.stale"]


def test_the_host_refusing_is_worded() -> None:
    chat = staff(TREASURER)
    chat.host.refuse[MarkMonthDeducted] = "not_allowed"
    chat.press(callbacks.ledger_mark_confirmed("2026-12", None))
    assert chat.message_keys() == ["ledger_mark.refused"]


def _mark_buttons(scope: Scope, unmarked: int) -> list[str]:
    shown = summary(
        DeductionSummary(rows=5, total=84_000, unmarked=unmarked),
        DECEMBER,
        scope,
        None,
        PROGRAMME.catalog,
        Renderer("id"),
    )
    values = [value for row in shown.inline_keyboard for _label, value in row]
    return [value for value in values if ":act:lmark:" in value]


def test_the_recap_offers_the_mark_button_to_those_who_may_mark_rows_still_unmarked() -> None:
    assert _mark_buttons(TREASURER, 3) == [
        callbacks.encode(callbacks.TIMELESS, callbacks.ledger_mark("2026-12", None, 3))
    ]
    assert len(_mark_buttons(Scope.superadmin(), 1)) == 1
    assert _mark_buttons(OPERATOR, 3) == []
    assert _mark_buttons(TREASURER, 0) == []


def test_a_recap_question_is_a_message_in_both_languages() -> None:
    chat = staff(TREASURER)
    chat.press(callbacks.ledger_mark("2026-12", "dinkes", 1))
    assert isinstance(chat.last(), Message)
    assert "Mark 1 row of 2026-12 Dinas Kesehatan as deducted?" in chat.rendered("en")


@pytest.mark.parametrize("scope", [TREASURER, OPERATOR, Scope.superadmin()])
def test_staff_read_rekap_and_statistik_in_the_help(scope: Scope) -> None:
    chat = staff(scope)
    chat.command("bantuan")
    for language in ("id", "en"):
        shown = chat.rendered(language)
        assert "/rekap" in shown and "/statistik" in shown and "/bantuan" in shown
        assert "/umumkan" in shown and "/pengingat " in shown and "/kampanye" in shown


def test_ordinary_users_do_not_read_them() -> None:
    for chat in (staff(None), staff(None, user_id=7)):
        chat.command("bantuan")
        assert "/bantuan" in chat.rendered()
        assert "/rekap" not in chat.rendered() and "/statistik" not in chat.rendered()
        assert "/umumkan" not in chat.rendered()
        # Everyone can stop announcements and reminders, and is told how.
        assert "/berhenti " in chat.rendered() and "/berhenti_pengingat" in chat.rendered()
    worker = staff(None)
    worker.host.is_worker = True
    worker.command("bantuan")
    assert "/status" in worker.rendered() and "/rekap" not in worker.rendered()
    assert "/berhenti " in worker.rendered()  # a worker can stop announcements too
