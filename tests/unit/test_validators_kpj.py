"""One KPJ validator (flows.validators.kpj) serves /aktifkan, the coverage import and storage."""

from __future__ import annotations

import pytest

from flows.validators.kpj import check_kpj


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345678", "12345678"),  # the shortest
        ("1234567890123456", "1234567890123456"),  # the longest
        ("12345678901", "12345678901"),  # the usual 11 digits
        ("١٢٣٤٥٦٧٨٩٠١", "12345678901"),  # Arabic-Indic digits read as ASCII
        ("1234567", None),  # one too short
        ("12345678901234567", None),  # one too long
        ("1234-5678901", None),
        ("+12345678901", None),
        ("", None),
    ],
)
def test_a_kpj_is_8_to_16_digits_of_any_script(raw: str, expected: str | None) -> None:
    assert check_kpj(raw) == expected
