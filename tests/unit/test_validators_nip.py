from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import NipCheck, check_nip, mask_nip

TODAY = date(2025, 6, 15)


def make_pns(born: date, start: date, sex: str = "M", serial: int = 1) -> str:
    sex_digit = "1" if sex == "M" else "2"
    return f"{born:%Y%m%d}{start:%Y%m}{sex_digit}{serial:03d}"


def make_pppk(born: date, year: int, code: int = 21, sex: str = "M", serial: int = 1) -> str:
    sex_digit = "1" if sex == "M" else "2"
    return f"{born:%Y%m%d}{year:04d}{code:02d}{sex_digit}{serial:03d}"


def test_pns_example() -> None:
    assert check_nip("198503152010011001", TODAY) == NipCheck(
        valid=True,
        nip="198503152010011001",
        errors=(),
        kind="PNS",
        birth_date=date(1985, 3, 15),
        service_start=date(2010, 1, 1),
        sex="M",
        serial="001",
    )


def test_pppk_example() -> None:
    # Digit 15 is the sex digit: ...2023 21 [1] 002 is a man, serial 002.
    check = check_nip("199001012023211002", TODAY)
    assert check.valid
    assert check.kind == "PPPK"
    assert check.birth_date == date(1990, 1, 1)
    assert check.service_start == date(2023, 1, 1)
    assert check.sex == "M"
    assert check.serial == "002"


def test_pppk_female() -> None:
    check = check_nip("199001012023212002", TODAY)
    assert check.valid and check.kind == "PPPK" and check.sex == "F"


@pytest.mark.parametrize("code", range(21, 30))
def test_pppk_codes(code: int) -> None:
    assert check_nip(make_pppk(date(1990, 1, 1), 2023, code), TODAY).kind == "PPPK"


@pytest.mark.parametrize(
    "raw", ["19850315 201001 1 001", "19850315.201001.1.001", "19850315-201001-1-001"]
)
def test_separators_stripped(raw: str) -> None:
    check = check_nip(raw, TODAY)
    assert check.valid and check.nip == "198503152010011001"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "format"),
        ("19850315201001100", "format"),
        ("1985031520100110011", "format"),
        ("19850315201001100a", "format"),
        ("198502302010011001", "birth_date"),
        ("198513012010011001", "birth_date"),
        ("198500152010011001", "birth_date"),
        ("193912312010011001", "birth_date"),
        ("202507012010011001", "birth_date_future"),
        ("198503152010001001", "kind"),
        ("198503152010131001", "kind"),
        ("198503152010201001", "kind"),
        ("198503152010301001", "kind"),
        ("198503152025071001", "service_start"),
        ("198503152026211001", "service_start"),
        ("198503150000011001", "service_start"),
        ("198503152003021001", "too_young"),
        ("198503152002211001", "too_young"),
        ("198503152010010001", "sex"),
        ("198503152010013001", "sex"),
        ("198503152010011000", "serial"),
    ],
)
def test_each_error_code(raw: str, code: str) -> None:
    check = check_nip(raw, TODAY)
    assert not check.valid
    assert check.errors == (code,)


def test_birth_date_1940_is_accepted() -> None:
    assert check_nip("194001012010011001", TODAY).birth_date == date(1940, 1, 1)


def test_too_young_is_lenient_within_the_month() -> None:
    # Born 15 March 1985: TMT March 2003 (the month of the 18th birthday) is accepted.
    assert check_nip("198503152003031001", TODAY).valid
    assert check_nip("198503152003021001", TODAY).errors == ("too_young",)
    # PPPK compares years only.
    assert check_nip(make_pppk(date(1985, 12, 31), 2003), TODAY).valid


def test_too_young_keeps_both_dates() -> None:
    check = check_nip("198503152003021001", TODAY)
    assert check.birth_date == date(1985, 3, 15)
    assert check.service_start == date(2003, 2, 1)


def test_service_start_this_month_is_accepted() -> None:
    assert check_nip("198503152025061001", TODAY).valid
    assert check_nip("198503152025211001", TODAY).valid


def test_several_errors() -> None:
    check = check_nip("198502302010000000", TODAY)
    assert check.errors == ("birth_date", "kind", "sex", "serial")
    assert check.kind is None and check.sex is None and check.serial is None


def test_mask_nip() -> None:
    assert mask_nip("198503152010011001") == "1985***********001"
    assert mask_nip("19850315 201001 1 001") == "1985***********001"
    assert mask_nip("1985031520") == "**********"


# Property tests


@st.composite
def pns_parts(draw: st.DrawFn) -> tuple[date, date, str, int, date]:
    born = draw(st.dates(min_value=date(1940, 1, 1), max_value=date(2007, 1, 1)))
    first = date(born.year + 18, born.month, 1)
    today = draw(st.dates(min_value=max(first, date(2000, 1, 1)), max_value=date(2099, 1, 1)))
    start = draw(st.dates(min_value=first, max_value=today)).replace(day=1)
    sex = draw(st.sampled_from(["M", "F"]))
    serial = draw(st.integers(min_value=1, max_value=999))
    return born, start, sex, serial, today


@given(pns_parts())
def test_built_pns_is_valid(parts: tuple[date, date, str, int, date]) -> None:
    born, start, sex, serial, today = parts
    check = check_nip(make_pns(born, start, sex, serial), today)
    assert check.valid, check.errors
    assert (check.kind, check.birth_date, check.service_start) == ("PNS", born, start)
    assert check.sex == sex and check.serial == f"{serial:03d}"


@given(
    st.dates(min_value=date(1940, 1, 1), max_value=date(2007, 1, 1)),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=21, max_value=29),
    st.sampled_from(["M", "F"]),
)
def test_built_pppk_is_valid(born: date, years_after_18: int, code: int, sex: str) -> None:
    year = born.year + 18 + years_after_18
    check = check_nip(make_pppk(born, year, code, sex), date(year, 1, 1))
    assert check.valid, check.errors
    assert (check.kind, check.service_start, check.sex) == ("PPPK", date(year, 1, 1), sex)


@given(st.text(), st.dates())
def test_any_text_never_raises(raw: str, today: date) -> None:
    check = check_nip(raw, today)
    assert check.valid == (not check.errors)


@given(st.text(alphabet="0123456789", min_size=18, max_size=18), st.dates())
def test_any_eighteen_digits_never_raise(raw: str, today: date) -> None:
    check = check_nip(raw, today)
    assert check.nip == raw and "format" not in check.errors
    if check.valid:
        assert check.birth_date is not None and check.service_start is not None
        assert check.birth_date <= check.service_start <= today


@given(st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_mask_keeps_seven_digits(nip: str) -> None:
    masked = mask_nip(nip)
    assert masked == nip[:4] + "*" * 11 + nip[-3:]
