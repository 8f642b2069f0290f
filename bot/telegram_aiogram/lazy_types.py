"""aiogram's Telegram types, each built on its first use rather than all of them at import.

Measured for issue 13: `import aiogram` takes 166 MB of RSS (the aiogram echo bot's whole RSS is
171 MB), of which 128 MB is the loop at the end of `aiogram/types/__init__.py` that calls
`model_rebuild` on each of its 404 Telegram types. Each type gets a pydantic validator and
serializer of its own with the definitions of every type it nests inlined (Message alone nests
most of the API), so the same schemas are built hundreds of times over. The bot meets a dozen of
those types (Update, Message, CallbackQuery, User, Chat, the keyboards, WebhookInfo, ...).

`import_aiogram` imports aiogram with that loop's calls recorded instead of run, and makes every
later build of an aiogram type (pydantic rebuilds a type the first time it validates, builds or
serializes one) resolve names in the namespace the loop would have used. Types import each other
only for type checking, so without it a lazy build cannot resolve `Chat` in `Message`.
The types are the same classes with the same validation; only the moment each one is built
moves. The first Message of the process costs its build (a few ms), once. A build runs on the
thread that first uses the type, and pydantic's rebuild is not thread-safe: the bot uses aiogram
on its event loop only (the worker threads draw files and run SQL, never aiogram types).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

_REAL_REBUILD: Any = BaseModel.__dict__["model_rebuild"]
"""pydantic's own BaseModel.model_rebuild (a classmethod object)."""


def _real_rebuild(
    cls: type[BaseModel],
    force: bool,
    raise_errors: bool,
    depth: int,
    namespace: Mapping[str, Any] | None,
) -> bool | None:
    """pydantic's model_rebuild of `cls`, with these arguments."""
    result: bool | None = _REAL_REBUILD.__func__(
        cls,
        force=force,
        raise_errors=raise_errors,
        _parent_namespace_depth=depth,
        _types_namespace=namespace,
    )
    return result


def _aiogram_namespace_rebuild(namespace: Mapping[str, Any]) -> Any:
    """A model_rebuild for aiogram's base classes: pydantic's, in the namespace of all Telegram
    types when the caller gives none (pydantic's automatic rebuild on first use gives none)."""

    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        given = namespace if _types_namespace is None else _types_namespace
        return _real_rebuild(cls, force, raise_errors, _parent_namespace_depth, given)

    return classmethod(model_rebuild)


def import_aiogram() -> bool:
    """Import aiogram with its Telegram types left to be built on first use. Returns False (and
    changes nothing) when aiogram.types was imported already, its types built."""
    if "aiogram.types" in sys.modules:
        return False
    namespaces: list[Mapping[str, Any]] = []

    def record(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        # Only the types package's own loop (a Telegram type, with the namespace of all of
        # them) is deferred; any other rebuild during the import runs as it would.
        if _types_namespace is not None and cls.__module__.startswith("aiogram.types."):
            if not namespaces:
                namespaces.append(_types_namespace)
            return None
        return _real_rebuild(cls, force, raise_errors, _parent_namespace_depth, _types_namespace)

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign,assignment]
    try:
        importlib.import_module("aiogram.types")
    finally:
        BaseModel.model_rebuild = _REAL_REBUILD  # type: ignore[method-assign]
    if not namespaces:  # an aiogram that no longer rebuilds its types at import: nothing to do
        return False
    from aiogram.methods.base import Response, TelegramMethod
    from aiogram.types.base import TelegramObject

    rebuild = _aiogram_namespace_rebuild(namespaces[0])
    # Response[T] (each Bot API answer) and the methods nest Telegram types too.
    for base in (TelegramObject, TelegramMethod, Response):
        base.model_rebuild = rebuild  # type: ignore[method-assign]
    return True
