"""Indonesian mobile phone numbers, normalised to E.164 ("+6281234567890")."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from flows.validators.digits import normalize_digits

INDONESIA_COUNTRY_CODE = 62
DEFAULT_REGION = "ID"
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# What people type around the digits: "+62 (812) 3456-7890", "0812.3456.7890", "0812/34567890".
# Letters are refused: phonenumbers would read "0800-FLOWERS" or "... ext 12" as numbers.
_ALLOWED = re.compile(r"[0-9\s+().\-/\u2010-\u2015\u2212]*")
_DIGITS_ONLY = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """Result of `check_phone`.

    `e164` is set whenever the input is a valid phone number (even a foreign or fixed-line one,
    which is still `valid=False`).
    """

    valid: bool
    e164: str | None
    errors: tuple[str, ...]


def _failure(code: str, e164: str | None = None) -> PhoneCheck:
    return PhoneCheck(valid=False, e164=e164, errors=(code,))


def check_phone(raw: str) -> PhoneCheck:
    """Accepts "0812-3456-7890", "62812...", "+62 812 ..."; valid only for Indonesian mobiles.

    Codes: "format" (not a phone number), "not_indonesian", "not_mobile".
    """
    text = normalize_digits(raw).strip()
    if not text or not _ALLOWED.fullmatch(text):
        return _failure("format")
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return _failure("format")
    if number.country_code != INDONESIA_COUNTRY_CODE:
        e164 = None
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return _failure("not_indonesian", e164)
    if not phonenumbers.is_valid_number(number):
        return _failure("format")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return _failure("not_mobile", e164)
    return PhoneCheck(valid=True, e164=e164, errors=())


def check_contact_phone(phone_number: str) -> PhoneCheck:
    """`check_phone` for the phone_number of a shared Telegram contact.

    Telegram sends it in international form, often without "+" ("6281234567890"): digits that do
    not start with 0 are read as international, so a foreign number is not mistaken for a
    national Indonesian one.
    """
    text = normalize_digits(phone_number).strip()
    if _DIGITS_ONLY.fullmatch(text):
        text = "+" + text
    return check_phone(text)
