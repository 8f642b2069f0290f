"""Helpers shared by the validators: separator stripping and the sex code type."""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from flows.validators.digits import normalize_digits

Sex: TypeAlias = Literal["M", "F"]

# Whitespace of any kind, dots, the ASCII hyphen-minus and the dashes people paste from documents
# (U+2010 hyphen to U+2015 horizontal bar, U+2212 minus sign).
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def strip_separators(raw: str) -> str:
    """The text without whitespace, dots and dashes."""
    return _SEPARATORS.sub("", raw)


def digits_of_length(raw: str, length: int) -> str | None:
    """The ASCII digits left after normalising digits of any script (digits.py) and stripping
    separators, when there are exactly `length` of them and nothing else; otherwise None."""
    stripped = strip_separators(normalize_digits(raw))
    if len(stripped) == length and _ASCII_DIGITS.fullmatch(stripped):
        return stripped
    return None
