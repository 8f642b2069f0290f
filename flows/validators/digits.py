"""Digits typed in any script, read as ASCII: "٠٨١٢" (Arabic-Indic), "０８１２" (full width),
"𝟎𝟖𝟏𝟐" (mathematical) all become "0812".

Every identifier a user types (NIK, NIP, KPJ, phone, command arguments) and every number read
back from callback data goes through here, so `int()` never meets a digit it cannot parse
("²".isdigit() is True, int("²") raises) and two spellings of one number never differ.
"""

from __future__ import annotations

import re
import unicodedata

_ASCII_DIGITS = re.compile(r"[0-9]+")


def normalize_digits(raw: str) -> str:
    """NFKC (full-width, mathematical and superscript digits become ASCII), then every other
    decimal digit (Arabic-Indic, Devanagari, Thai...) replaced by its ASCII digit."""
    text = unicodedata.normalize("NFKC", raw)
    if text.isascii():
        return text
    return "".join(_ascii_digit(char) for char in text)


def _ascii_digit(char: str) -> str:
    if char.isascii():
        return char
    value = unicodedata.decimal(char, None)
    return char if value is None else str(value)


def ascii_digits(raw: str) -> str | None:
    """The text, normalised, when it is nothing but ASCII digits (at least one); otherwise None.
    No sign, no spaces, no underscores: what `int()` would tolerate and a person did not mean."""
    text = normalize_digits(raw)
    return text if _ASCII_DIGITS.fullmatch(text) else None


def parse_int(raw: str, *, max_digits: int = 18) -> int | None:
    """A non-negative integer from digits only (see `ascii_digits`), at most `max_digits` long;
    None for anything else. Use this wherever text from outside is read as a number."""
    digits = ascii_digits(raw)
    if digits is None or len(digits) > max_digits:
        return None
    return int(digits)
