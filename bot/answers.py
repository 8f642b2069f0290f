"""A turn's answer as plain JSON, kept in the turn journal until it is delivered.

The answer is what `ConversationService._deliver` needs to answer an update again after a crash:
the effects to send (Message, Toast, ShowStatus, ForgetUserMessage, ...; never Apply, which was
applied in the turn's transaction), the user's language, and the parts of the update the sending
uses (chat, callback query, the pressed button). Effects are frozen dataclasses of flows.effects
and flows.text; they are encoded generically, tagged with their class name, so a new effect needs
no code here. It can hold personal data (a worker's name, an invitation token): the journal seals
it and drops it once delivered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from flows import effects as effects_module
from flows import text as text_module
from flows.effects import Apply, Effect

_CLASSES: dict[str, type[Any]] = {
    name: value
    for module in (effects_module, text_module)
    for name, value in vars(module).items()
    if isinstance(value, type) and dataclasses.is_dataclass(value)
}


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _CLASSES.get(name) is not type(value):
            raise TypeError(f"cannot store a {name}")
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$": name, **fields}
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"$map": {str(k): encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(decode(item) for item in value)
    if isinstance(value, dict):
        if "$map" in value:
            return {k: decode(v) for k, v in value["$map"].items()}
        fields = {k: decode(v) for k, v in value.items() if k != "$"}
        return _CLASSES[value["$"]](**fields)
    return value


def effects_to_json(effects: Sequence[Effect]) -> list[Any]:
    return [encode(effect) for effect in effects if not isinstance(effect, Apply)]


def effects_from_json(stored: list[Any]) -> list[Effect]:
    return [decode(item) for item in stored]
