"""A KPJ number: the BPJS Ketenagakerjaan membership number (usually 11 digits)."""

from __future__ import annotations

from flows.validators.digits import ascii_digits

KPJ_DIGITS = (8, 16)  # shortest and longest KPJ number accepted


def check_kpj(raw: str) -> str | None:
    """The KPJ number as ASCII digits (digits of any script are read as ASCII), or None unless it
    is 8 to 16 digits and nothing else."""
    kpj = ascii_digits(raw)
    if kpj is None or not KPJ_DIGITS[0] <= len(kpj) <= KPJ_DIGITS[1]:
        return None
    return kpj
