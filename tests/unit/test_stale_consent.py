"""Issue 6 item 1: the salary-deduction consent holds only for the statement the sponsor read.

Any change after it that would make the statement read differently (the worker's name, the NIK,
the language, the sponsor's own data) voids it: the consent is asked again, and Simpan saves
nothing until it is given.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from bot.i18n import Renderer
from flows.commands import SubmitSponsorship
from flows.effects import Message
from flows.engine import BOUND
from flows.inputs import ChoicePicked
from tests.unit.flowkit import Chat
from tests.unit.test_flows import at_summary

SAME_MASK_NIK = "3205015203850001"  # reads 3205********0001 like the NIK consented to


def submitted(chat: Chat) -> list[SubmitSponsorship]:
    return [c for c in chat.host.applied if isinstance(c, SubmitSponsorship)]


def consent_shown(chat: Chat, language: str = "id") -> str:
    (message,) = [e for e in chat.sent if isinstance(e, Message) and "ask_consent" in e.text.key]
    return Renderer(language)(message.text)


def test_editing_the_worker_name_after_consent_asks_for_consent_again() -> None:
    chat = at_summary()
    chat.press("edit:worker_name")
    chat.type("Asep Sunandar")
    assert chat.session.step == "consent"
    assert chat.message_keys() == ["answer.agreement_changed", "sponsorship.ask_consent"]
    assert "Asep Sunandar" in consent_shown(chat) and "Ujang" not in consent_shown(chat)
    assert "save" not in chat.values()
    chat.press("save")  # an old Simpan button, or forged: refused, nothing saved
    assert chat.message_keys() == ["toast.stale"] and not submitted(chat)
    chat.press("agree")
    assert chat.session.step == "summary" and "save" in chat.values()
    chat.press("save")
    (command,) = submitted(chat)
    assert command.consent.statement.params["worker"].text == "Asep Sunandar"  # type: ignore[union-attr]


def test_editing_the_nik_after_consent_asks_for_consent_again_even_when_it_reads_the_same() -> None:
    chat = at_summary()
    chat.press("edit:nik")
    chat.type(SAME_MASK_NIK)
    assert "answer.agreement_changed" in chat.message_keys()  # told at once
    chat.press("ok")
    assert chat.session.step == "consent"
    assert "3205********0001" in consent_shown(chat)
    chat.press("agree")
    chat.press("save")
    (command,) = submitted(chat)
    assert command.worker.nik == SAME_MASK_NIK


def test_editing_what_the_statement_does_not_name_keeps_the_consent() -> None:
    chat = at_summary()
    given = chat.session.answers["consent_given_at"]
    chat.press("edit:worker_phone")
    chat.type("0813-1111-2222")
    assert chat.session.step == "summary"
    assert "answer.agreement_changed" not in chat.message_keys()
    chat.press("edit:district")
    chat.press("32.05.02")
    chat.press(chat.values()[0])  # the first village of that district
    assert chat.session.step == "summary" and "save" in chat.values()
    chat.press("save")
    (command,) = submitted(chat)
    assert command.consent.given_at.isoformat() == given


def test_changing_the_language_after_consent_asks_for_it_again_in_that_language() -> None:
    chat = at_summary()
    chat.command("bahasa")
    chat.press("lang:en")
    chat.press("save")
    assert not submitted(chat)
    assert chat.session.step == "consent"
    assert chat.message_keys() == ["answer.agreement_changed", "sponsorship.ask_consent"]
    assert "WILLINGNESS TO HAVE MY SALARY DEDUCTED" in consent_shown(chat, "en")
    chat.press("agree")
    chat.press("save")
    assert len(submitted(chat)) == 1


def test_a_change_of_the_sponsors_own_data_voids_the_consent_before_saving() -> None:
    chat = at_summary()
    assert chat.host.sponsor is not None
    chat.host.sponsor = replace(chat.host.sponsor, full_name="Dra. Siti Aminah Lubis")
    chat.press("save")
    assert not submitted(chat) and chat.session.step == "consent"
    assert "Siti Aminah Lubis" in consent_shown(chat)


def test_going_back_from_the_voided_consent_does_not_offer_simpan() -> None:
    chat = at_summary()
    chat.press("edit:worker_name")
    chat.type("Asep Sunandar")
    chat.press("back")
    assert chat.session.step == "summary"
    assert "save" in chat.values()  # the same value, but labelled as a way to the question
    labels = [b.label.key for row in chat.last().buttons for b in row]  # type: ignore[union-attr]
    assert "button.save" not in labels and "button.answer_missing" in labels
    chat.press("save")
    assert not submitted(chat)
    assert chat.message_keys() == ["answer.answer_first", "sponsorship.ask_consent"]
    assert chat.session.step == "consent"


def test_the_fingerprint_is_kept_with_the_consent_and_dropped_with_it() -> None:
    chat = at_summary()
    assert chat.session.answers.get("consent" + BOUND)
    chat.press("edit:programme")
    chat.press("jkk_jkm_jht")
    assert "consent" not in chat.session.answers
    assert "consent" + BOUND not in chat.session.answers


def test_consent_pressed_after_the_month_turned_shows_the_new_statement_first() -> None:
    """Shown on 30 November ("mulai Desember 2026"), pressed on 1 December: the statement now
    reads "Januari 2027", so the press does not count; the new wording is shown and asked."""
    chat = at_summary()
    chat.press("edit:programme")
    chat.press("jkk_jkm_jht")
    assert chat.session.step == "consent"
    assert "Desember 2026" in consent_shown(chat)
    shown_then = chat.shown("agree")
    chat.now = datetime(2026, 12, 1, 0, 1, tzinfo=chat.now.tzinfo)
    chat.do(ChoicePicked(chat.session.seq, shown_then, 77))
    assert chat.message_keys() == ["answer.statement_updated", "sponsorship.ask_consent"]
    assert "consent" not in chat.session.answers
    assert "Januari 2027" in consent_shown(chat)
    chat.press("agree")
    chat.press("save")
    (command,) = submitted(chat)
    assert command.consent.first_month == date(2027, 1, 1)


def test_a_consent_press_without_the_wording_tag_is_not_taken() -> None:
    chat = at_summary()
    chat.press("edit:programme")
    chat.press("jkk_jkm_jht")
    chat.do(ChoicePicked(chat.session.seq, "agree", 77))  # forged or from an old client
    assert chat.message_keys() == ["answer.statement_updated", "sponsorship.ask_consent"]
    assert "consent" not in chat.session.answers
