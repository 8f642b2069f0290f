"""Person names and free text (addresses, "other" categories) typed by users."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NAME_MIN_LETTERS = 2
NAME_MAX_LENGTH = 100

_WHITESPACE = re.compile(r"\s+")
# Punctuation allowed in names besides letters and spaces: "Dr. H. Ahmad Fauzi, S.Pd.",
# "Ma'ruf", "Ma’ruf", "Siti Nur-Aini". Hyphen-minus and U+2010 hyphen.
_NAME_PUNCTUATION = frozenset("'’.,-\u2010 ")
# Bidirectional embedding, override and isolate controls: invisible, and can disguise text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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


def _is_name_char(char: str) -> bool:
    # Combining marks (M*) belong to letters in many scripts and in decomposed accents.
    return char in _NAME_PUNCTUATION or unicodedata.category(char)[0] in ("L", "M")


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS


def check_person_name(raw: str) -> NameCheck:
    """Codes: "too_short" (fewer than 2 letters), "too_long" (more than 100 characters),
    "characters" (anything but letters of any script, spaces, apostrophes, dots, commas,
    hyphens). Titles are fine: "Dr. H. Ahmad Fauzi, S.Pd."; so are single names: "Sukarno"."""
    value = normalize_text(raw)
    errors: list[str] = []
    if sum(1 for char in value if _is_letter(char)) < NAME_MIN_LETTERS:
        errors.append("too_short")
    if len(value) > NAME_MAX_LENGTH:
        errors.append("too_long")
    if not all(_is_name_char(char) for char in value):
        errors.append("characters")
    if errors:
        return NameCheck(valid=False, value=None, errors=tuple(errors))
    return NameCheck(valid=True, value=value, errors=())


def check_free_text(raw: str, min_len: int = 2, max_len: int = 200) -> FreeTextCheck:
    """Addresses and other free text. Lengths count characters after normalisation.

    Codes: "too_short", "too_long", "characters" (control characters; whitespace such as
    newlines is collapsed to spaces first, so multi-line addresses are fine)."""
    value = normalize_text(raw)
    errors: list[str] = []
    if len(value) < min_len:
        errors.append("too_short")
    if len(value) > max_len:
        errors.append("too_long")
    if any(_is_control(char) for char in value):
        errors.append("characters")
    if errors:
        return FreeTextCheck(valid=False, value=None, errors=tuple(errors))
    return FreeTextCheck(valid=True, value=value, errors=())
