"""Checks of typed answers shared by the flows: each turns a validator's result into the stored
value, or into the reason the user is told (the validator's first error code, worded in locales)."""

from __future__ import annotations

from flows.context import Context
from flows.steps import Accepted, Answers, Check, Rejected
from flows.text import t
from flows.validators import check_free_text, check_person_name, check_phone


def person_name(raw: str, answers: Answers, ctx: Context) -> Check:
    result = check_person_name(raw)
    if not result.valid or result.value is None:
        return Rejected(t(f"name.error.{result.errors[0]}"))
    return Accepted(result.value)


def mobile_phone(raw: str, answers: Answers, ctx: Context) -> Check:
    result = check_phone(raw)
    if not result.valid or result.e164 is None:
        return Rejected(t(f"phone.error.{result.errors[0]}"))
    return Accepted(result.e164)


def free_text(raw: str, *, min_len: int, max_len: int) -> Check:
    result = check_free_text(raw, min_len=min_len, max_len=max_len)
    if not result.valid or result.value is None:
        return Rejected(t(f"text.error.{result.errors[0]}", max=str(max_len)))
    return Accepted(result.value)
