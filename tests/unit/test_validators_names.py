from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import FreeTextCheck, NameCheck, check_free_text, check_person_name


@pytest.mark.parametrize(
    "raw",
    [
        "Sukarno",
        "Siti Aminah",
        "Dr. H. Ahmad Fauzi, S.Pd.",
        "Ma'ruf Amin",
        "Ma’ruf Amin",
        "Nur-Aini",
        "Ni Luh Putu Ayu",
        "José Ramírez",
        "Ök",
        "Al",
        "李小龍",
        "Ir. Soekarno, M.T.",
    ],
)
def test_valid_names(raw: str) -> None:
    assert check_person_name(raw) == NameCheck(valid=True, value=raw, errors=())


def test_whitespace_trimmed_and_collapsed() -> None:
    assert check_person_name("  Siti \t  Aminah\n").value == "Siti Aminah"


def test_decomposed_accents_are_composed() -> None:
    assert check_person_name("Jose\u0301").value == "José"


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ("", ("too_short",)),
        ("   ", ("too_short",)),
        ("A", ("too_short",)),
        ("A.", ("too_short",)),
        ("...", ("too_short",)),
        ("A" * 101, ("too_long",)),
        ("Budi 2", ("characters",)),
        ("Budi_Santoso", ("characters",)),
        ("Budi @ Santoso", ("characters",)),
        ("Budi 😀", ("characters",)),
        ("Budi\u200bSantoso", ("characters",)),
        ("123", ("too_short", "characters")),
    ],
)
def test_invalid_names(raw: str, errors: tuple[str, ...]) -> None:
    assert check_person_name(raw) == NameCheck(valid=False, value=None, errors=errors)


def test_length_limit_is_100() -> None:
    assert check_person_name("A" * 100).valid
    assert check_person_name("A " * 50).valid  # trailing space trimmed: 99 characters


def test_free_text() -> None:
    assert check_free_text("Jl. Merdeka No. 10, RT 01/RW 02") == FreeTextCheck(
        valid=True, value="Jl. Merdeka No. 10, RT 01/RW 02", errors=()
    )
    assert check_free_text("Jl. Merdeka\nNo. 10").value == "Jl. Merdeka No. 10"
    assert check_free_text("tukang parkir 😀").valid


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ("", ("too_short",)),
        (" x ", ("too_short",)),
        ("x" * 201, ("too_long",)),
        ("abc\x00def", ("characters",)),
        ("abc\x07", ("characters",)),
        ("abc\u202edef", ("characters",)),
        ("\x00", ("too_short", "characters")),
    ],
)
def test_invalid_free_text(raw: str, errors: tuple[str, ...]) -> None:
    assert check_free_text(raw) == FreeTextCheck(valid=False, value=None, errors=errors)


def test_free_text_limits() -> None:
    assert check_free_text("x" * 200).valid
    assert check_free_text("abc", min_len=5).errors == ("too_short",)
    assert check_free_text("abcdef", max_len=5).errors == ("too_long",)


@given(st.text())
def test_name_never_raises(raw: str) -> None:
    check = check_person_name(raw)
    assert check.valid == (not check.errors)
    if check.valid:
        assert check.value is not None
        assert check.value == check.value.strip() and "  " not in check.value
        assert check_person_name(check.value) == check


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=2, max_size=100))
def test_letters_are_names(raw: str) -> None:
    check = check_person_name(raw)
    # NFC can lengthen a few letters (composition exclusions such as U+0958).
    assert check.errors in ((), ("too_long",))


@given(st.text())
def test_free_text_never_raises(raw: str) -> None:
    check = check_free_text(raw)
    assert check.valid == (not check.errors)
    if check.valid:
        assert check.value is not None and check_free_text(check.value) == check
