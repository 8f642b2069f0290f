"""The worker's check that it is really them: which answers are a try, which are asked again.

A failed try brings the link nearer to its lock (three wrong tries), so only a well-formed answer
that is wrong may cost one; a date typed in another common form, in other digits, or just the
birth year must not.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.commands import Applied, FailVerification
from flows.validators import normalize_digits
from tests.unit.flowkit import Chat
from tests.unit.test_worker_and_rights_flows import DETAILS, opened

# DETAILS: NIK ending "0001", born 1990-01-05.
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def tries(chat: Chat) -> int:
    return sum(isinstance(command, FailVerification) for command in chat.host.applied)


def scripted_failures(chat: Chat) -> Chat:
    chat.host.scripted[FailVerification] = [
        Applied(reference=DETAILS.reference, attempts_left=left) for left in (2, 1, 0, 0, 0)
    ]
    return chat


@pytest.mark.parametrize(
    "answer",
    [
        "1990-01-05",
        "05-01-1990",
        "05/01/1990",
        "5/1/1990",
        "05.01.1990",
        "05011990",
        "5 Januari 1990",
        "5 Jan 1990",
        "January 5, 1990",
        "٠٥-٠١-١٩٩٠",
        "0001",
        "٠٠٠١",
        "０００１",
        "00 01",
    ],
)
def test_every_common_form_of_the_right_answer_verifies(answer: str) -> None:
    chat = opened()
    chat.type(answer)
    assert chat.session.step == "review", chat.message_keys()
    assert tries(chat) == 0


@pytest.mark.parametrize(
    "answer",
    ["1990", "hello", "kemarin", "31-02-1990", "05-1990", "12345", "5-1-90", "05.01.90", "5/1/90"],
)
def test_what_is_not_a_date_nor_four_digits_costs_no_try(answer: str) -> None:
    chat = scripted_failures(opened())
    chat.type(answer)
    assert tries(chat) == 0
    assert chat.session.step == "verify" and chat.session.active
    assert chat.message_keys()[0] == "answer.rejected"


def test_the_birth_year_alone_is_asked_again_as_a_full_date() -> None:
    chat = opened()
    chat.type("1990")
    assert "Tahun saja belum cukup" in chat.rendered()
    assert "(it does not count as a try)" in chat.rendered("en")
    chat.type("١٩٩٠")
    assert tries(chat) == 0


def test_the_form_reminder_says_it_was_not_a_try() -> None:
    chat = opened()
    chat.type("hello")
    assert "tidak dihitung sebagai percobaan" in chat.rendered()
    assert "17 Agustus 1990" in chat.rendered()


@pytest.mark.parametrize(
    "answer",
    [
        "1991-01-05",
        "06-01-1990",
        "5 Februari 1990",
        "9999",
        "1991",  # not the birth year: a guess at the NIK's ending
        "٩٩٩٩",
    ],
)
def test_a_well_formed_wrong_answer_costs_one_try(answer: str) -> None:
    chat = scripted_failures(opened())
    chat.type(answer)
    assert tries(chat) == 1
    assert chat.message_keys() == ["worker.verify_wrong", "worker.ask_verify"]


@pytest.mark.parametrize("answer", ["9001", "0901", "0091", "0000", "0002", "1001", "0011"])
def test_every_one_of_the_four_last_digits_is_compared(answer: str) -> None:
    """The NIK ends in "0001": an answer differing in any one of the four digits is wrong."""
    chat = scripted_failures(opened())
    chat.type(answer)
    assert tries(chat) == 1
    assert chat.session.step == "verify"


@pytest.mark.parametrize("answer", ["05-01-1991", "05-02-1990", "06-01-1990", "15-01-1990"])
def test_every_part_of_the_birth_date_is_compared(answer: str) -> None:
    chat = scripted_failures(opened())
    chat.type(answer)
    assert tries(chat) == 1


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_answer_is_a_step_forward_a_try_or_a_question_again(answer: str) -> None:
    """Never an exception; at most one try; a try only for an answer with 4 or more digits."""
    chat = scripted_failures(opened())
    chat.type(answer)
    spent = tries(chat)
    assert spent <= 1
    if spent:
        assert sum(char.isdecimal() for char in normalize_digits(answer)) >= 4
        assert chat.message_keys() == ["worker.verify_wrong", "worker.ask_verify"]
    elif chat.session.step == "verify":
        assert chat.message_keys()[0] == "answer.rejected"
    else:
        assert chat.session.step == "review"
