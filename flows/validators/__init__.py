"""Validators for what users type: NIK, NIP, phone numbers, names, free text; and masks.

Pure functions returning frozen results with short error codes; the host renders the codes from
locales/. No clock: callers pass `today`.
"""

from flows.validators._common import Sex
from flows.validators.dates import parse_date
from flows.validators.digits import ascii_digits, normalize_digits, parse_int
from flows.validators.masking import mask_nik, mask_nip, mask_phone
from flows.validators.names import FreeTextCheck, NameCheck, check_free_text, check_person_name
from flows.validators.nik import NIK_PROVINCE_CODES, NikCheck, check_nik
from flows.validators.nip import NipCheck, NipKind, check_nip
from flows.validators.phone import PhoneCheck, check_contact_phone, check_phone

__all__ = [
    "NIK_PROVINCE_CODES",
    "FreeTextCheck",
    "NameCheck",
    "NikCheck",
    "NipCheck",
    "NipKind",
    "PhoneCheck",
    "Sex",
    "ascii_digits",
    "check_contact_phone",
    "check_free_text",
    "check_nik",
    "check_nip",
    "check_person_name",
    "check_phone",
    "mask_nik",
    "mask_nip",
    "mask_phone",
    "normalize_digits",
    "parse_date",
    "parse_int",
]
