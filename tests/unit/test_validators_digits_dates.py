"""Digits of any script read as ASCII, and every common way of typing a date."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import (
    ascii_digits,
    check_nik,
    check_nip,
    check_phone,
    normalize_digits,
    parse_date,
    parse_int,
)
from flows.validators.dates import MAX_YEAR, MIN_YEAR

TODAY = date(2026, 11, 21)
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
MATHEMATICAL = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
SCRIPTS = (ARABIC_INDIC, EXTENDED_ARABIC, DEVANAGARI, FULL_WIDTH, MATHEMATICAL)


@pytest.mark.parametrize("script", SCRIPTS)
def test_digits_of_every_script_become_ascii(script: dict[int, str]) -> None:
    assert normalize_digits("0812-3456".translate(script)) == "0812-3456"
    assert ascii_digits("0123456789".translate(script)) == "0123456789"


def test_superscripts_and_circled_digits_are_read_by_nfkc() -> None:
    assert ascii_digits("²") == "2" and parse_int("①②") == 12


@pytest.mark.parametrize("raw", ["", " 3", "3 ", "-3", "+3", "3_0", "1e3", "½", "3.0", "x", "٣a"])
def test_only_digits_are_a_number(raw: str) -> None:
    """int() takes " 3", "-3", "3_0" and "٣" but not "²": the helper takes digits only."""
    assert ascii_digits(raw) is None
    assert parse_int(raw) is None


def test_parse_int_has_a_length_limit() -> None:
    assert parse_int("123456789", max_digits=9) == 123456789
    assert parse_int("1234567890", max_digits=9) is None


@pytest.mark.parametrize("script", SCRIPTS)
def test_nik_nip_and_phone_in_other_digits_are_the_same_numbers(script: dict[int, str]) -> None:
    nik = check_nik("3205 0115 0385 0001".translate(script), TODAY)
    assert nik.valid and nik.nik == "3205011503850001"
    nip = check_nip("198503152010011001".translate(script), TODAY)
    assert nip.valid and nip.nip == "198503152010011001"
    phone = check_phone("0812-3456-7890".translate(script))
    assert phone.valid and phone.e164 == "+6281234567890"


@given(st.text())
def test_normalized_digits_are_ascii_whenever_they_are_digits(raw: str) -> None:
    text = normalize_digits(raw)
    assert all(char.isascii() for char in text if char.isdecimal())
    digits = ascii_digits(raw)
    if digits is not None:
        assert digits.isascii() and int(digits) >= 0


BIRTHDAY = date(1990, 1, 5)


@pytest.mark.parametrize(
    "raw",
    [
        "1990-01-05",
        "1990/01/05",
        "1990-1-5",
        "05-01-1990",
        "5-1-1990",
        "05/01/1990",
        "5/1/1990",
        "05.01.1990",
        "05 01 1990",
        "05 - 01 - 1990",
        "05\u201301\u20131990",  # en dashes from a document
        "05011990",  # DDMMYYYY, as on a KTP
        "19900105",  # YYYYMMDD
        "5 Januari 1990",
        "5 januari 1990",
        "05 JANUARI 1990",
        "5 Jan 1990",
        "5 Jan. 1990",
        "5-Jan-1990",
        "5 January 1990",
        "5th January 1990",
        "January 5, 1990",
        "Jan 5 1990",
        "  5   Januari   1990  ",
        "١٩٩٠-٠١-٠٥",
        "٠٥/٠١/١٩٩٠",
        "５/１/１９９０",
    ],
)
def test_common_date_forms(raw: str) -> None:
    assert parse_date(raw) == BIRTHDAY


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17 Agustus 1945", date(1945, 8, 17)),
        ("17 Agt 1990", date(1990, 8, 17)),
        ("1 Mei 2000", date(2000, 5, 1)),
        ("1 May 2000", date(2000, 5, 1)),
        ("10 Okt 1999", date(1999, 10, 10)),
        ("25 Desember 1980", date(1980, 12, 25)),
        ("25 Dec 1980", date(1980, 12, 25)),
        ("29 Februari 2000", date(2000, 2, 29)),
        ("12/03/1990", date(1990, 3, 12)),  # day first: 12 March, never December 3
    ],
)
def test_month_names_in_both_languages(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1990",
        "hello",
        "kemarin",
        "5 1990",
        "05-1990",
        "5 Foo 1990",
        "31-02-1990",  # looks like a date, is not one
        "29 Februari 2001",
        "00-01-1990",
        "05-13-1990",
        "99999999",
        "050190",  # two-digit year: ambiguous
        "05-01-90",
        "05-01-1899",
        "05-01-2100",
        "1990-01-05T00:00",
        "5 Januari 1990 5 Januari 1990",
    ],
)
def test_what_is_not_a_date(raw: str) -> None:
    assert parse_date(raw) is None


@given(st.dates(min_value=date(MIN_YEAR, 1, 1), max_value=date(MAX_YEAR, 12, 31)))
def test_every_date_round_trips_in_every_numeric_form(day: date) -> None:
    for form in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%d%m%Y", "%d %B %Y"):
        assert parse_date(day.strftime(form)) == day, form


@given(st.text(max_size=60))
def test_any_text_never_raises(raw: str) -> None:
    parsed = parse_date(raw)
    assert parsed is None or MIN_YEAR <= parsed.year <= MAX_YEAR
