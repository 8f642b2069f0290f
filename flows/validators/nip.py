"""NIP (Nomor Induk Pegawai) of a civil servant, 18 digits, see shared/domain.md.

PNS:  `YYYYMMDD YYYYMM S NNN`: birth date, start of service (TMT CPNS), sex, serial.
PPPK: `YYYYMMDD YYYY KK S NNN`: birth date, year of appointment, 21-29 where PNS has a month,
sex, serial. Digits 13-14 tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeAlias

from flows.validators._common import Sex, digits_of_length

NipKind: TypeAlias = Literal["PNS", "PPPK"]

NIP_LENGTH = 18
#: Birth dates before this year are rejected: nobody born earlier is still in service.
MIN_BIRTH_YEAR = 1940
#: Start of service is expected no earlier than the 18th birthday.
MIN_SERVICE_AGE = 18
PPPK_CODES = range(21, 30)


@dataclass(frozen=True, slots=True)
class NipCheck:
    """Result of `check_nip`.

    `nip` is set whenever the input is 18 digits. Each decoded field is None when its own check
    failed (`service_start` also when the kind is unknown); "too_young" leaves both dates set.
    """

    valid: bool
    nip: str | None
    errors: tuple[str, ...]
    kind: NipKind | None
    birth_date: date | None
    service_start: date | None
    sex: Sex | None
    serial: str | None


def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def check_nip(raw: str, today: date) -> NipCheck:
    """Checks the structure of a NIP typed or pasted by a user (spaces, dots, dashes allowed)."""
    nip = digits_of_length(raw, NIP_LENGTH)
    if nip is None:
        return NipCheck(
            valid=False,
            nip=None,
            errors=("format",),
            kind=None,
            birth_date=None,
            service_start=None,
            sex=None,
            serial=None,
        )

    errors: list[str] = []

    birth_date = _real_date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    if birth_date is None or birth_date.year < MIN_BIRTH_YEAR:
        errors.append("birth_date")
        birth_date = None
    elif birth_date > today:
        errors.append("birth_date_future")
        birth_date = None

    kind: NipKind | None = None
    service_start: date | None = None
    service_year, code = int(nip[8:12]), int(nip[12:14])
    if 1 <= code <= 12:
        kind = "PNS"
        service_start = _real_date(service_year, code, 1)
    elif code in PPPK_CODES:
        kind = "PPPK"
        service_start = _real_date(service_year, 1, 1)
    else:
        errors.append("kind")
    if kind is not None and (service_start is None or service_start > today):
        errors.append("service_start")
        service_start = None

    if birth_date is not None and service_start is not None:
        if kind == "PNS":
            # Lenient: any day of the month of the 18th birthday counts.
            start_month = service_start.year * 12 + service_start.month
            adult_month = (birth_date.year + MIN_SERVICE_AGE) * 12 + birth_date.month
            too_young = start_month < adult_month
        else:
            # PPPK encodes only the year of appointment.
            too_young = service_start.year < birth_date.year + MIN_SERVICE_AGE
        if too_young:
            errors.append("too_young")

    sex: Sex | None
    if nip[14] == "1":
        sex = "M"
    elif nip[14] == "2":
        sex = "F"
    else:
        sex = None
        errors.append("sex")

    serial: str | None = nip[15:18]
    if serial == "000":
        errors.append("serial")
        serial = None

    return NipCheck(
        valid=not errors,
        nip=nip,
        errors=tuple(errors),
        kind=kind,
        birth_date=birth_date,
        service_start=service_start,
        sex=sex,
        serial=serial,
    )
