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


def to_json(text: Text | Raw) -> dict[str, object]:
    """A Text as plain JSON, for messages stored before sending (the outbox)."""
    if isinstance(text, Raw):
        return {"raw": text.text}
    params: dict[str, object] = {}
    for name, value in text.params.items():
        params[name] = to_json(value) if isinstance(value, Text | Raw) else value
    return {"key": text.key, "params": params}


def from_json(document: dict[str, object]) -> Text | Raw:
    if "raw" in document:
        return Raw(str(document["raw"]))
    params: dict[str, ParamValue] = {}
    raw_params = document.get("params") or {}
    assert isinstance(raw_params, dict)
    for name, value in raw_params.items():
        params[name] = from_json(value) if isinstance(value, dict) else value
    return Text(str(document["key"]), params)
