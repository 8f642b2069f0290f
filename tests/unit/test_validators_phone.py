from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import PhoneCheck, check_contact_phone, check_phone, mask_phone


@pytest.mark.parametrize(
    "raw",
    [
        "0812-3456-7890",
        "+62 812 3456 7890",
        "6281234567890",
        "+6281234567890",
        "081234567890",
        "0812 3456 7890",
        "(+62) 812-3456-7890",
        "+62 0812 3456 7890",
        "0812.3456.7890",
        " 0812-3456-7890\n",
    ],
)
def test_indonesian_mobile(raw: str) -> None:
    assert check_phone(raw) == PhoneCheck(valid=True, e164="+6281234567890", errors=())


def test_other_mobile_prefixes() -> None:
    assert check_phone("0877-1234-5678").e164 == "+6287712345678"
    assert check_phone("0811234567").e164 == "+62811234567"


@pytest.mark.parametrize("raw", ["022-1234567", "(022) 1234567", "+62 21 1234 5678"])
def test_landline_is_not_mobile(raw: str) -> None:
    check = check_phone(raw)
    assert not check.valid
    assert check.errors == ("not_mobile",)
    assert check.e164 is not None and check.e164.startswith("+62")


@pytest.mark.parametrize("raw", ["+6591234567", "+1 650 253 0000", "+60 12-345 6789"])
def test_foreign_is_not_indonesian(raw: str) -> None:
    check = check_phone(raw)
    assert not check.valid and check.errors == ("not_indonesian",)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "garbage",
        "0812",
        "62",
        "081234567890123456",
        "0800-FLOWERS",
        "0812 3456 7890 ext 12",
        "+",
        "+0812",
        "0812-3456-7890; DROP TABLE",
    ],
)
def test_garbage_is_format(raw: str) -> None:
    assert check_phone(raw) == PhoneCheck(valid=False, e164=None, errors=("format",))


def test_contact_phone_without_plus() -> None:
    assert check_contact_phone("6281234567890").e164 == "+6281234567890"
    assert check_contact_phone("+6281234567890").e164 == "+6281234567890"
    assert check_contact_phone("081234567890").e164 == "+6281234567890"
    # Without the helper a Singapore number could be read as an Indonesian national number.
    assert check_contact_phone("6591234567").errors == ("not_indonesian",)


def test_mask_phone() -> None:
    assert mask_phone("+6281234567890") == "+62812****7890"
    assert mask_phone("0812-3456-7890") == "+62812****7890"
    assert mask_phone("+62812345678") == "+62812**5678"
    assert mask_phone("garbage") == "*******"


@given(st.text())
def test_never_raises(raw: str) -> None:
    for check in (check_phone(raw), check_contact_phone(raw)):
        assert check.valid == (not check.errors)
        if check.valid:
            assert check.e164 is not None and check.e164.startswith("+628")
    mask_phone(raw)


@given(st.text(alphabet="0123456789 +-()", max_size=30))
def test_phone_like_never_raises(raw: str) -> None:
    check = check_phone(raw)
    assert check.valid == (not check.errors)


@given(st.integers(min_value=10**8, max_value=10**10 - 1))
def test_valid_result_round_trips(subscriber: int) -> None:
    check = check_phone(f"0812{subscriber}")
    if check.valid:
        assert check.e164 is not None
        assert check_phone(check.e164) == check
        assert check_contact_phone(check.e164.lstrip("+")) == check
