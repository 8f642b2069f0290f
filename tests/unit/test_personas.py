"""The fake users' phone numbers are Indonesian mobiles the bot accepts (emulator.personas)."""

from __future__ import annotations

import phonenumbers
import pytest

from emulator.personas import ADMIN, ASN, MOBILE_PREFIXES, PERSONAS, WORKER, mobile_number, persona
from emulator.users import FakeUser
from flows.validators.phone import check_contact_phone

IDS = [*range(1, 3000), 9001, 123_456_789, 5_000_000_000, 2**40 + 7]


@pytest.mark.parametrize("prefix_index", range(len(MOBILE_PREFIXES)))
def test_every_prefix_gives_numbers_the_bot_accepts(prefix_index: int) -> None:
    for user_id in range(prefix_index, 4000, len(MOBILE_PREFIXES)):
        number = mobile_number(user_id)
        assert number.startswith("+62" + MOBILE_PREFIXES[prefix_index])
        check = check_contact_phone(number)
        assert check.valid and check.e164 == number, (user_id, number, check)
        # Telegram sends a shared contact's number without "+": accepted too.
        assert check_contact_phone(number.removeprefix("+")).valid
        parsed = phonenumbers.parse(number)
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        assert len(phonenumbers.national_significant_number(parsed)) == 11


def test_numbers_are_deterministic_and_distinct() -> None:
    numbers = [mobile_number(user_id) for user_id in IDS]
    assert numbers == [mobile_number(user_id) for user_id in IDS]
    assert len(set(numbers)) == len(IDS)
    assert mobile_number(1001) != mobile_number(1002)


def test_the_old_format_was_refused_and_the_new_is_the_fake_users_default() -> None:
    # The emulator's former default for user 1001, which the bot refused ("Itu bukan nomor HP").
    assert not check_contact_phone("+6280000001001").valid
    user = FakeUser(object(), 1001)  # type: ignore[arg-type]
    assert user.phone_number == mobile_number(1001) == ASN.phone_number
    assert check_contact_phone(user.phone_number).valid
    assert FakeUser(object(), 5, phone_number="+6281100001111").phone_number == "+6281100001111"  # type: ignore[arg-type]


def test_personas_have_distinct_ids_and_roles() -> None:
    assert len({p.user_id for p in PERSONAS}) == len({p.role for p in PERSONAS}) == len(PERSONAS)
    assert (ASN.user_id, WORKER.user_id, ADMIN.user_id) == (1001, 1002, 9001)
    assert persona(1002) is WORKER and persona(4242) is None
    for each in PERSONAS:
        assert check_contact_phone(each.phone_number).valid
