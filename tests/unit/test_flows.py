"""The conversations as data: inputs in, messages, session and commands out. No I/O."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from flows.commands import RegisterSponsor, SubmitSponsorship
from flows.effects import Apply
from flows.inputs import UnsupportedReceived
from flows.session import Session
from tests.unit.flowkit import VALID_NIK, VALID_NIP, Chat, signed_up

# The sponsorship journey as (action, argument, step after it). Used by several tests.
JOURNEY = [
    ("press", "rumah_tangga", "job"),
    ("press", "art", "worker_name"),
    ("type", "Ujang Suryana", "nik"),
    ("type", VALID_NIK, "nik_confirm"),
    ("press", "ok", "worker_phone"),
    ("type", "0812-3456-7890", "worker_language"),
    ("press", "id", "district"),
    ("press", "32.05.01", "village"),
    ("press", "32.05.01.1001", "programme"),
    ("press", "jkk_jkm", "payment"),
    ("press", "salary_deduction", "consent"),
    ("press", "agree", "summary"),
]


def run(chat: Chat, steps: list[tuple[str, str, str]]) -> None:
    for action, argument, expected_step in steps:
        getattr(chat, action)(argument)
        assert chat.session.step == expected_step, (argument, chat.message_keys())


def at_summary() -> Chat:
    chat = signed_up()
    run(chat, JOURNEY)
    return chat


def test_first_start_asks_language_then_signup_then_sponsorship() -> None:
    chat = Chat()
    chat.command("start")
    assert chat.message_keys() == ["welcome"]
    assert chat.values() == ["lang:id", "lang:en", "lang:su", "lang:jv"]
    chat.press("lang:en")
    assert chat.host.language == "en"
    assert chat.message_keys() == [
        "language.saved",
        "privacy_2026_12.sponsor_notice",
        "prompt.intro",
    ]
    chat.type(VALID_NIP)
    assert "Male" in chat.rendered("en") and "March 15, 1985" in chat.rendered("en")
    chat.press("yes")
    chat.type("Budi Santoso")
    chat.press("dinkes")
    assert chat.last().request_contact is not None
    chat.share_contact("+6281234567890")
    assert chat.host.sponsor == RegisterSponsor(
        1001, VALID_NIP, "PNS", "Budi Santoso", "dinkes", "+6281234567890"
    )
    assert chat.message_keys() == [
        "contact.received",
        "signup.done",
        "prompt.intro",
    ]
    assert chat.sent[0].remove_keyboard  # type: ignore[union-attr]
    assert chat.session.flow == "sponsorship"


def test_whole_sponsorship_journey_submits_one_command_with_consent() -> None:
    chat = at_summary()
    summary = chat.rendered()
    assert "3205********0001" in summary and VALID_NIK not in summary
    assert "Kota Kulon" in summary and "Garut Kota" in summary and "16.800" in summary
    chat.press("save")
    assert chat.message_keys() == ["sponsorship.saved"]
    assert "PR-TEST1" in chat.rendered()
    (command,) = chat.host.sponsorships
    assert command.worker.nik == VALID_NIK
    assert command.worker.phone_e164 == "+6281234567890"
    assert command.worker.village_name == "Kota Kulon"
    assert command.monthly_amount == 16800
    assert command.payment_method == "salary_deduction"
    assert command.consent.amount == 16800
    assert command.consent.first_month == date(2026, 12, 1)
    assert command.consent.message_id == 77
    assert command.consent.statement.key == "consent_2026_12.salary_deduction"
    assert command.idempotency_key.startswith("draft-")  # the draft's id, made at flow start
    assert not chat.session.active


def test_save_pressed_twice_applies_once() -> None:
    chat = at_summary()
    seq = chat.session.seq
    chat.press("save", seq=seq)
    chat.press("save", seq=seq)
    assert len(chat.host.sponsorships) == 1
    assert chat.message_keys() == ["toast.stale"]


BAD_INPUTS = {
    "relationship": [("type", "tetangga"), ("press", "forged-value"), ("press", "art")],
    "job": [("type", "zzzzqqq"), ("press", "forged-value"), ("press", "tetangga")],
    "worker_name": [("type", "12345"), ("type", "A"), ("press", "art")],
    "nik": [("type", "123"), ("type", "3205014501900000"), ("type", "9905014501900001")],
    "nik_confirm": [("type", "ya")],
    "worker_phone": [("type", "022-1234567"), ("type", "hello")],
    "district": [("type", "zzzzqqq"), ("press", "32.05.01.1001")],
    "programme": [("type", "jkk")],
    "payment": [("press", "cash")],
    "consent": [("type", "setuju"), ("press", "disagree")],
    "summary": [("type", "simpan")],
}


@pytest.mark.parametrize("step", list(BAD_INPUTS))
def test_bad_input_at_every_step_explains_and_changes_nothing(step: str) -> None:
    chat = signed_up()
    steps = [s for _, _, s in JOURNEY]
    run(chat, JOURNEY[: steps.index(step) + 1] if step != "relationship" else [])
    assert chat.session.step == step
    for action, argument in [*BAD_INPUTS[step], ("unsupported", "sticker")]:
        answers = dict(chat.session.answers)
        if action == "unsupported":
            chat.do(UnsupportedReceived(argument))
        else:
            getattr(chat, action)(argument)
        assert chat.session.step == step
        assert chat.session.answers == answers
        assert not any(isinstance(e, Apply) for e in chat.sent)
        first = chat.message_keys()[0]
        assert first in ("answer.rejected", "answer.stuck", "toast.stale"), chat.message_keys()
        if first != "toast.stale":
            assert chat.rendered().startswith("❗")


def test_three_failures_offer_help_or_cancel_not_a_loop() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:3])
    for _ in range(2):
        chat.type("123")
        assert chat.message_keys() == ["answer.rejected"]
    chat.type("123")
    assert chat.message_keys() == ["answer.stuck"]
    assert chat.values() == ["retry", "help", "cancel"]
    chat.press("help")
    assert chat.message_keys() == ["help.step", "sponsorship.ask_nik"]
    chat.type(VALID_NIK)
    assert chat.session.step == "nik_confirm"


def test_back_walks_to_the_previous_question_at_every_step() -> None:
    chat = at_summary()
    visited = ["relationship", *[s for _, _, s in JOURNEY][:-1]]
    chat.press("edit:worker_name")
    chat.press("back")
    assert chat.session.step == "summary"
    # Back from the summary is not offered; from a fresh flow, back goes one step at a time.
    chat = signed_up()
    run(chat, JOURNEY[:-1])
    for expected in reversed(visited[:-1]):
        chat.press("back")
        assert chat.session.step == expected
    chat.press("back")
    assert chat.message_keys() == ["nav.first_question", "relationship.ask"]


def test_cancel_command_clears_the_draft() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:4])
    chat.command("batal")
    assert chat.message_keys() == ["cancel.done"]
    assert chat.session == Session(seq=chat.session.seq, updated_at=chat.session.updated_at)
    chat.command("batal")
    assert chat.message_keys() == ["cancel.nothing"]


def test_help_command_explains_the_current_step_and_asks_again() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:3])
    chat.command("bantuan")
    assert chat.message_keys() == ["help.step", "sponsorship.ask_nik"]


def test_stale_and_forged_buttons_change_nothing() -> None:
    chat = signed_up()
    old_seq = chat.session.seq
    chat.press("tetangga")
    before = chat.session
    chat.press("keluarga", seq=old_seq)
    assert chat.message_keys() == ["toast.stale"] and chat.session.answers == before.answers
    chat.press("../../admin")
    assert chat.message_keys() == ["answer.rejected"] or chat.message_keys() == ["toast.stale"]


def test_someone_elses_contact_is_refused_and_typed_phone_accepted() -> None:
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.type(VALID_NIP)
    chat.press("yes")
    chat.type("Budi")
    chat.type("kesehatan")
    assert chat.values()[0] == "dinkes"
    chat.press("dinkes")
    chat.share_contact("6281299998888", own=False)
    assert chat.message_keys() == ["answer.rejected"] and chat.session.step == "phone"
    chat.type("0812 1111 2222")
    assert chat.host.sponsor is not None and chat.host.sponsor.phone_e164 == "+6281211112222"


def test_nip_can_be_corrected_after_seeing_what_it_encodes() -> None:
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.type(VALID_NIP)
    chat.press("no")
    assert chat.session.step == "nip"
    chat.type("199001012023212002")
    assert "PPPK" in chat.rendered() and "Perempuan" in chat.rendered()


def test_relationship_then_job_are_asked_and_submitted_apart() -> None:
    chat = signed_up()
    assert chat.session.step == "relationship"
    assert chat.values()[:4] == ["rumah_tangga", "tetangga", "keluarga", "tidak_ada"]
    chat.press("tetangga")
    assert chat.session.step == "job" and chat.message_keys() == ["prompt.list"]
    assert "job.ask" in repr(chat.last().text)
    # A long list: 8 a page, found by typing a word of the job (its search terms).
    assert chat.values()[:2] == ["art", "sopir"] and "page:next" in chat.values()
    chat.type("ngaji")
    assert chat.values()[0] == "guru_ngaji"
    chat.press("guru_ngaji")
    assert chat.session.step == "worker_name"
    run(chat, JOURNEY[2:])
    summary = chat.rendered()
    assert "Pekerjaan: Guru ngaji" in summary and "Hubungan: Tetangga" in summary
    chat.press("save")
    worker = chat.host.sponsorships[0].worker
    assert (worker.relationship, worker.job, worker.job_other) == ("tetangga", "guru_ngaji", None)


def test_other_job_asks_for_a_description() -> None:
    chat = signed_up()
    chat.press("tidak_ada")
    chat.type("lain")
    chat.press("lainnya")
    assert chat.session.step == "job_other" and chat.message_keys() == ["job.ask_other"]
    chat.type("Tukang becak")
    assert chat.session.step == "worker_name"
    run(chat, JOURNEY[2:])
    assert "Pekerjaan: Tukang becak" in chat.rendered()
    chat.press("save")
    worker = chat.host.sponsorships[0].worker
    assert (worker.relationship, worker.job, worker.job_other) == (
        "tidak_ada",
        "lainnya",
        "Tukang becak",
    )


def test_back_from_the_description_asks_the_job_then_the_relationship() -> None:
    chat = signed_up()
    chat.press("keluarga")
    chat.type("lain")
    chat.press("lainnya")
    chat.press("back")
    assert chat.session.step == "job"
    chat.press("back")
    assert chat.session.step == "relationship"


def test_editing_the_job_from_the_summary_asks_a_description_only_for_other() -> None:
    chat = at_summary()
    assert "✏️" in chat.rendered() and "edit:job" in chat.values()
    chat.press("edit:job")
    assert chat.session.step == "job"
    chat.type("lain")
    chat.press("lainnya")
    assert chat.session.step == "job_other"
    chat.type("Penjahit")
    assert chat.session.step == "summary"
    assert "Pekerjaan: Penjahit" in chat.rendered()
    # Back to a job of the list: the description no longer holds, nor is it submitted.
    chat.press("edit:job")
    chat.press("sopir")
    assert chat.session.step == "summary"
    assert "job_other" not in chat.session.answers
    assert "Pekerjaan: Sopir" in chat.rendered() and "Penjahit" not in chat.rendered()
    chat.press("save")
    worker = chat.host.sponsorships[0].worker
    assert (worker.relationship, worker.job, worker.job_other) == ("rumah_tangga", "sopir", None)


def test_editing_the_relationship_from_the_summary_keeps_the_job_and_consent() -> None:
    chat = at_summary()
    chat.press("edit:relationship")
    assert chat.session.step == "relationship"
    chat.press("keluarga")
    assert chat.session.step == "summary"
    assert "Hubungan: Keluarga / kerabat" in chat.rendered()
    chat.press("save")
    worker = chat.host.sponsorships[0].worker
    assert (worker.relationship, worker.job) == ("keluarga", "art")


def test_nik_disagreement_is_noted_not_a_dead_end() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:4])
    chat.press("differs")
    assert chat.session.step == "nik_disagreement"
    chat.type("Tanggal lahir sebenarnya 6 Januari 1990")
    assert chat.session.step == "worker_phone"
    run(chat, JOURNEY[5:])
    assert "catatan" in chat.rendered()
    chat.press("save")
    assert chat.host.sponsorships[0].worker.nik_disagreement == (
        "Tanggal lahir sebenarnya 6 Januari 1990"
    )


def test_unknown_region_code_is_a_warning_only() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:3])
    chat.type("9101014501900001")  # Merauke before 2022: the code moved, the NIK did not
    assert chat.session.step == "nik_confirm"
    assert "sponsorship.nik_region_unknown" in repr(chat.last().text)


def test_editing_the_nik_from_the_summary_confirms_it_again() -> None:
    chat = at_summary()
    chat.press("edit:nik")
    chat.type("3205015203850002")
    assert chat.session.step == "nik_confirm"
    chat.press("ok")
    assert chat.session.step == "consent"  # the statement names the NIK: consent again
    chat.press("agree")
    assert chat.session.step == "summary"
    chat.press("save")
    assert chat.host.sponsorships[0].worker.nik == "3205015203850002"


def test_changing_programme_asks_for_consent_again() -> None:
    chat = at_summary()
    chat.press("edit:payment")
    chat.press("self_payment")
    assert chat.session.step == "consent"
    assert "consent.self_payment" in repr(chat.last().text)
    chat.press("agree")
    assert chat.session.step == "summary"


def test_changing_district_asks_for_the_village_again() -> None:
    chat = at_summary()
    chat.press("edit:district")
    chat.press("page:next")
    assert chat.last().replace
    chat.press("32.05.02")
    assert chat.session.step == "village"


def test_nik_taken_goes_back_to_the_nik_without_saying_who() -> None:
    chat = at_summary()
    chat.host.refuse[SubmitSponsorship] = "nik_taken"
    chat.press("save")
    assert chat.message_keys() == ["sponsorship.nik_taken", "sponsorship.ask_nik"]
    assert chat.session.step == "nik" and chat.session.editing
    chat.type("3205015203850002")
    chat.press("ok")
    assert chat.session.step == "consent"  # the statement names the NIK: consent again
    chat.press("agree")
    assert chat.session.step == "summary"


def test_nip_taken_goes_back_to_the_nip() -> None:
    chat = Chat()
    chat.host.refuse[RegisterSponsor] = "nip_taken"
    chat.command("start")
    chat.press("lang:id")
    chat.type(VALID_NIP)
    chat.press("yes")
    chat.type("Budi")
    chat.press("dinkes")
    chat.share_contact("6281234567890")
    assert "signup.nip_taken" in chat.message_keys() and chat.session.step == "nip"


def test_limit_reached_before_starting_another_worker() -> None:
    chat = at_summary()
    chat.press("save")
    chat.command("pekerja")
    assert chat.message_keys() == ["menu.with_text"]
    assert "sponsorship.limit_reached" in repr(chat.last().text)


def test_start_mid_flow_offers_to_continue_or_restart() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:4])
    chat.command("start")
    assert chat.message_keys() == ["resume.offer"]
    chat.press("resume:continue")
    assert chat.session.step == "nik_confirm" and chat.message_keys() == ["sponsorship.confirm_nik"]
    chat.command("start")
    chat.press("resume:restart")
    assert chat.session.step == "relationship" and chat.session.answers == {}


def test_coming_back_after_hours_repeats_the_question_before_taking_answers() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:3])
    chat.now += timedelta(days=2)
    chat.type("3205014501900001")
    assert chat.message_keys() == ["resume.welcome_back", "sponsorship.ask_nik"]
    assert chat.session.step == "nik"
    chat.type(VALID_NIK)
    assert chat.session.step == "nik_confirm"


def test_language_can_change_mid_flow() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:3])
    chat.command("bahasa")
    chat.press("lang:en")
    assert chat.host.language == "en"
    assert chat.message_keys() == ["language.saved", "sponsorship.ask_nik"]
    assert chat.session.step == "nik"


def test_status_and_menu_for_a_registered_user() -> None:
    chat = signed_up()
    chat.command("batal")
    chat.type("halo")
    assert chat.message_keys() == ["menu.with_text"]
    chat.command("status")
    assert chat.sent and type(chat.sent[0]).__name__ == "ShowStatus"


def test_unknown_command_keeps_the_question() -> None:
    chat = signed_up()
    chat.command("foo")
    assert chat.message_keys() == ["command.unknown", "relationship.ask"]


def test_session_survives_json_at_every_step() -> None:
    chat = signed_up()
    for action, argument, _ in JOURNEY:
        getattr(chat, action)(argument)
        assert Session.from_json(chat.session.to_json()) == chat.session


def test_a_session_of_an_old_flow_version_starts_over() -> None:
    document = {**Session(flow="sponsorship", version=0, step="nik").to_json()}
    assert Session.from_json(document).flow == "sponsorship"
    chat = signed_up()
    chat.session = Session.from_json(document)
    chat.type("halo")
    assert chat.message_keys() == ["menu.with_text"]


def test_a_typed_nik_is_deleted_from_the_chat_accepted_or_not() -> None:
    from flows.effects import ForgetUserMessage
    from flows.inputs import TextReceived

    chat = signed_up()
    run(chat, JOURNEY[:3])
    chat.do(TextReceived("3205014501900000", message_id=31))  # serial 0000: refused
    assert chat.sent[0] == ForgetUserMessage(31)
    assert chat.message_keys()[:2] == ["privacy.message_deleted", "answer.rejected"]
    chat.do(TextReceived(VALID_NIK, message_id=32))
    assert chat.sent[0] == ForgetUserMessage(32)
    assert chat.session.step == "nik_confirm"
    chat.do(TextReceived("Budi", message_id=33))  # other answers stay in the chat
    assert not any(isinstance(e, ForgetUserMessage) for e in chat.sent)


def test_a_button_of_an_earlier_copy_of_the_same_question_is_refused() -> None:
    """The prompt number in the callback data: the same question asked again (after Kembali)
    has the same buttons, and only the newest copy's count."""
    chat = signed_up()
    earlier = chat.session.seq
    chat.press("tetangga")
    chat.press("back")
    assert chat.session.step == "relationship" and chat.session.seq != earlier
    before = chat.session
    chat.press("keluarga", seq=earlier)  # a valid option of this very question, but old
    assert chat.message_keys() == ["toast.stale"]
    assert chat.session == before
    chat.press("keluarga")
    assert chat.session.step == "job"


def test_buttons_of_a_superseded_search_are_refused() -> None:
    """Issue 11: a list answered by a newer search (or a search that found nothing) replaces the
    earlier one; a button of the earlier list is stale, even when its value is an option of the
    step (the agency list holds every agency whatever the search)."""
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.type(VALID_NIP)
    chat.press("yes")
    chat.type("Budi")
    chat.type("pendidikan")
    older = chat.session.seq
    assert "disdik" in chat.values()
    chat.type("kesehatan")
    assert "disdik" not in chat.values() and chat.session.seq > older
    chat.press("disdik", seq=older)
    assert chat.message_keys() == ["toast.stale"] and chat.session.step == "agency"
    newer = chat.session.seq
    chat.type("tidak ada instansi seperti ini")
    assert chat.message_keys() == ["answer.rejected"] and chat.session.seq > newer
    chat.press("dinkes", seq=newer)
    assert chat.message_keys() == ["toast.stale"] and chat.session.step == "agency"
    chat.press("dinkes")  # the list on screen now takes its own answer
    assert chat.session.step == "phone"
