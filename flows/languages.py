"""The languages the bot speaks, in one place: flows offer them, bot renders them.

Indonesian and English hold every message. Sundanese and Javanese hold what a worker reads
(the invitation, verification, privacy notice, confirmations, coverage and claims messages);
any other key falls back to Indonesian when rendered (bot.i18n.Renderer), and a test lists
what each still lacks (tests/unit/test_translations.py).
"""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "id"
COMPLETE_LANGUAGES: Final = ("id", "en")  # every key, checked by a test
PARTIAL_LANGUAGES: Final = ("su", "jv")  # the worker's side first; the rest in Indonesian
LANGUAGES: Final = (*COMPLETE_LANGUAGES, *PARTIAL_LANGUAGES)  # offered by /bahasa
# What a sponsor may choose for the worker they register: the worker may not read English.
WORKER_LANGUAGES: Final = ("id", "su", "jv")
# The regional language put right after Indonesian, by the province of the home regency
# (the first two digits of its code): Sundanese in Jawa Barat and Banten, Javanese in Jawa
# Tengah, DI Yogyakarta and Jawa Timur.
REGIONAL_LANGUAGE: Final = {"32": "su", "36": "su", "33": "jv", "34": "jv", "35": "jv"}


def worker_languages(regency_code: str) -> tuple[str, ...]:
    """The worker's languages in the order offered: Indonesian, then the region's own."""
    regional = REGIONAL_LANGUAGE.get(regency_code[:2])
    if regional is None:
        return WORKER_LANGUAGES
    rest = tuple(code for code in WORKER_LANGUAGES if code not in (DEFAULT_LANGUAGE, regional))
    return (DEFAULT_LANGUAGE, regional, *rest)
