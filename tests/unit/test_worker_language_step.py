"""The sponsor chooses the worker's language (issue 12): a question of the sponsorship flow, with
Indonesian first and the region's own next, a way back, an edit from the summary, and the choice
carried to the sponsorship and its invitation."""

from __future__ import annotations

from flows.commands import SubmitSponsorship
from flows.effects import ShowInvitation
from tests.unit.flowkit import VALID_NIK, signed_up
from tests.unit.test_flows import JOURNEY, run


def test_the_question_offers_indonesian_then_sundanese_in_garut_with_a_way_back() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:6])
    assert chat.session.step == "worker_language"
    assert chat.message_keys()[-1] == "languages.worker_ask"
    assert chat.values()[:3] == ["id", "su", "jv"]  # Garut is in Jawa Barat: Sundanese next
    assert "en" not in chat.values()  # a worker may not read English
    assert "Ujang Suryana" in chat.rendered()
    chat.press("back")
    assert chat.session.step == "worker_phone"


def test_the_choice_goes_with_the_sponsorship_and_its_invitation_and_can_be_edited() -> None:
    chat = signed_up()
    steps = [("press", "jv", s) if s == "district" else (a, v, s) for a, v, s in JOURNEY]
    run(chat, steps)
    assert chat.session.step == "summary"
    assert chat.session.answers["worker_language"] == "jv"
    assert "• No. HP: +6281234567890\n• Bahasa pekerja: 🗣️ Basa Jawa\n" in chat.rendered()
    chat.press("edit:worker_language")
    assert chat.session.step == "worker_language"
    chat.press("su")
    assert chat.session.step == "summary"  # nothing else to ask again: the consent still holds
    chat.press("save")
    (submitted,) = [c for c in chat.host.applied if isinstance(c, SubmitSponsorship)]
    assert submitted.worker_language == "su" and submitted.worker.nik == VALID_NIK
    (invitation,) = [e for e in chat.sent if isinstance(e, ShowInvitation)]
    assert invitation.language == "su"


def test_a_forged_language_is_not_taken() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:6])
    chat.press("en")
    assert chat.session.step == "worker_language"
    chat.press("xx")
    assert chat.session.step == "worker_language"
