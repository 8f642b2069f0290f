"""Translatable text: flows speak in message keys, the host renders them from locales/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

ParamValue: TypeAlias = "str | int | Text | Raw"


@dataclass(frozen=True)
class Text:
    """A message key from locales/ and its named parameters (values may be Text themselves)."""

    key: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Text that is data, not wording (an agency or village name): shown as is, not translated."""

    text: str


Label: TypeAlias = "Text | Raw"


def t(key: str, **params: ParamValue) -> Text:
    return Text(key, params)
