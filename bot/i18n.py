"""Renders flows' Text into the user's language from locales/*.toml, as Telegram HTML."""

from __future__ import annotations

import hashlib
import html
import re
import string
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, get_timezone_name
from babel.numbers import format_currency, format_decimal, get_currency_symbol

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
    "plural_forms",
    "rupiah",
    "tags",
    "text_hash",
    "zone_name",
]

LOCALES_DIR: Traversable = files("locales")  # package data, in the wheel as in the source tree
STATIC_TEXTS_KEPT = 4096  # (language, key) pairs: every key of the locales in two languages


# CLDR's plural categories. A message whose table has only these keys (`other` among them) is
# one message in several plural forms, chosen by its count (PLURAL_COUNT) and Babel's rules:
#     rows.one = "{count} row"
#     rows.other = "{count} rows"
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})
PLURAL_COUNT = ("count", "rows", "days", "hours", "max", "left")
"""The parameter that selects the form: the first of these a message has."""


def _is_plural(value: Mapping[str, Any]) -> bool:
    return "other" in value and set(value) <= PLURAL_CATEGORIES


def _flatten(
    table: Mapping[str, Any], prefix: str = "", plurals: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    """Dotted keys; a plural message is kept under its own key as its `other` form (what the
    checks compare with other languages), its forms in `plurals`."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, Mapping) and _is_plural(value):
            flat[f"{prefix}{key}"] = str(value["other"])
            if plurals is not None:
                plurals[f"{prefix}{key}"] = {form: str(text) for form, text in value.items()}
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}.", plurals))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def catalog(language: str, directory: Traversable = LOCALES_DIR) -> dict[str, str]:
    """The messages of one language, flattened to dotted keys; the shipped ones read once."""
    return _messages(language, directory)[0]


def plural_forms(language: str, directory: Traversable = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """The messages of one language written in plural forms: key -> CLDR category -> text."""
    return _messages(language, directory)[1]


Messages = tuple[dict[str, str], dict[str, dict[str, str]]]


def _messages(language: str, directory: Traversable) -> Messages:
    if directory is LOCALES_DIR:
        return _shipped(language)
    return _load(directory / f"{language}.toml")


@cache
def _shipped(language: str) -> Messages:
    return _load(LOCALES_DIR / f"{language}.toml")


def _load(file: Traversable) -> Messages:
    plurals: dict[str, dict[str, str]] = {}
    flat = _flatten(tomllib.loads(file.read_text(encoding="utf-8")), plurals=plurals)
    return flat, plurals


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def tags(template: str) -> list[str]:
    """The HTML tags of a message in order: a translation keeps the same markup."""
    return sorted(_TAGS_FOUND.findall(template))


class Renderer:
    """Turns Text into HTML in one language; a key missing there falls back to Indonesian."""

    def __init__(self, language: str | None, directory: Traversable = LOCALES_DIR) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._messages, self._plurals = _messages(self.language, directory)
        self._fallback, self._fallback_plurals = _messages(DEFAULT_LANGUAGE, directory)
        self._shipped = directory is LOCALES_DIR

    def __call__(self, text: Text | Raw) -> str:
        if isinstance(text, Raw):
            return html.escape(text.text, quote=False)
        if text.key in DATE_SKELETONS:
            day = _date_of(text)
            if day is not None:
                return _date(day, DATE_SKELETONS[text.key], self.language)
        template = self._messages.get(text.key) or self._fallback.get(text.key)
        if template is None:
            raise KeyError(f"no message {text.key!r} in locales/{self.language}.toml")
        if text.key in self._messages:
            template = self._plural(template, self._plurals, text, self.language)
        else:  # shown in Indonesian: its forms are Indonesian's
            template = self._plural(template, self._fallback_plurals, text, DEFAULT_LANGUAGE)
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

    @staticmethod
    def _plural(
        template: str, plurals: Mapping[str, Mapping[str, str]], text: Text, language: str
    ) -> str:
        """The form of a plural message for its count, by the language's CLDR rules (Babel):
        English "1 row" / "2 rows"; Indonesian has one form."""
        forms = plurals.get(text.key)
        if forms is None:
            return template
        count = next((text.params[n] for n in PLURAL_COUNT if n in text.params), None)
        if not isinstance(count, int) or isinstance(count, bool):
            return template
        return forms.get(_babel_locale(language).plural_form(count), template)

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
            return _Number(value, self.language)
        return html.escape(str(value), quote=False)


# Dates as CLDR writes them in each language (Babel): 1 Desember 2026, 1 Désémber 2026 (su),
# December 1, 2026. flows.formatting words them as date.long and date.month_year with the day,
# the month's key and the year (so a message stored in the outbox still reads); the locales'
# templates are what a language Babel lacks shows.
DATE_SKELETONS = {"date.long": "yMMMMd", "date.month_year": "yMMMM"}
_MONTH_KEY = re.compile(r"month\.(1[0-2]|[1-9])")


def _date_of(text: Text) -> date | None:
    """The date flows.formatting put in a date.long or date.month_year Text, if it did."""
    month, year, day = (
        text.params.get("month"),
        text.params.get("year"),
        text.params.get("day", "1"),
    )
    if not isinstance(month, Text) or not isinstance(year, str) or not isinstance(day, str):
        return None
    found = _MONTH_KEY.fullmatch(month.key)
    if found is None or not year.isdigit() or not day.isdigit():
        return None
    try:
        return date(int(year), int(found.group(1)), int(day))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _date(day: date, skeleton: str, language: str) -> str:
    return html.escape(format_skeleton(skeleton, day, locale=_babel_locale(language)), quote=False)


class _Number(str):
    """A number as the language groups it; `{amount:rupiah}` in a template shows it as rupiah."""

    def __new__(cls, value: int, language: str) -> _Number:
        shown = super().__new__(cls, _number(value, language))
        shown.value, shown.language = value, language
        return shown

    value: int
    language: str

    def __format__(self, spec: str) -> str:
        if spec == "rupiah":
            return rupiah(self.value, self.language)
        return super().__format__(spec)


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
    return format_decimal(value, locale=_babel_locale(language), group_separator=True)


@lru_cache(maxsize=4096)
def rupiah(value: int, language: str = DEFAULT_LANGUAGE) -> str:
    """An amount in rupiah as the language writes currency (Babel), with the symbol Indonesians
    read in every language and no cents: Rp16.800 in Indonesian, Rp16,800 in English."""
    locale = _babel_locale(language)
    shown = format_currency(value, "IDR", "¤#,##0", locale=locale, currency_digits=False)
    return shown.replace(get_currency_symbol("IDR", locale), "Rp", 1)


@cache
def _babel_locale(language: str) -> Locale:
    """The language's CLDR data, Indonesian's where Babel has none."""
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


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
