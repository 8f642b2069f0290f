"""The vocabulary flows are written in: steps, options and the result of checking an answer.

A flow is a table of steps. Each step says what to ask, what kind of answer it takes, how to check
it and where to go next. The engine (flows.engine) runs any such table; flows/signup.py and
flows/sponsorship.py are tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

from flows.commands import Command, Outcome
from flows.context import Context
from flows.effects import Effect
from flows.text import Label, Text

Answers: TypeAlias = Mapping[str, Any]

END = "__end__"  # the pseudo step after the last one: the flow's command is applied


class AnswerKind(Enum):
    TEXT = "text"  # typed text, checked by `parse`
    CHOICE = "choice"  # a few inline buttons
    LIST = "list"  # a long list of inline buttons, paged, searched by typing a few letters
    CONTACT = "contact"  # Telegram's "share my contact" button, or the number typed


@dataclass(frozen=True)
class Option:
    value: str  # button data: short, no personal data
    label: Label
    search_terms: str = ""


@dataclass(frozen=True)
class Accepted:
    """An answer that passed: value is stored under the step id, extra under their own keys."""

    value: Any
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """An answer that did not pass, with the reason the user is told."""

    reason: Text


Check: TypeAlias = Accepted | Rejected


def _no_parse(raw: str, answers: Answers, ctx: Context) -> Check:
    raise NotImplementedError  # pragma: no cover - a TEXT step always has a parser


@dataclass(frozen=True)
class Step:
    """One question.

    prompt: the question, from what was answered so far.
    parse: checks typed text (TEXT, CONTACT steps) and turns it into the stored value.
    options: the buttons (CHOICE, LIST steps); on a TEXT step, buttons pressed instead of typing.
    pick: checks a pressed option; by default the option value itself is stored.
    next: the following step id, or a function of the answers.
    optional: offer a "skip" button; skipping stores None.
    invalidates: answers that no longer hold when this one changes; the user is asked them again.
    help: the step's own help text.
    summary_label: the summary's edit button for this step; None for steps not edited alone.
    binds: for an agreement (a consent), the statement the answer agrees to. The engine keeps a
        fingerprint of it (with the user's language) when the answer is given, and voids the
        answer, asking it again, whenever the statement would no longer read the same: after an
        edit from the summary, and before saving.
    binds_answers: answers the agreement is about beyond what its text shows (a NIK shown masked);
        changing one of them voids the agreement too.
    """

    id: str
    kind: AnswerKind
    prompt: Callable[[Answers, Context], Text]
    next: str | Callable[[Answers, Context], str]
    help: Text
    parse: Callable[[str, Answers, Context], Check] = _no_parse
    options: Callable[[Answers, Context], Sequence[Option]] | None = None
    pick: Callable[[str, Answers, Context], Check] | None = None
    optional: bool = False
    invalidates: tuple[str, ...] = ()
    summary_label: Text | None = None
    contact_button: Label | None = None
    record_message: bool = False  # keep the id of the message the answer was given on
    branches: tuple[str, ...] = ()  # every step a `next` function may return, for build checks
    # The help from the answers so far, when it differs by who answers (an honorer's agency is
    # not a salary to cut); None: `help`.
    help_of: Callable[[Answers, Context], Text] | None = None
    # Buttons under the question besides its options (label, value), e.g. a menu entry.
    extra_buttons: tuple[tuple[Text, str], ...] = ()
    sensitive: bool = False  # the typed answer is personal data: delete it from the chat
    binds: Callable[[Answers, Context], Text] | None = None
    binds_answers: tuple[str, ...] = ()

    def next_step(self, answers: Answers, ctx: Context) -> str:
        return self.next if isinstance(self.next, str) else self.next(answers, ctx)


def table(*steps: Step) -> dict[str, Step]:
    """A flow's steps by id, in the order written."""
    by_id = {step.id: step for step in steps}
    if len(by_id) != len(steps):
        raise ValueError("two steps share an id")
    return by_id


@dataclass(frozen=True)
class Settled:
    """What follows the host's outcome for a flow's command.

    message: told to the user. go_to: a step of this flow to ask again (the answer was refused),
    with editing=True to come back to the summary afterwards. start: a flow to begin next.
    Neither: the flow is finished.
    """

    message: Text
    go_to: str | None = None
    editing: bool = False
    start: str | None = None
    buttons: tuple[tuple[tuple[Label, str], ...], ...] = ()
    effects: tuple[Effect, ...] = ()  # more for the host after the message (an invitation)


@dataclass(frozen=True)
class Flow:
    """A conversation as data.

    summary: a step id that shows all answers with a button to change each, and a save button;
    None for flows that apply their command right after the last step.
    starts_from: the answers whoever starts the flow must give (an invitation's details, a
    reference); it starts over from the same ones, and is not offered to start over without them.
    command: builds the domain command from the answers when the flow completes.
    settle: turns the host's outcome into what the user is told and what happens next.
    """

    id: str
    version: int
    title: Text
    first: str
    steps: Mapping[str, Step]
    command: Callable[[Answers, Context, str], Command]
    settle: Callable[[Outcome, Answers, Context], Settled]
    summary: Callable[[Answers, Context], Text] | None = None
    intro: Text | None = None
    starts_from: tuple[str, ...] = ()
    # The intro and title from the context and answers, when they differ by programme or by who
    # answers (a sign-up open to villages is not "Pendaftaran ASN"); None: `intro`, `title`.
    intro_of: Callable[[Context], Text | None] | None = None
    title_of: Callable[[Answers], Text] | None = None

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def title_in(self, answers: Answers) -> Text:
        return self.title_of(answers) if self.title_of is not None else self.title
