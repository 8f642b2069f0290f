"""/admin in the chat (flows.router): a superadmin's staff list, grants and removals; to anyone
else a command that does not exist, and its buttons (forged) refused with nothing applied."""

from __future__ import annotations

import pytest

from flows import callbacks
from flows.commands import Applied, GrantStaffRole, RevokeStaffRole
from flows.effects import ShowStaff, Toast
from flows.router import STAFF_REFUSALS
from tests.unit.flowkit import Chat

ADMIN = 9


def superadmin() -> Chat:
    chat = Chat(user_id=ADMIN)
    chat.host.is_admin = True
    return chat


def test_admin_alone_shows_the_staff_list() -> None:
    chat = superadmin()
    effects = chat.command("admin")
    assert effects == [ShowStaff()]
    assert chat.host.applied == []


def test_a_superadmin_grants_an_operator_several_agencies_codes_as_the_catalog_spells_them() -> (
    None
):
    chat = superadmin()
    chat.command("admin", "tambah operator dinkes,SETDA, 555")
    assert chat.host.applied == [GrantStaffRole(ADMIN, 555, "operator", ("dinkes", "setda"))]
    assert chat.message_keys() == ["staff.granted"]
    assert ShowStaff() in chat.sent


def test_a_superadmin_grants_a_treasurer_in_english_words_and_other_digits() -> None:
    chat = superadmin()
    chat.command("admin", "add treasurer dinkes ٥٥٥")
    assert chat.host.applied == [GrantStaffRole(ADMIN, 555, "treasurer", ("dinkes",))]


def test_an_unknown_agency_is_named_and_nothing_is_applied() -> None:
    chat = superadmin()
    chat.command("admin", "tambah operator dinkes,nope 555")
    assert chat.host.applied == []
    assert chat.message_keys() == ["staff.unknown_agency"]
    assert "nope" in chat.rendered()


@pytest.mark.parametrize(
    "argument",
    [
        "tambah",
        "tambah operator dinkes",
        "tambah kepala dinkes 555",
        "tambah operator dinkes 0",
        "tambah operator dinkes -5",
        "tambah operator dinkes 12345678901234567890",
        "tambah operator , 555",
        "hapus",
        "hapus abc",
        "hapus 1 2",
        "lainnya",
    ],
)
def test_a_malformed_admin_command_gets_the_usage(argument: str) -> None:
    chat = superadmin()
    chat.command("admin", argument)
    assert chat.host.applied == []
    assert chat.message_keys() == ["staff.usage"]


def test_a_superadmin_removes_by_command() -> None:
    chat = superadmin()
    chat.command("admin", "hapus 555")
    assert chat.host.applied == [RevokeStaffRole(ADMIN, 555)]
    assert chat.message_keys() == ["staff.removed"]


def test_the_remove_button_asks_first_then_removes() -> None:
    chat = superadmin()
    chat.press(callbacks.action("staffrm", 555), seq=callbacks.TIMELESS)
    assert chat.host.applied == []
    assert chat.message_keys() == ["staff.confirm_remove"]
    assert chat.values() == [callbacks.action("staffrmok", 555), callbacks.action("staffkeep", 555)]
    chat.press(callbacks.action("staffkeep", 555), seq=callbacks.TIMELESS)
    assert chat.host.applied == []
    assert chat.message_keys() == ["staff.kept"]
    chat.press(callbacks.action("staffrmok", 555), seq=callbacks.TIMELESS)
    assert chat.host.applied == [RevokeStaffRole(ADMIN, 555)]
    assert chat.message_keys() == ["staff.removed"]


def test_a_grant_replacing_another_role_says_so() -> None:
    chat = superadmin()
    chat.host.scripted[GrantStaffRole] = [Applied(replaced_role="operator")]
    chat.command("admin", "tambah bendahara dinkes 555")
    assert chat.message_keys() == ["staff.granted_replacing"]
    assert "operator" in chat.rendered()


@pytest.mark.parametrize("reason", sorted(STAFF_REFUSALS))
def test_each_refusal_of_the_storage_is_worded(reason: str) -> None:
    chat = superadmin()
    chat.host.refuse[GrantStaffRole] = reason
    chat.command("admin", "tambah bendahara dinkes 555")
    assert chat.message_keys() == [f"staff.refused.{reason}"]


@pytest.mark.parametrize("language_chosen", [False, True])
@pytest.mark.parametrize("argument", ["", "tambah operator dinkes 1001", "hapus 555"])
def test_to_anyone_but_a_superadmin_admin_is_an_unknown_command(
    argument: str, language_chosen: bool
) -> None:
    chat = Chat(user_id=1001)
    if language_chosen:
        chat.host.language = "id"
    unknown = Chat(user_id=1001)
    unknown.host.language = chat.host.language
    unknown.command("zzz")
    chat.command("admin", argument)
    assert chat.host.applied == []
    assert not any(isinstance(effect, ShowStaff) for effect in chat.sent)
    assert chat.message_keys() == unknown.message_keys()
    assert chat.rendered() == unknown.rendered().replace("/zzz", "/admin")


@pytest.mark.parametrize("name", ["staffrm", "staffrmok", "staffkeep"])
def test_a_staff_button_pressed_by_anyone_but_a_superadmin_is_refused(name: str) -> None:
    chat = Chat(user_id=1001)
    effects = chat.press(callbacks.action(name, 555), seq=callbacks.TIMELESS)  # type: ignore[arg-type]
    assert chat.host.applied == []
    assert effects == [Toast(chat.sent[0].text)] and chat.message_keys() == ["toast.not_allowed"]


def test_the_staff_list_pages_only_for_a_superadmin() -> None:
    chat = Chat(user_id=1001)
    chat.press(callbacks.page("staff", 1), seq=callbacks.TIMELESS)
    assert chat.message_keys() == ["toast.stale"]
    admin = superadmin()
    assert admin.press(callbacks.page("staff", 1), seq=callbacks.TIMELESS) == [ShowStaff(page=1)]


@pytest.mark.parametrize("argument", ["abc", "0", "½", "99999999999999999999"])
def test_a_mangled_remove_button_is_stale(argument: str) -> None:
    chat = superadmin()
    chat.press(callbacks.ACTION + "staffrmok:" + argument, seq=callbacks.TIMELESS)
    assert chat.host.applied == []
    assert chat.message_keys() == ["toast.stale"]
