"""Dates as people type them, in Indonesian or English: one parser for every typed date.

Accepted (day before month whenever the order is numeric, as on Indonesian documents):
"1990-01-05" and "1990/01/05" (ISO order), "05-01-1990", "5/1/1990", "05.01.1990", "05 01 1990",
"05011990" (DDMMYYYY, the digits of a KTP date; "19900105" is read as YYYYMMDD), "5 Januari 1990",
"5 Jan 1990", "5-Jan-1990", "5 January 1990", "January 5, 1990", "5th January 1990". Digits of
any script count (see digits.py). Years are four digits from 1900 to 2099.

Returns None for anything else, including forms that look like a date but are not a real one
("31-02-1990"): the caller asks again and explains the form.
"""

from __future__ import annotations

import re
from datetime import date

from flows.validators.digits import normalize_digits

MIN_YEAR = 1900
MAX_YEAR = 2099

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("januari", "january", "jan"),
        ("februari", "february", "feb", "pebruari"),
        ("maret", "march", "mar"),
        ("april", "apr"),
        ("mei", "may"),
        ("juni", "june", "jun"),
        ("juli", "july", "jul"),
        ("agustus", "august", "agu", "agt", "ags", "agus", "aug"),
        ("september", "sep", "sept"),
        ("oktober", "october", "okt", "oct"),
        ("november", "nopember", "nov", "nop"),
        ("desember", "december", "des", "dec"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number

# Dashes people paste from documents (U+2010..U+2015, U+2212) count as "-".
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SPACES = re.compile(r"\s+")
_SEP = r"\s*[-/.\s]\s*"
_YMD = re.compile(rf"(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})")
_DMY = re.compile(rf"(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{4}})")
_COMPACT = re.compile(r"\d{8}")
_ORDINAL = r"(?:st|nd|rd|th)?"
_WORD_SEP = r"[-/.,\s]*"
_D_MONTH_Y = re.compile(
    rf"(\d{{1,2}}){_ORDINAL}{_WORD_SEP}([^\W\d_]+){_WORD_SEP}(\d{{4}})", re.IGNORECASE
)
_MONTH_D_Y = re.compile(
    rf"([^\W\d_]+){_WORD_SEP}(\d{{1,2}}){_ORDINAL}{_WORD_SEP}(\d{{4}})", re.IGNORECASE
)


def _real(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _month(name: str) -> int | None:
    return _MONTHS.get(name.casefold())


def parse_date(raw: str) -> date | None:
    """The date `raw` spells (see the module docstring), or None."""
    text = _SPACES.sub(" ", _DASHES.sub("-", normalize_digits(raw))).strip()
    if match := _YMD.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
        return _real(year, month, day)
    if match := _DMY.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
        return _real(year, month, day)
    if _COMPACT.fullmatch(text):
        return _real(int(text[4:]), int(text[2:4]), int(text[:2])) or _real(
            int(text[:4]), int(text[4:6]), int(text[6:])
        )
    if match := _D_MONTH_Y.fullmatch(text):
        named = _month(match.group(2))
        return None if named is None else _real(int(match.group(3)), named, int(match.group(1)))
    if match := _MONTH_D_Y.fullmatch(text):
        named = _month(match.group(1))
        return None if named is None else _real(int(match.group(3)), named, int(match.group(2)))
    return None
