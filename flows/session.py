"""A conversation session: plain JSON, never pickled, so any store and any process can resume it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

SESSION_FORMAT = 1


@dataclass(frozen=True)
class Session:
    """Where one user stands.

    flow/step: the active flow and step ids (stable strings), or None between flows.
    answers: what the user has given so far, keyed by step id (plus a few derived keys).
    history: the steps visited, for "back".
    failures: invalid answers in a row at this step; after three the user is offered help or cancel.
    seq: the number of the current prompt; buttons carry it so a press on an old prompt is ignored.
    editing: the user came from the summary to change one answer and returns there after it.
    page/query: the page and the search text of a long list of choices.
    interrupt: a question asked on top of the flow ("language", "resume"), answered by the router.
    then: a flow to start once the current one ends.
    pending: a command the router itself awaits the outcome of ("invitation": a deep link opened).
    draft_id: idempotency key of what this flow will save.
    parked: a draft put aside (as its session JSON) while the user opens an invitation; offered
    again as soon as nothing else is going on.
    origin: the answers the flow was started with (an invitation's details, a reference), so
    "start over" starts from the same place.
    updated_at: last activity, ISO 8601; a user coming back after a while is greeted accordingly.
    """

    flow: str | None = None
    version: int = 0
    step: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    failures: int = 0
    seq: int = 0
    editing: bool = False
    page: int = 0
    query: str = ""
    interrupt: str | None = None
    then: str | None = None
    pending: str | None = None
    draft_id: str | None = None
    updated_at: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    parked: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.flow is not None and self.step is not None

    @property
    def in_conversation(self) -> bool:
        """Whether the user's next free-text message is the flows' to read: a step awaits its
        answer, or a question was asked on top of the flow (interrupt). Between flows it is
        not: a bot hosting the flows (flows_router) leaves such a message to its own handlers."""
        return self.active or self.interrupt is not None

    def with_(self, **changes: Any) -> Session:
        return replace(self, **changes)

    def touched(self, now: datetime) -> Session:
        return replace(self, updated_at=now.isoformat())

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"format": SESSION_FORMAT}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            document[item.name] = value
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any] | None) -> Session:
        if not document or document.get("format") != SESSION_FORMAT:
            return cls()
        return cls(
            **{
                item.name: _READ.get(item.name, _as_is)(document.get(item.name))
                for item in fields(cls)
            }
        )


def _as_is(value: Any) -> Any:
    return value


# How each field is read back from JSON, when not as it is (a missing value is the default).
_READ: dict[str, Callable[[Any], Any]] = {
    "version": lambda value: int(value or 0),
    "answers": lambda value: dict(value or {}),
    "history": lambda value: tuple(value or ()),
    "failures": lambda value: int(value or 0),
    "seq": lambda value: int(value or 0),
    "editing": bool,
    "page": lambda value: int(value or 0),
    "query": lambda value: str(value or ""),
    "origin": lambda value: dict(value or {}),
    "parked": lambda value: value or None,
}
