"""Values shown to users, as Text the locales word: dates and months in the user's language."""

from __future__ import annotations

from datetime import date

from flows.text import Text, t


def long_date(value: date) -> Text:
    return t("date.long", day=str(value.day), month=t(f"month.{value.month}"), year=str(value.year))


def month_year(value: date) -> Text:
    return t("date.month_year", month=t(f"month.{value.month}"), year=str(value.year))


def first_of_next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)
