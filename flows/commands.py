"""Domain commands the engine asks the host to apply, and the outcomes the host feeds back.

The host applies every command of a turn in one database transaction and only then tells the user
that something was saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeAlias

from flows.text import Text


@dataclass(frozen=True)
class SetLanguage:
    user_id: int
    language: str  # "id" or "en"


@dataclass(frozen=True)
class RegisterSponsor:
    """An ASN finishes sign-up. NIP and phone are personal data: the host stores them sealed."""

    user_id: int
    nip: str  # 18 digits
    nip_kind: Literal["PNS", "PPPK"]
    full_name: str
    agency_code: str
    phone_e164: str


@dataclass(frozen=True)
class WorkerDetails:
    category: str  # category code from the catalog, e.g. "art", "ojek", "lainnya"
    category_other: str | None  # free text when category is "lainnya"
    full_name: str
    nik: str  # 16 digits; the host seals it and keeps only a keyed hash and a masked form
    nik_disagreement: str | None  # what the sponsor said differs from what the NIK encodes
    phone_e164: str | None
    district_code: str  # kecamatan, dotted Kemendagri code "32.05.01"
    district_name: str
    village_code: str | None  # desa/kelurahan, "32.05.01.1001"; None when typed by hand
    village_name: str


@dataclass(frozen=True)
class ConsentGiven:
    """The sponsor's explicit consent to the salary deduction, as the user saw and pressed it."""

    statement: Text  # exactly what was shown; the host renders it again to hash the text
    text_version: str
    amount: int  # rupiah a month
    first_month: date  # first day of the first month deducted
    message_id: int | None  # the Telegram message the consent button was pressed on
    given_at: datetime


@dataclass(frozen=True)
class SubmitSponsorship:
    idempotency_key: str  # one per draft: pressing Simpan twice stores one sponsorship
    sponsor_user_id: int
    worker: WorkerDetails
    programme_code: str
    monthly_amount: int
    payment_method: str  # "salary_deduction" or "self_payment"
    consent: ConsentGiven


Command: TypeAlias = SetLanguage | RegisterSponsor | SubmitSponsorship


@dataclass(frozen=True)
class Applied:
    """The command was applied (or had already been applied with the same idempotency key)."""

    reference: str | None = None  # a sponsorship's short reference code


@dataclass(frozen=True)
class Refused:
    """The command broke a rule the database enforces.

    reasons: "nip_taken" (another Telegram account signed up with this NIP), "nik_taken" (the
    worker is already sponsored by another ASN; never say by whom), "limit_reached" (the ASN
    already sponsors as many workers as allowed), "not_registered".
    """

    reason: str


Outcome: TypeAlias = Applied | Refused
