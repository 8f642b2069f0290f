"""What the bot did with each update, read from the fake Bot API's chat logs: none lost, none
handled twice, each user's replies in the conversation's order.

Each user posts an update only once the bot answered the previous one (bench/load.py), so a
chat's events fall into one window per update: from the POST of update k to the POST of update
k + 1 (the last window runs to the end of the log). Against that:

- lost: an update whose window holds no event at all (no reply, no edit, no deletion), or a
  conversation that stopped before its end (the generator timed out or got a wrong reply);
- handled twice: a button press answered more than once (answerCallbackQuery carries the
  update's callback query id), or the same message (method and text) sent twice in one window,
  or a window's send repeating the previous window's (an update's reply sent again once the
  next update was posted);
- out of order: an update's window missing the text its step waits for: its reply came before
  the update was posted or after the next one was (a process that answered from a stale
  conversation answers the wrong question, which lands here too). Steps that wait for a button
  or a keyboard rather than a text are checked for a reply at all (lost). Whether a later
  step's text appears early is not checked: the bot's texts share words ("nomor HP" is in the
  contact prompt and in the worker's phone prompt).

Pure functions over recorded data: tests/bench/test_integrity.py feeds them faked logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.fake_api import Event
from bench.load import Step, Turn

SENDS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


@dataclass
class Findings:
    """What the check found over a run's conversations (each list: short descriptions)."""

    conversations: int = 0
    updates: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order)

    def merge(self, other: Findings) -> None:
        self.conversations += other.conversations
        self.updates += other.updates
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.out_of_order += other.out_of_order

    def summary(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "updates": self.updates,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "out_of_order": len(self.out_of_order),
            "clean": self.clean,
            "examples": (self.lost + self.duplicated + self.out_of_order)[:5],
        }


def windows(events: Sequence[Event], turns: Sequence[Turn]) -> list[Sequence[Event]]:
    """The events of each turn: from its mark to the next turn's (the last: to the end)."""
    marks = [turn.mark for turn in turns]
    ends = [*marks[1:], len(events)]
    return [events[start:end] for start, end in zip(marks, ends, strict=True)]


def check_conversation(
    user_id: int,
    steps: Sequence[Step],
    turns: Sequence[Turn],
    events: Sequence[Event],
    callback_answers: Mapping[str, int],
    *,
    completed: bool,
) -> Findings:
    """The findings of one user's conversation (turns: the updates posted, in order)."""
    found = Findings(conversations=1, updates=len(turns))
    if not completed:
        found.lost.append(f"user {user_id}: stopped after {len(turns)} of {len(steps)} updates")
    by_name = {step.name: step for step in steps}
    previous_sends: set[tuple[str, str]] = set()
    for turn, window in zip(turns, windows(events, turns), strict=True):
        where = f"user {user_id} update {turn.update_id} ({turn.step})"
        if not window:
            found.lost.append(f"{where}: no reply")
        answers = callback_answers.get(str(turn.update_id), 0)
        if answers > 1:
            found.duplicated.append(f"{where}: its button press answered {answers} times")
        sends = [(e.method, e.text) for e in window if e.method in SENDS]
        repeated = {send for send in sends if sends.count(send) > 1}
        again = set(sends) & previous_sends
        for method, message in sorted(repeated | again):
            found.duplicated.append(f"{where}: {method} {message[:40]!r} sent again")
        previous_sends = set(sends)
        step = by_name.get(turn.step)
        expect = step.expect if step is not None else None
        if expect is not None and not any(expect in e.text for e in window):
            found.out_of_order.append(f"{where}: its reply {expect!r} is not in its turn")
    return found
