"""The playground's panel never shows a full NIK, NIP, phone, KPJ number or birth date."""

from __future__ import annotations

import pytest

from bot.playground import _sensitive_answer, mask_number, masked


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("3205014501900001", "3205********0001"),  # a NIK
        ("198503152010011001", "1985***********001"),  # a NIP
        ("+6281234567890", "+62812****7890"),  # a phone
        ("0812-3456-7890", "+62812****7890"),
        ("23012345678", "*********78"),  # a KPJ number
        ("1990-01-05", "******05"),  # a birth date
    ],
)
def test_numbers_are_masked_as_the_bot_masks_them(shown: str, expected: str) -> None:
    assert mask_number(shown) == expected


def test_every_long_number_in_a_session_is_masked_wherever_it_stands() -> None:
    session = {
        "nik": "3205014501900001",
        "note": "NIK 3205014501900001, HP +6281234567890",
        "parked": {"answers": {"nip": "198503152010011001", "kpj": ["23012345678"]}},
        "invitation_token": "w_abcdef",
        "amount": 16800,
        "category": "art",
    }
    shown = masked(session)
    assert shown == {
        "nik": "3205********0001",
        "note": "NIK 3205********0001, HP +62812****7890",
        "parked": {"answers": {"nip": "1985***********001", "kpj": ["*********78"]}},
        "invitation_token": "***",
        "amount": 16800,
        "category": "art",
    }


def test_a_sensitive_answer_is_masked_or_hidden() -> None:
    assert _sensitive_answer("3205014501900001") == "3205********0001"
    assert _sensitive_answer("lima Januari") == "***"
    assert _sensitive_answer(None) is None
