"""Issue 6 item 17: opening an invitation link in the middle of a draft keeps the draft."""

from __future__ import annotations

from flows.commands import InvitationOpened, OpenInvitation, Refused, WorkerConsents
from flows.session import Session
from tests.unit.flowkit import Chat, signed_up
from tests.unit.test_flows import JOURNEY, run
from tests.unit.test_worker_and_rights_flows import DETAILS


def mid_draft() -> Chat:
    """An ASN halfway through registering a worker (at the NIK confirmation)."""
    chat = signed_up()
    run(chat, JOURNEY[:4])
    return chat


def opened_links(chat: Chat) -> list[OpenInvitation]:
    return [c for c in chat.host.applied if isinstance(c, OpenInvitation)]


def test_a_link_opened_mid_draft_asks_before_anything_is_dropped() -> None:
    chat = mid_draft()
    draft = chat.session.answers
    chat.command("start", "w_tok3n")
    assert chat.message_keys() == ["invitation.open_over_draft"]
    assert chat.values() == ["invite:open", "resume:continue"]
    assert chat.session.answers == draft and not opened_links(chat)
    chat.type("apa ini?")  # typing does not answer the question: it is asked again
    assert chat.message_keys() == ["answer.press_a_button", "invitation.open_over_draft"]
    chat.press("resume:continue")
    assert chat.session.step == "nik_confirm" and chat.session.answers == draft
    assert chat.message_keys() == ["sponsorship.confirm_nik"] and not opened_links(chat)


def test_opening_the_invitation_keeps_the_draft_and_offers_it_back_afterwards() -> None:
    chat = mid_draft()
    draft = chat.session.answers
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS)]
    chat.command("start", "w_tok3n")
    chat.press("invite:open")
    assert opened_links(chat)[-1].token == "tok3n"
    assert chat.session.flow == "worker" and chat.session.step == "verify"
    assert chat.session.parked is not None
    assert Session.from_json(chat.session.to_json()) == chat.session
    chat.type("05-01-1990")
    chat.press("agree")
    assert isinstance(chat.host.applied[-1], WorkerConsents)
    assert chat.message_keys() == ["worker.consented", "resume.offer"]
    chat.press("resume:continue")
    assert chat.session.flow == "sponsorship" and chat.session.step == "nik_confirm"
    assert chat.session.answers == draft and chat.session.parked is None


def test_a_refused_link_gives_the_draft_back_at_once() -> None:
    chat = mid_draft()
    chat.host.scripted[OpenInvitation] = [Refused("own_invitation")]
    chat.command("start", "w_tok3n")
    chat.press("invite:open")
    assert chat.message_keys() == ["invitation.own_invitation", "resume.offer"]
    chat.press("resume:continue")
    assert chat.session.step == "nik_confirm"


def test_cancelling_the_invitation_offers_the_draft_and_cancelling_that_drops_it() -> None:
    chat = mid_draft()
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS)]
    chat.command("start", "w_tok3n")
    chat.press("invite:open")
    chat.command("batal")
    assert chat.message_keys() == ["cancel.done", "resume.offer"]
    chat.press("cancel")
    assert not chat.session.active and chat.session.parked is None
    chat.command("start")
    assert chat.message_keys() == ["menu.with_text"]  # nothing left to resume


def test_another_link_opened_during_an_invitation_keeps_the_first_draft() -> None:
    chat = mid_draft()
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS), InvitationOpened(DETAILS)]
    chat.command("start", "w_tok3n")
    chat.press("invite:open")
    parked = chat.session.parked
    chat.command("start", "w_other")  # in the worker's flow: no draft of theirs to lose
    assert chat.message_keys() == ["worker.ask_verify"]
    assert chat.session.parked == parked


def test_a_link_opened_with_no_draft_opens_at_once() -> None:
    chat = Chat(user_id=2002)
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS)]
    chat.command("start", "w_tok3n")
    assert chat.message_keys() == ["worker.ask_verify"] and chat.session.parked is None
