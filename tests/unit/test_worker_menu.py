"""Issue 6 item 16: a worker who writes later gets the worker's menu, not the ASN sign-up."""

from __future__ import annotations

import pytest

from flows.effects import ShowPersonalData
from tests.unit.flowkit import Chat, signed_up


def worker() -> Chat:
    """A worker who confirmed through their invitation: no language chosen, not an ASN."""
    chat = Chat(user_id=2002)
    chat.host.is_worker = True
    return chat


def shown(chat: Chat) -> str:
    return repr(chat.last().text)


@pytest.mark.parametrize("says", ["terima kasih", "/start", "/menu"])
def test_a_worker_writing_later_gets_the_worker_menu_not_the_nip_prompt(says: str) -> None:
    chat = worker()
    if says.startswith("/"):
        chat.command(says[1:])
    else:
        chat.type(says)
    assert chat.message_keys() == ["menu.with_text"]
    assert "menu.worker" in shown(chat) or "menu.title" in shown(chat)
    assert chat.values() == ["menu:status", "menu:personal_data", "menu:language", "menu:help"]
    assert "signup" not in repr(chat.sent) and "welcome" not in repr(chat.sent)
    assert not chat.session.active and chat.session.interrupt is None


def test_the_worker_menu_buttons_show_status_data_and_worker_help() -> None:
    chat = worker()
    chat.type("terima kasih")
    chat.press("menu:status")
    assert [type(e).__name__ for e in chat.sent] == ["ShowStatus"]
    chat.press("menu:personal_data")
    assert chat.sent == [ShowPersonalData()]
    chat.press("menu:help")
    assert "help.worker" in shown(chat)
    chat.command("bantuan")
    assert "help.worker" in shown(chat)


def test_a_worker_choosing_a_language_stays_in_the_worker_menu() -> None:
    chat = worker()
    chat.press("menu:language")
    chat.press("lang:en")
    assert chat.host.language == "en" and not chat.session.active
    assert "menu:personal_data" in chat.values()


def test_a_sponsor_who_is_also_a_worker_gets_the_sponsor_menu() -> None:
    chat = signed_up()
    chat.command("batal")
    chat.host.is_worker = True
    chat.type("terima kasih")
    assert "menu.not_understood" in shown(chat)
    assert chat.values()[:2] == ["menu:sponsor", "menu:status"]
    assert "help.general" not in shown(chat)
    chat.command("bantuan")
    assert "help.general" in shown(chat)


def test_someone_new_still_gets_the_welcome_and_the_sign_up() -> None:
    chat = Chat(user_id=3003)
    chat.type("terima kasih")
    assert chat.message_keys() == ["welcome"]
    chat.press("lang:id")
    assert chat.session.flow == "signup"


def test_a_language_question_pending_from_before_does_not_start_the_sign_up_for_a_worker() -> None:
    chat = worker()
    chat.session = chat.session.with_(interrupt="language", then="start", seq=5)
    chat.press("lang:id")
    assert not chat.session.active
    assert "menu:personal_data" in chat.values()


def test_a_worker_asking_for_a_correction_is_sent_where_the_buttons_are() -> None:
    chat = worker()
    chat.command("koreksi")
    assert "rights.correction_how" in shown(chat)
    assert "/status" in chat.rendered() and "/status" in chat.rendered("en")
