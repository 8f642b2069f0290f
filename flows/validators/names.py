"""Person names and free text (addresses, "other" categories) typed by users."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NAME_MIN_LETTERS = 2
NAME_MAX_LENGTH = 100
#: Combining marks allowed on one letter, counted decomposed (NFD): Vietnamese needs two at most
#: ("ệ" is e + dot below + circumflex); "Zalgo" text stacks dozens.
NAME_MAX_MARKS_PER_LETTER = 2

_WHITESPACE = re.compile(r"\s+")
# Punctuation allowed in names besides letters and spaces: "Dr. H. Ahmad Fauzi, S.Pd.",
# "Ma'ruf", "Ma’ruf", "Maʼruf", "Siti Nur-Aini". Hyphen-minus and U+2010 hyphen.
_NAME_PUNCTUATION = frozenset("'’ʼ.,-\u2010 ")
# Bidirectional embedding, override and isolate controls: invisible, and can disguise text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that show nothing but are not format characters (Cf): Hangul fillers (letters!),
# the braille blank, the combining grapheme joiner, Khmer inherent vowels, variation selectors.
_BLANKS = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5"
    + "".join(chr(code) for code in range(0xFE00, 0xFE10))
    + "".join(chr(code) for code in range(0xE0100, 0xE01F0))
)
# Combining marks for Latin letters: diacritical marks and their extensions and supplement.
_LATIN_MARK_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0xFE20, 0xFE2F))


@dataclass(frozen=True, slots=True)
class NameCheck:
    """Result of `check_person_name`. `value` is the normalised name, None when invalid."""

    valid: bool
    value: str | None
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FreeTextCheck:
    """Result of `check_free_text`. `value` is the normalised text, None when invalid."""

    valid: bool
    value: str | None
    errors: tuple[str, ...]


def normalize_text(raw: str) -> str:
    """NFC, trimmed, every run of whitespace (newlines too) collapsed to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", raw)).strip()


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


def is_invisible(char: str) -> bool:
    """Shows nothing: format characters (zero-width spaces and joiners, bidi controls, soft
    hyphen, tags...), Hangul fillers, the braille blank, variation selectors."""
    return unicodedata.category(char) == "Cf" or char in _BLANKS


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _is_latin_letter(char: str) -> bool:
    return _is_letter(char) and unicodedata.name(char, "").startswith("LATIN ")


def _is_latin_mark(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _LATIN_MARK_BLOCKS)


def _is_name_char(char: str) -> bool:
    return char in _NAME_PUNCTUATION or _is_latin_letter(char) or _is_latin_mark(char)


def _too_many_marks(value: str) -> bool:
    run = 0
    for char in value:
        run = run + 1 if _is_mark(char) else 0
        if run > NAME_MAX_MARKS_PER_LETTER:
            return True
    return False


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS


def check_person_name(raw: str) -> NameCheck:
    """A person's name as it will be shown to others (the sponsor's name to the worker).

    NFKC first: mathematical and full-width look-alikes ("𝐀𝐡𝐦𝐚𝐝", "Ａｈｍａｄ") become plain
    letters, ligatures are split. Invisible characters at either end are dropped.

    Codes: "invisible" (an invisible character inside the name, or nothing visible at all),
    "too_short" (fewer than 2 letters), "too_long" (more than 100 characters), "marks" (more
    than 2 combining marks on one letter: "Zalgo" text), "script" (letters other than Latin
    ones: "Αhmad" with a Greek Alpha, "Абдул", "李小龍"), "characters" (digits, symbols, emoji;
    only spaces, apostrophes, dots, commas and hyphens besides letters). Titles are fine:
    "Dr. H. Ahmad Fauzi, S.Pd."; so are single names: "Sukarno"; and accents: "José Ramírez".
    """
    nfkc = unicodedata.normalize("NFKC", raw)
    value = normalize_text(_strip_invisible_edges(nfkc))
    errors: list[str] = []
    if any(is_invisible(char) for char in value) or (not value and nfkc.strip() != ""):
        errors.append("invisible")
    elif sum(1 for char in value if _is_letter(char)) < NAME_MIN_LETTERS:
        errors.append("too_short")
    if len(value) > NAME_MAX_LENGTH:
        errors.append("too_long")
    if _too_many_marks(unicodedata.normalize("NFD", value)):
        errors.append("marks")
    visible = [char for char in value if not is_invisible(char) and not _is_name_char(char)]
    if any(_is_letter(char) or _is_mark(char) for char in visible):
        errors.append("script")
    elif visible:
        errors.append("characters")
    if errors:
        return NameCheck(valid=False, value=None, errors=tuple(errors))
    return NameCheck(valid=True, value=value, errors=())


def _strip_invisible_edges(text: str) -> str:
    start, end = 0, len(text)
    while start < end and (is_invisible(text[start]) or text[start].isspace()):
        start += 1
    while end > start and (is_invisible(text[end - 1]) or text[end - 1].isspace()):
        end -= 1
    return text[start:end]


def check_free_text(raw: str, min_len: int = 2, max_len: int = 200) -> FreeTextCheck:
    """Addresses and other free text. Lengths count characters after normalisation.

    Codes: "too_short" (also a text of invisible characters only: Hangul fillers, zero-width
    spaces, braille blanks), "too_long", "characters" (control characters; whitespace such as
    newlines is collapsed to spaces first, so multi-line addresses are fine)."""
    value = normalize_text(raw)
    errors: list[str] = []
    blank = all(char.isspace() or is_invisible(char) for char in value)
    if len(value) < min_len or blank:
        errors.append("too_short")
    if len(value) > max_len:
        errors.append("too_long")
    if any(_is_control(char) for char in value):
        errors.append("characters")
    if errors:
        return FreeTextCheck(valid=False, value=None, errors=tuple(errors))
    return FreeTextCheck(valid=True, value=value, errors=())
