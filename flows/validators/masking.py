"""Masks for personal numbers shown in logs, confirmations and command-line output.

Each mask keeps a few leading and trailing characters and replaces the rest with `*`. Input that
is too short to be the real thing is masked completely, so a mistyped number never leaks whole.
"""

from __future__ import annotations

import phonenumbers

from flows.validators._common import strip_separators

NIK_LENGTH = 16
NIP_LENGTH = 18


def _mask(value: str, head: int, tail: int, min_length: int) -> str:
    if len(value) < max(min_length, head + tail + 1):
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_nik(nik: str) -> str:
    """ "3205010190000001" -> "3205********0001": first 4 and last 4 characters.

    Separators are stripped first. Anything shorter than 16 characters is masked completely."""
    return _mask(strip_separators(nik), 4, 4, NIK_LENGTH)


def mask_nip(nip: str) -> str:
    """ "198503152010011001" -> "1985***********001": first 4 and last 3 characters.

    Separators are stripped first. Anything shorter than 18 characters is masked completely."""
    return _mask(strip_separators(nip), 4, 3, NIP_LENGTH)


def mask_phone(phone: str) -> str:
    """ "+6281234567890" -> "+62812****7890": country code, the next 3 digits and the last 4.

    Any format phonenumbers understands (default region ID) is accepted and shown in E.164.
    Text that is not a phone number is masked completely."""
    try:
        number = phonenumbers.parse(phone, "ID")
    except phonenumbers.NumberParseException:
        return "*" * len(strip_separators(phone))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    prefix = 1 + len(str(number.country_code))
    national = e164[prefix:]
    return e164[:prefix] + _mask(national, 3, 4, 8)
