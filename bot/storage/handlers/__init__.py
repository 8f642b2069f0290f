"""Command handlers, one module per aggregate, each registering its handlers by command type.

A handler takes the turn (bot.storage.lookups.Turn) and its command and returns an outcome;
handlers never import each other (what they share is in bot.storage.lookups).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from bot.storage.lookups import Keep, Turn
from flows.commands import Outcome

Handler: TypeAlias = Callable[[Turn, Any], Outcome | Keep]
Handlers: TypeAlias = Mapping[type, Handler]
