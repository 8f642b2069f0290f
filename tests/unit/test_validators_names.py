from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.validators import FreeTextCheck, NameCheck, check_free_text, check_person_name
from flows.validators.names import is_invisible


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
        "Ir. Soekarno, M.T.",
        "Nguyễn Thị Hồng",
        "Đặng Văn Lâm",
        "Maʼruf Amin",
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
        ("Budi\u200bSantoso", ("invisible",)),
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
        ("\u3164\u3164\u3164", ("too_short",)),  # Hangul fillers: nothing to read
        ("\u2800 \u2800 \u200b\u200b", ("too_short",)),
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


# Basic Latin to Latin Extended-B, but for the micro sign (NFKC: Greek mu) and the Catalan
# "Ŀ", "ŀ" (NFKC: "L·", a middle dot).
LATIN_LETTERS = st.characters(categories=["L"], max_codepoint=0x024F, exclude_characters="µĿŀ")


@given(st.text(alphabet=LATIN_LETTERS, min_size=2, max_size=100))
def test_latin_letters_are_names(raw: str) -> None:
    check = check_person_name(raw)
    # NFKC can lengthen a few letters ("ǆ" becomes "dž").
    assert check.errors in ((), ("too_long",))


@given(st.text())
def test_free_text_never_raises(raw: str) -> None:
    check = check_free_text(raw)
    assert check.valid == (not check.errors)
    if check.valid:
        assert check.value is not None and check_free_text(check.value) == check


# --- what a name shown to somebody else may not hide ------------------------------------------

INVISIBLES = [
    "\u3164",  # Hangul filler
    "\uffa0",  # half-width Hangul filler
    "\u115f",
    "\u1160",
    "\u2800",  # braille pattern blank
    "\u200b",  # zero-width space
    "\u200c",
    "\u200d",
    "\u2060",  # word joiner
    "\ufeff",
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u180e",
    "\u202e",  # right-to-left override
    "\u2066",
    "\ufe0f",  # variation selector
    "\U000e0041",  # tag letter
]


@pytest.mark.parametrize("blank", INVISIBLES)
def test_a_name_of_invisible_characters_only_is_refused(blank: str) -> None:
    for raw in (blank, blank * 5, f" {blank} {blank} "):
        assert check_person_name(raw) == NameCheck(valid=False, value=None, errors=("invisible",))


@pytest.mark.parametrize("blank", INVISIBLES)
def test_an_invisible_character_inside_a_name_is_refused(blank: str) -> None:
    check = check_person_name(f"Budi{blank}Santoso")
    assert not check.valid and "invisible" in check.errors


@pytest.mark.parametrize("blank", INVISIBLES)
def test_invisible_characters_around_a_name_are_dropped(blank: str) -> None:
    assert check_person_name(f"{blank}Budi Santoso{blank} ").value == "Budi Santoso"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("𝐀𝐡𝐦𝐚𝐝", "Ahmad"),  # mathematical bold
        ("𝘈𝘩𝘮𝘢𝘥 𝘍𝘢𝘶𝘻𝘪", "Ahmad Fauzi"),  # mathematical sans-serif italic
        ("𝔄𝔥𝔪𝔞𝔡", "Ahmad"),  # fraktur
        ("Ａｈｍａｄ", "Ahmad"),  # full width
        ("Ⓐⓗⓜⓐⓓ", "Ahmad"),  # circled
        ("ﬁtri", "fitri"),  # ligature
    ],
)
def test_look_alike_letters_become_plain_letters(raw: str, value: str) -> None:
    assert check_person_name(raw).value == value


@pytest.mark.parametrize(
    "raw",
    ["Z̷̨̛a̶l̸g̴o̵ Name", "B\u0301\u0302\u0303udi", "Budi\u0300\u0300\u0300\u0300\u0300\u0300"],
)
def test_stacked_combining_marks_are_refused(raw: str) -> None:
    assert "marks" in check_person_name(raw).errors


def test_two_marks_on_a_letter_are_a_name() -> None:
    """Counted decomposed: "ệ" is e with two marks; "ú" with two more has three."""
    assert check_person_name("Nguyễn Thị Hồng Bu\u0301\u0302di").valid
    assert check_person_name("Bu\u0301\u0302\u0303di").errors == ("marks",)
    assert check_person_name("Bú\u0302\u0303di").errors == ("marks",)
    assert check_person_name("Hệ\u0300").errors == ("marks",)


@pytest.mark.parametrize(
    "raw",
    [
        "李小龍",
        "Абдул Рахман",
        "Αhmad",  # Greek capital alpha that looks like A
        "Аhmad",  # Cyrillic А
        "أحمد",
        "ꦲꦺꦴꦩꦢ꧀",  # Javanese script
        "Budi\u0915",
        "Bud\u093fi",  # a Devanagari vowel sign (a combining mark) on a Latin letter
    ],
)
def test_only_latin_letters_make_a_name(raw: str) -> None:
    assert check_person_name(raw).errors == ("script",)


@pytest.mark.parametrize(
    "code", ["too_short", "too_long", "characters", "invisible", "marks", "script"]
)
def test_every_name_error_is_worded_in_both_languages(code: str) -> None:
    from bot.i18n import Renderer
    from flows.text import t

    for language in ("id", "en"):
        assert Renderer(language)(t(f"name.error.{code}")).strip()


@given(st.text())
def test_an_accepted_name_shows_only_visible_latin_letters_and_name_punctuation(raw: str) -> None:
    check = check_person_name(raw)
    if not check.valid:
        return
    assert check.value is not None
    for char in check.value:
        category = unicodedata.category(char)
        assert not is_invisible(char)
        if category[0] == "L":
            assert unicodedata.name(char).startswith("LATIN ") or char == "ʼ"
        elif category[0] == "M":
            assert (
                0x0300 <= ord(char) <= 0x036F
                or 0x1AB0 <= ord(char) <= 0x1DFF
                or (0xFE20 <= ord(char) <= 0xFE2F)
            )
        else:
            assert char in "'’.,-\u2010 ", repr(char)


@given(
    st.from_regex(r"[A-Za-z]{2,12}( [A-Za-z]{2,12}){0,2}", fullmatch=True),
    st.sampled_from(INVISIBLES),
    st.integers(min_value=1),
)
def test_an_invisible_character_anywhere_inside_is_refused(
    name: str, blank: str, where: int
) -> None:
    position = 1 + where % (len(name) - 1)
    check = check_person_name(name[:position] + blank + name[position:])
    assert not check.valid and "invisible" in check.errors


MATH_BOLD = {chr(ord("A") + i): chr(0x1D400 + i) for i in range(26)} | {
    chr(ord("a") + i): chr(0x1D41A + i) for i in range(26)
}


@given(st.from_regex(r"[A-Za-z]{2,12}( [A-Za-z]{2,12}){0,2}", fullmatch=True))
def test_a_name_in_mathematical_letters_is_the_plain_name(name: str) -> None:
    fancy = "".join(MATH_BOLD.get(char, char) for char in name)
    assert check_person_name(fancy) == check_person_name(name)
    assert check_person_name(name).valid


@given(
    st.from_regex(r"[A-Za-z]{2,12}", fullmatch=True),
    st.lists(st.characters(min_codepoint=0x0300, max_codepoint=0x036F), min_size=3, max_size=30),
)
def test_three_or_more_marks_on_one_letter_are_refused(name: str, marks: list[str]) -> None:
    check = check_person_name(name[0] + "".join(marks) + name[1:])
    assert "marks" in check.errors
