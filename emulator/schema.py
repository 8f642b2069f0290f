"""Validation of Bot API calls and objects against the compact schema.

Telegram itself silently ignores unknown parameters and is lenient about types, which lets bugs in
a bot hide until a user hits them. The emulator is stricter on purpose: an unknown parameter or
field, a missing required one or a wrong type is a 400 naming the exact path
(``reply_markup.inline_keyboard[0][1].callback_data``), so the first test run surfaces the typo.

Encoding rules mirror the real server: form and multipart values arrive as strings, so top-level
parameters are converted from strings (``"123"`` to an Integer, ``"true"`` to a Boolean, JSON text
to an object or array); values inside JSON objects must have their JSON type, except that integers
may be written as digit strings (aiogram serializes datetimes that way).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from emulator.models import ApiError, UploadedFile, bad_request

SCHEMA_PATH = Path(__file__).with_name("bot_api_schema.json")

_INT_RE = re.compile(r"-?\d+")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_ARRAY = "Array of "


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a method or field of a type."""

    types: tuple[str, ...]
    required: bool
    const: str | None = None


# Parameters removed from the documentation (Bot API 7.0) that Telegram still accepts and that
# aiogram 3 still sends when a bot uses them (``reply_to_message_id``, or
# ``DefaultBotProperties(link_preview_is_disabled=True)``). Accepted where their modern
# replacement exists, so a legitimate bot is not refused.
LEGACY_PARAMS: dict[str, tuple[str, FieldSpec]] = {
    "reply_to_message_id": ("reply_parameters", FieldSpec(("Integer",), False)),
    "allow_sending_without_reply": ("reply_parameters", FieldSpec(("Boolean",), False)),
    "disable_web_page_preview": ("link_preview_options", FieldSpec(("Boolean",), False)),
}


class _Invalid(Exception):
    """A mismatch deep inside a value; the best one among union alternatives is reported."""

    def __init__(self, path: str, reason: str, depth: int, known: int = 0):
        super().__init__(reason)
        self.path = path
        self.reason = reason
        self.score = (depth, known)


def _describe(types: tuple[str, ...]) -> str:
    return " or ".join(types)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "JSON object"
    if isinstance(value, UploadedFile):
        return "InputFile"
    return type(value).__name__


#: A value of the wrong type for a scalar check (None is a valid value of no scalar type here).
_WRONG = object()


def _integer(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)  # a form field
    return _WRONG


def _float(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else _WRONG


def _boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else _WRONG


def _string(value: Any) -> Any:
    return value if isinstance(value, str) else _WRONG


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "Integer": _integer,
    "Float": _float,
    "Boolean": _boolean,
    "String": _string,
}


class BotApiSchema:
    """The methods and types of one Bot API version, with validators for calls and objects."""

    def __init__(self, data: Mapping[str, Any]):
        self.version: str = str(data.get("version", ""))
        self._methods: dict[str, dict[str, FieldSpec]] = {}
        self._returns: dict[str, tuple[str, ...]] = {}
        self._types: dict[str, dict[str, FieldSpec]] = {}
        self._subtypes: dict[str, tuple[str, ...]] = {}
        for name, method in data["methods"].items():
            self._methods[name] = {k: _spec(v) for k, v in method["fields"].items()}
            self._returns[name] = tuple(method["returns"])
        for name, type_ in data["types"].items():
            if "subtypes" in type_:
                self._subtypes[name] = tuple(type_["subtypes"])
            else:
                self._types[name] = {k: _spec(v) for k, v in type_.get("fields", {}).items()}
        self._lower = {name.lower(): name for name in self._methods}

    @classmethod
    def load(cls, path: Path | None = None) -> BotApiSchema:
        """The committed schema (cached), or one read from ``path``."""
        if path is None:
            return _default_schema()
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- introspection -------------------------------------------------------------------------

    @property
    def method_names(self) -> list[str]:
        return sorted(self._methods)

    @property
    def type_names(self) -> list[str]:
        return sorted([*self._types, *self._subtypes])

    def canonical_method(self, name: str) -> str | None:
        """Method names are case-insensitive in the Bot API: ``sendmessage`` is ``sendMessage``."""
        return self._lower.get(name.lower())

    def method_fields(self, method: str) -> dict[str, FieldSpec]:
        return dict(self._methods[method])

    def type_fields(self, type_name: str) -> dict[str, FieldSpec]:
        return dict(self._types[type_name])

    def subtypes(self, type_name: str) -> tuple[str, ...]:
        return self._subtypes.get(type_name, ())

    def returns(self, method: str) -> tuple[str, ...]:
        return self._returns[method]

    # -- validation ----------------------------------------------------------------------------

    def validate_params(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> dict[str, Any]:
        """Check and normalize the parameters of one call; raise a 400 ``ApiError`` if invalid.

        ``files`` are the multipart file parts by name, for ``attach://name`` references.
        Returns the parameters with strings converted to their declared types and attached files
        resolved to ``UploadedFile``.
        """
        spec = dict(self._methods[method])
        for legacy, (replacement, legacy_spec) in LEGACY_PARAMS.items():
            if replacement in spec and legacy in params:
                spec[legacy] = legacy_spec
        attached = files or {}
        for name in params:
            if name not in spec:
                raise bad_request(
                    f'unknown parameter "{name}" for method {method} (Telegram ignores unknown '
                    "parameters silently; the emulator refuses them so that typos surface)"
                )
        for name, field in spec.items():
            if field.required and params.get(name) is None:
                # aiogram leaves empty strings out of a request, so "" arrives as a missing value.
                if name == "text":
                    raise bad_request("message text is empty")
                raise bad_request(f"{name} is empty (a required parameter of {method})")
        normalized: dict[str, Any] = {}
        for name, value in params.items():
            try:
                normalized[name] = self._top_level(spec[name].types, value, name, attached)
            except _Invalid as invalid:
                raise bad_request(f"{invalid.path}: {invalid.reason}") from None
        return normalized

    def validate_object(self, type_name: str, value: Any, path: str = "") -> Any:
        """Check a value against a type (``"Update"``, ``"Array of BotCommand"``...); 400 if not.

        Used for nested parameters and by tests to prove that what the emulator itself produces
        (updates, results) is what a Bot API client expects.
        """
        try:
            return self._check((type_name,), value, path or type_name, {}, 0)
        except _Invalid as invalid:
            raise bad_request(f"{invalid.path}: {invalid.reason}") from None

    def _top_level(
        self, types: tuple[str, ...], value: Any, path: str, files: Mapping[str, UploadedFile]
    ) -> Any:
        if not isinstance(value, str):
            return self._check(types, value, path, files, 1)
        if "InputFile" in types and value.startswith("attach://"):
            return self._attached(value, path, files, 1)
        for type_ in types:
            if type_ == "String":
                return value
            if type_ == "Integer" and _INT_RE.fullmatch(value):
                return int(value)
            if type_ == "Float":
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    return number
            if type_ == "Boolean" and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            if type_.startswith(_ARRAY) or type_ in self._types or type_ in self._subtypes:
                if type_ == "InputFile":
                    continue
                try:
                    decoded = json.loads(value)
                except ValueError:
                    reason = f"can't parse JSON ({_describe(types)} expected)"
                    raise _Invalid(path, reason, 1) from None
                return self._check(types, decoded, path, files, 1)
        raise _Invalid(path, f"must be {_describe(types)}, got {value!r}", 1)

    def _attached(
        self, value: str, path: str, files: Mapping[str, UploadedFile], depth: int
    ) -> UploadedFile:
        name = value.removeprefix("attach://")
        if name not in files:
            raise _Invalid(path, f'refers to "{value}" but no file part "{name}" was sent', depth)
        return files[name]

    def _check(
        self,
        types: tuple[str, ...],
        value: Any,
        path: str,
        files: Mapping[str, UploadedFile],
        depth: int,
    ) -> Any:
        best: _Invalid | None = None
        for type_ in types:
            try:
                return self._check_one(type_, value, path, files, depth)
            except _Invalid as invalid:
                if best is None or invalid.score > best.score:
                    best = invalid
        if len(types) > 1 and best is not None and best.score[0] <= depth and best.score[1] == 0:
            raise _Invalid(path, f"must be {_describe(types)}, got {_kind(value)}", depth)
        assert best is not None
        raise best

    def _check_one(
        self, type_: str, value: Any, path: str, files: Mapping[str, UploadedFile], depth: int
    ) -> Any:
        if type_.startswith(_ARRAY):
            if not isinstance(value, list):
                raise _Invalid(path, f"must be {type_}, got {_kind(value)}", depth)
            item_type = (type_.removeprefix(_ARRAY),)
            return [
                self._check(item_type, item, f"{path}[{i}]", files, depth + 1)
                for i, item in enumerate(value)
            ]
        scalar = _SCALARS.get(type_)
        if scalar is not None:
            checked = scalar(value)
        elif type_ == "InputFile":
            checked = self._input_file(value, path, files, depth)
        elif type_ in self._subtypes:
            return self._check_union(type_, value, path, files, depth)
        elif type_ in self._types:
            return self._check_object(type_, value, path, files, depth)
        else:
            raise _Invalid(path, f"unknown type {type_} in schema", depth)
        if checked is _WRONG:
            raise _Invalid(path, f"must be {type_}, got {_kind(value)}", depth)
        return checked

    def _input_file(
        self, value: Any, path: str, files: Mapping[str, UploadedFile], depth: int
    ) -> Any:
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            return self._attached(value, path, files, depth)
        return _WRONG

    def _check_union(
        self, type_: str, value: Any, path: str, files: Mapping[str, UploadedFile], depth: int
    ) -> Any:
        members = self._subtypes[type_]
        if isinstance(value, dict):
            # Pick the member by its discriminator ("type": "chat") when members declare one.
            for key in ("type", "source", "status"):
                consts = {member: self._types.get(member, {}).get(key) for member in members}
                if all(spec is not None and spec.const for spec in consts.values()):
                    if key not in value:
                        raise _Invalid(path, f'{type_} needs field "{key}"', depth)
                    chosen = [m for m, spec in consts.items() if spec and spec.const == value[key]]
                    if not chosen:
                        allowed = sorted({s.const for s in consts.values() if s and s.const})
                        raise _Invalid(
                            f"{path}.{key}",
                            f"{value[key]!r} is not one of {', '.join(map(str, allowed))}",
                            depth + 1,
                        )
                    return self._check(tuple(chosen), value, path, files, depth)
        return self._check(members, value, path, files, depth)

    def _check_object(
        self, type_: str, value: Any, path: str, files: Mapping[str, UploadedFile], depth: int
    ) -> Any:
        if type_ == "KeyboardButton" and isinstance(value, str):
            value = {"text": value}  # Telegram accepts plain strings as reply keyboard buttons
        if not isinstance(value, dict):
            raise _Invalid(path, f"must be {type_} (a JSON object), got {_kind(value)}", depth)
        fields = self._types[type_]
        known = sum(1 for key in value if key in fields)
        for key in value:
            if key not in fields:
                raise _Invalid(f"{path}.{key}", f"unknown field of {type_}", depth + 1, known)
        for key, spec in fields.items():
            if spec.required and key not in value:
                raise _Invalid(path, f'{type_} needs field "{key}"', depth, known)
        result: dict[str, Any] = {}
        for key, item in value.items():
            spec = fields[key]
            try:
                result[key] = self._check(spec.types, item, f"{path}.{key}", files, depth + 1)
            except _Invalid as invalid:
                invalid.score = (invalid.score[0], max(invalid.score[1], known))
                raise
            if spec.const is not None and item != spec.const:
                raise _Invalid(f"{path}.{key}", f"must be {spec.const!r}", depth + 1, known)
        return result


def _spec(raw: Mapping[str, Any]) -> FieldSpec:
    return FieldSpec(tuple(raw["types"]), bool(raw["required"]), raw.get("const"))


@lru_cache(maxsize=1)
def _default_schema() -> BotApiSchema:
    return BotApiSchema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


__all__ = ["SCHEMA_PATH", "ApiError", "BotApiSchema", "FieldSpec"]
