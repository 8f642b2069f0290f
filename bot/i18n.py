"""Renders flows' Text into the user's language from locales/*.toml, as Telegram HTML."""

from __future__ import annotations

import hashlib
import html
import re
import string
import tomllib
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from babel.dates import get_timezone_name
from babel.numbers import format_decimal

from flows.languages import COMPLETE_LANGUAGES, DEFAULT_LANGUAGE, LANGUAGES, PARTIAL_LANGUAGES
from flows.text import Raw, Text

__all__ = [
    "COMPLETE_LANGUAGES",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "PARTIAL_LANGUAGES",
    "Renderer",
    "catalog",
    "placeholders",
    "tags",
    "text_hash",
    "zone_name",
]

LOCALES_DIR: Traversable = files("locales")  # package data, in the wheel as in the source tree
STATIC_TEXTS_KEPT = 4096  # (language, key) pairs: every key of the locales in two languages


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def catalog(language: str, directory: Traversable = LOCALES_DIR) -> dict[str, str]:
    """The messages of one language, flattened to dotted keys; the shipped ones read once."""
    if directory is LOCALES_DIR:
        return _shipped(language)
    return _load(directory / f"{language}.toml")


@cache
def _shipped(language: str) -> dict[str, str]:
    return _load(LOCALES_DIR / f"{language}.toml")


def _load(file: Traversable) -> dict[str, str]:
    return _flatten(tomllib.loads(file.read_text(encoding="utf-8")))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def tags(template: str) -> list[str]:
    """The HTML tags of a message in order: a translation keeps the same markup."""
    return sorted(_TAGS_FOUND.findall(template))


class Renderer:
    """Turns Text into HTML in one language; a key missing there falls back to Indonesian."""

    def __init__(self, language: str | None, directory: Traversable = LOCALES_DIR) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._messages = catalog(self.language, directory)
        self._fallback = catalog(DEFAULT_LANGUAGE, directory)
        self._shipped = directory is LOCALES_DIR

    def __call__(self, text: Text | Raw) -> str:
        if isinstance(text, Raw):
            return html.escape(text.text, quote=False)
        template = self._messages.get(text.key) or self._fallback.get(text.key)
        if template is None:
            raise KeyError(f"no message {text.key!r} in locales/{self.language}.toml")
        values = {name: self._param(value) for name, value in text.params.items()}
        try:
            return template.format_map(values)
        except (KeyError, IndexError):
            # A translation left behind by a changed Indonesian text (a parameter renamed):
            # the worker reads the Indonesian rather than nothing. tests/unit/test_translations.py
            # fails on it before a release.
            fallback = self._fallback.get(text.key)
            if fallback is None or fallback is template:
                raise
            return fallback.format_map(values)

    def plain(self, text: Text | Raw) -> str:
        """Without HTML: for button labels, toasts and command descriptions."""
        if isinstance(text, Text) and not text.params and self._shipped:
            return _static_plain(self.language, text.key)
        return html.unescape(_strip_tags(self(text)))

    def _param(self, value: object) -> str:
        if isinstance(value, Text | Raw):
            return self(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return _number(value, self.language)
        return html.escape(str(value), quote=False)


@lru_cache(maxsize=STATIC_TEXTS_KEPT)
def _static_plain(language: str, key: str) -> str:
    """A button label or toast without parameters, in one language of the shipped locales: the
    same few hundred on every message (a list of options is a dozen labels), so each is
    rendered once per language."""
    return html.unescape(_strip_tags(Renderer(language)(Text(key))))


@lru_cache(maxsize=4096)
def _number(value: int, language: str) -> str:
    """CLDR's grouping for the language (Babel): 16.800 in id, su and jv, 16,800 in en. Cached:
    Babel takes about 20 µs a number, and the same amounts and counts come back all day."""
    return format_decimal(value, locale=language, group_separator=True)


_TAGS = re.compile(r"</?(b|i|u|s|code|pre)>")
_TAGS_FOUND = re.compile(r"</?(?:b|i|u|s|code|pre|a)\b[^>]*>")


def _strip_tags(text: str) -> str:
    return _TAGS.sub("", text)


def zone_name(moment: datetime) -> str:
    """WIB, WITA or WIT (CLDR's Indonesian names, through Babel) for an aware local time: the
    names every Indonesian reads, whatever the language of the rest of the message."""
    return get_timezone_name(moment, "short", locale=DEFAULT_LANGUAGE)


def text_hash(rendered: str) -> str:
    """The consent record's proof of what was shown: sha256 of the exact rendered text.

    For a consent, `rendered` is the statement (ConsentGiven/WorkerConsents.statement) rendered
    in the user's language as the Telegram HTML sent: the consent message is that statement
    followed by the question (sponsorship.ask_consent). tests/e2e/test_consent_record.py rebuilds
    it from what the user's chat received and compares.
    """
    return hashlib.sha256(rendered.encode("utf-8")).hexdigest()
