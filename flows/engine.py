"""The pure engine that runs a flow table: ask, check, store, move on, go back, edit, save.

No I/O: every function takes a session, an input and a context and returns a Turn, a new session and
the effects for the host (messages to send, commands to apply). flows.router sits in front of it and
handles commands and the questions asked on top of a flow.
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flows.commands import Outcome
from flows.context import Context
from flows.effects import Apply, Button, Effect, ForgetUserMessage, Message, Toast
from flows.inputs import ChoicePicked, ContactShared, Input, TextReceived, UnsupportedReceived
from flows.session import Session
from flows.steps import END, Accepted, AnswerKind, Check, Flow, Option, Rejected, Step
from flows.text import Text, t, to_json

SUMMARY = "summary"  # the step id of a flow's summary; no flow table may use it
PAGE_SIZE = 8
FOLDED_KEPT = 8192  # option texts and queries folded for a search (engine._fold)
MAX_FAILURES = 3

BACK = "back"
CANCEL = "cancel"
HELP = "help"
RETRY = "retry"
SKIP = "skip"
SAVE = "save"
NEXT_PAGE = "page:next"
PREVIOUS_PAGE = "page:prev"
EDIT = "edit:"
BOUND = "__bound"  # suffix of the answer key that keeps an agreement's fingerprint
SHOWN = "~"  # an agreement's buttons end in "~<tag of the question as shown>"


@dataclass(frozen=True)
class Turn:
    session: Session
    effects: tuple[Effect, ...] = ()


# --- prompts ----------------------------------------------------------------------------------


def _nav_row(flow: Flow, session: Session) -> tuple[Button, ...]:
    row: list[Button] = []
    if session.editing or session.history:
        row.append(Button(t("button.back"), BACK))
    row.append(Button(t("button.cancel"), CANCEL))
    return tuple(row)


def _option_rows(options: Sequence[Option]) -> list[tuple[Button, ...]]:
    buttons = [Button(option.label, option.value) for option in options]
    if len(buttons) <= 2:
        return [tuple(buttons)] if buttons else []
    return [(button,) for button in buttons]


def matching_options(options: Sequence[Option], query: str) -> list[Option]:
    """Options whose label or search terms contain every word typed (case and accents aside)."""
    words = _fold(query).split()
    if not words:
        return list(options)
    found = []
    for option in options:
        label = option.label.text if not isinstance(option.label, Text) else option.label.key
        haystack = _fold(f"{label} {option.search_terms} {option.value}")
        if all(word in haystack for word in words):
            found.append(option)
    return found


@functools.lru_cache(maxsize=FOLDED_KEPT)
def _fold(text: str) -> str:
    """Case and accents aside. Cached: a search folds every option of a list (a regency's
    villages are hundreds), and the options are the same on every search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _page_count(total: int) -> int:
    return max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)


def prompt(flow: Flow, session: Session, ctx: Context, *, replace: bool = False) -> Message:
    """The message that asks the current step's question, with its buttons."""
    if session.step == SUMMARY:
        return _summary_prompt(flow, session, ctx)
    step = flow.step(_current(session))
    question = step.prompt(session.answers, ctx)
    rows: list[tuple[Button, ...]] = []
    if step.kind is AnswerKind.CONTACT:
        return Message(
            t("prompt.contact", question=question),
            seq=session.seq,
            request_contact=step.contact_button,
        )
    if step.kind is AnswerKind.CHOICE:
        options = _options(step, session, ctx)
        if step.binds is not None:
            # The press must answer this very wording (a month can turn between showing and
            # pressing; the sponsor's data can change): the buttons carry a tag of it.
            tag = SHOWN + _shown_tag(step, session, ctx)
            options = [Option(o.value + tag, o.label, o.search_terms) for o in options]
        rows += _option_rows(options)
    if step.kind is AnswerKind.TEXT and step.options is not None:
        # Typed, or one of the buttons under it instead ("I have no NIP").
        rows += _option_rows(_options(step, session, ctx))
    if step.kind is AnswerKind.LIST:
        shown = matching_options(_options(step, session, ctx), session.query)
        pages = _page_count(len(shown))
        page = min(session.page, pages - 1)
        rows += _option_rows(shown[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
        paging: list[Button] = []
        if page > 0:
            paging.append(Button(t("button.previous_page"), PREVIOUS_PAGE))
        if page < pages - 1:
            paging.append(Button(t("button.next_page"), NEXT_PAGE))
        if paging:
            rows.append(tuple(paging))
        hint = "list.hint_search" if session.query else "list.hint"
        question = t(
            "prompt.list",
            question=question,
            hint=t(hint, page=str(page + 1), pages=str(pages), query=session.query),
        )
    if step.optional:
        rows.append((Button(t("button.skip"), SKIP),))
    rows += [(Button(label, value),) for label, value in step.extra_buttons]
    rows.append(_nav_row(flow, session))
    return Message(question, buttons=tuple(rows), seq=session.seq, replace=replace)


def _summary_prompt(flow: Flow, session: Session, ctx: Context) -> Message:
    assert flow.summary is not None
    edits = [
        Button(t("button.edit", field=step.summary_label), EDIT + step.id)
        for step in flow.steps.values()
        if step.summary_label is not None and step.id in session.answers
    ]
    rows = [tuple(edits[i : i + 2]) for i in range(0, len(edits), 2)]
    if _incomplete(flow, session, ctx):
        # Not saveable yet (an agreement was voided, then "back"): the same button asks what is
        # missing instead of saving.
        rows.append((Button(t("button.answer_missing"), SAVE),))
    else:
        rows.append((Button(t("button.save"), SAVE),))
    rows.append((Button(t("button.cancel"), CANCEL),))
    return Message(flow.summary(session.answers, ctx), buttons=tuple(rows), seq=session.seq)


def _options(step: Step, session: Session, ctx: Context) -> Sequence[Option]:
    assert step.options is not None
    return step.options(session.answers, ctx)


def _current(session: Session) -> str:
    assert session.step is not None
    return session.step


# --- moving between steps ---------------------------------------------------------------------


def start(
    flow: Flow, session: Session, ctx: Context, answers: Mapping[str, Any] | None = None
) -> Turn:
    """Begin a flow from its first step, with a fresh draft and any facts it starts from."""
    origin = dict(answers or {})
    missing = [key for key in flow.starts_from if key not in origin]
    if missing:
        raise ValueError(f"flow {flow.id} starts from {missing}")
    fresh = Session(
        flow=flow.id,
        version=flow.version,
        step=flow.first,
        answers=dict(origin),
        seq=session.seq + 1,
        draft_id=ctx.new_id(),
        origin=origin,
    ).touched(ctx.now)
    first = prompt(flow, fresh, ctx)
    intro = flow.intro_of(ctx) if flow.intro_of is not None else flow.intro
    if intro is not None:
        # One message, not two: fewer messages to read on a phone, and within Telegram's burst.
        first = replace(first, text=t("prompt.intro", intro=intro, question=first.text))
    return Turn(fresh, (first,))


def can_restart(flow: Flow, session: Session) -> bool:
    """Whether the flow can start over: it has what it started from (an older session may not)."""
    return all(key in session.origin for key in flow.starts_from)


def restart(flow: Flow, session: Session, ctx: Context) -> Turn:
    """Start over from the first step, from what the flow was started with."""
    return start(flow, session, ctx, session.origin)


def go_to(flow: Flow, session: Session, step_id: str, ctx: Context, *, editing: bool) -> Session:
    return session.with_(
        step=step_id, seq=session.seq + 1, failures=0, page=0, query="", editing=editing
    )


def _advance(flow: Flow, session: Session, step: Step, ctx: Context) -> Turn:
    """After an accepted answer: the next step, the summary, or the flow's command."""
    following = step.next_step(session.answers, ctx)
    history = (*session.history, step.id)
    effects: list[Effect] = []
    if step.kind is AnswerKind.CONTACT:
        effects.append(Message(t("contact.received"), remove_keyboard=True))
    session, voided = void_stale_agreements(flow, session, ctx)
    if voided:
        effects.append(Message(t("answer.agreement_changed")))
    if session.editing:
        # Back to the summary, unless the change left a later question unanswered (a new NIK must
        # be confirmed, a new programme consented to).
        following = _first_unanswered(flow, session.answers, following, ctx)
    if following == END and flow.summary is not None:
        following = SUMMARY
    if following == END:
        done = session.with_(history=history, failures=0)
        command = flow.command(done.answers, ctx, done.draft_id or "")
        return Turn(done, (*effects, Apply(command, awaits_outcome=True)))
    moved = go_to(flow, session.with_(history=history), following, ctx, editing=session.editing)
    return Turn(moved, (*effects, prompt(flow, moved, ctx)))


def _first_unanswered(flow: Flow, answers: Mapping[str, Any], step_id: str, ctx: Context) -> str:
    seen: set[str] = set()
    while step_id != END and step_id in answers and step_id not in seen:
        seen.add(step_id)
        step_id = flow.step(step_id).next_step(answers, ctx)
    return step_id


def _store(session: Session, step: Step, accepted: Accepted, ctx: Context) -> Session:
    answers = dict(session.answers)
    changed = answers.get(step.id, object()) != accepted.value
    answers[step.id] = accepted.value
    answers.update(accepted.extra)
    if changed:
        for key in step.invalidates:
            answers.pop(key, None)
            answers.pop(key + BOUND, None)
    if step.binds is not None:
        answers[step.id + BOUND] = agreement_fingerprint(step, answers, ctx)
    return session.with_(answers=answers)


# --- agreements -------------------------------------------------------------------------------


def agreement_fingerprint(step: Step, answers: Mapping[str, Any], ctx: Context) -> str:
    """What an agreement was given to: its statement exactly as it renders (the message key and
    every parameter, in the user's language) and the answers it is about."""
    assert step.binds is not None
    document = {
        "language": ctx.user.language,
        "statement": to_json(step.binds(answers, ctx)),
        "about": {key: answers.get(key) for key in step.binds_answers},
    }
    encoded = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def void_stale_agreements(flow: Flow, session: Session, ctx: Context) -> tuple[Session, bool]:
    """Drop every agreement whose statement would no longer read as when it was given."""
    answers = dict(session.answers)
    voided = False
    for step in flow.steps.values():
        if step.binds is None or step.id not in answers:
            continue
        if answers.get(step.id + BOUND) != agreement_fingerprint(step, answers, ctx):
            answers.pop(step.id, None)
            answers.pop(step.id + BOUND, None)
            voided = True
    return (session.with_(answers=answers), True) if voided else (session, False)


def _shown_tag(step: Step, session: Session, ctx: Context) -> str:
    """A short tag of an agreement's question exactly as it reads now, in the user's language."""
    document = {
        "language": ctx.user.language,
        "question": to_json(step.prompt(session.answers, ctx)),
    }
    encoded = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:10]


def _incomplete(flow: Flow, session: Session, ctx: Context) -> bool:
    checked, voided = void_stale_agreements(flow, session, ctx)
    return voided or _first_unanswered(flow, checked.answers, flow.first, ctx) != END


def _reject(flow: Flow, session: Session, reason: Text, ctx: Context) -> Turn:
    failed = session.with_(failures=session.failures + 1)
    question = prompt(flow, failed, ctx)
    if failed.failures >= MAX_FAILURES:
        stuck = Message(
            t("answer.stuck", reason=reason),
            buttons=(
                (Button(t("button.retry"), RETRY), Button(t("button.help"), HELP)),
                (Button(t("button.cancel"), CANCEL),),
            ),
            seq=failed.seq,
        )
        return Turn(failed, (stuck,))
    rejected = Message(
        t("answer.rejected", reason=reason, question=question.text),
        buttons=question.buttons,
        seq=question.seq,
        request_contact=question.request_contact,
    )
    return Turn(failed, (rejected,))


def back(flow: Flow, session: Session, ctx: Context) -> Turn:
    leaving_contact = session.step != SUMMARY and flow.step(_current(session)).kind is (
        AnswerKind.CONTACT
    )
    effects: list[Effect] = []
    if leaving_contact:
        effects.append(Message(t("nav.went_back"), remove_keyboard=True))
    if session.editing and flow.summary is not None:
        moved = go_to(flow, session, SUMMARY, ctx, editing=False)
    elif session.history:
        moved = go_to(
            flow,
            session.with_(history=session.history[:-1]),
            session.history[-1],
            ctx,
            editing=False,
        )
    else:
        return Turn(session, (Message(t("nav.first_question")), prompt(flow, session, ctx)))
    return Turn(moved, (*effects, prompt(flow, moved, ctx)))


def help_for(flow: Flow, session: Session, ctx: Context) -> Turn:
    helped = session.with_(failures=0)
    summary = session.step == SUMMARY
    step = None if summary else flow.step(_current(session))
    if step is None:
        text = t("help.summary")
    else:
        text = step.help_of(session.answers, ctx) if step.help_of is not None else step.help
    return Turn(helped, (Message(t("help.step", text=text)), prompt(flow, helped, ctx)))


# --- answering --------------------------------------------------------------------------------


def answer(flow: Flow, session: Session, event: Input, ctx: Context) -> Turn:
    """Apply one user input to the current step of an active flow."""
    if isinstance(event, ChoicePicked):
        return _choice(flow, session, event, ctx)
    if session.step == SUMMARY:
        return _reject(flow, session, t("answer.press_a_button"), ctx)
    step = flow.step(_current(session))
    if isinstance(event, UnsupportedReceived):
        return _reject(flow, session, t("answer.unsupported", kind=t(f"kind.{event.kind}")), ctx)
    if isinstance(event, ContactShared):
        if step.kind is not AnswerKind.CONTACT:
            return _reject(flow, session, t("answer.contact_not_expected"), ctx)
        if not event.is_own:
            return _reject(flow, session, t("answer.contact_not_own"), ctx)
        # Telegram sends a contact's number with or without the leading "+".
        phone = event.phone if event.phone.startswith("+") else "+" + event.phone.lstrip()
        return _checked(flow, session, step, step.parse(phone, session.answers, ctx), ctx)
    if isinstance(event, TextReceived):
        if step.kind in (AnswerKind.TEXT, AnswerKind.CONTACT):
            turn = _checked(flow, session, step, step.parse(event.text, session.answers, ctx), ctx)
            if step.sensitive and event.message_id is not None:
                forget = ForgetUserMessage(event.message_id)
                turn = Turn(
                    turn.session, (forget, Message(t("privacy.message_deleted")), *turn.effects)
                )
            return turn
        if step.kind is AnswerKind.LIST:
            return _search(flow, session, step, event.text, ctx)
        return _reject(flow, session, t("answer.press_a_button"), ctx)
    return Turn(session)


def _checked(flow: Flow, session: Session, step: Step, check: Check, ctx: Context) -> Turn:
    if isinstance(check, Rejected):
        return _reject(flow, session, check.reason, ctx)
    return _advance(flow, _store(session, step, check, ctx), step, ctx)


def _search(flow: Flow, session: Session, step: Step, text: str, ctx: Context) -> Turn:
    query = " ".join(text.split())[:60]
    found = matching_options(_options(step, session, ctx), query)
    # Either way a new list message replaces the one on screen: a new prompt number, so the
    # buttons of the earlier list are stale (issue 11: one was accepted after a newer search).
    listed = session.with_(seq=session.seq + 1, page=0)
    if not found:
        return _reject(flow, listed.with_(query=""), t("list.not_found", query=query), ctx)
    searched = listed.with_(query=query, failures=0)
    return Turn(searched, (prompt(flow, searched, ctx),))


def _choice(flow: Flow, session: Session, event: ChoicePicked, ctx: Context) -> Turn:
    value = event.value
    if value == CANCEL:
        raise AssertionError("cancel is handled by the router")  # pragma: no cover
    if value == BACK:
        return back(flow, session, ctx)
    if value == HELP:
        return help_for(flow, session, ctx)
    if value == RETRY:
        retried = session.with_(failures=0)
        return Turn(retried, (prompt(flow, retried, ctx),))
    if session.step == SUMMARY:
        return _summary_choice(flow, session, value, ctx)
    step = flow.step(_current(session))
    if value in (NEXT_PAGE, PREVIOUS_PAGE) and step.kind is AnswerKind.LIST:
        shown = matching_options(_options(step, session, ctx), session.query)
        last = _page_count(len(shown)) - 1
        page = min(last, max(0, session.page + (1 if value == NEXT_PAGE else -1)))
        paged = session.with_(page=page)
        return Turn(paged, (prompt(flow, paged, ctx, replace=True),))
    if value == SKIP and step.optional:
        return _advance(flow, _store(session, step, Accepted(None), ctx), step, ctx)
    pressable = step.kind in (AnswerKind.CHOICE, AnswerKind.LIST) or step.options is not None
    if not pressable:
        return Turn(session, (Toast(t("toast.stale")),))
    tag = ""
    if step.binds is not None:
        value, _, tag = value.partition(SHOWN)
    options = _options(step, session, ctx)
    if value not in {option.value for option in options}:
        # Callback data can be forged by any client: only the options of this step are accepted.
        return Turn(session, (Toast(t("toast.stale")),))
    if step.binds is not None and tag != _shown_tag(step, session, ctx):
        # Pressed under a wording that no longer holds: show the current one, ask again.
        again = session.with_(seq=session.seq + 1, failures=0)
        return Turn(again, (Message(t("answer.statement_updated")), prompt(flow, again, ctx)))
    check = step.pick(value, session.answers, ctx) if step.pick else Accepted(value)
    if isinstance(check, Accepted) and step.record_message:
        check = Accepted(check.value, {**check.extra, f"{step.id}_message_id": event.message_id})
    return _checked(flow, session, step, check, ctx)


def _summary_choice(flow: Flow, session: Session, value: str, ctx: Context) -> Turn:
    if value == SAVE:
        # Saved only what was agreed to: an agreement whose statement changed since (a name, the
        # language, the sponsor's own data) or that was dropped by an edit is asked again first.
        checked, voided = void_stale_agreements(flow, session, ctx)
        missing = _first_unanswered(flow, checked.answers, flow.first, ctx)
        if missing != END:
            moved = go_to(flow, checked, missing, ctx, editing=True)
            note = t("answer.agreement_changed") if voided else t("answer.answer_first")
            return Turn(moved, (Message(note), prompt(flow, moved, ctx)))
        command = flow.command(checked.answers, ctx, checked.draft_id or "")
        return Turn(checked, (Apply(command, awaits_outcome=True),))
    if value.startswith(EDIT):
        target = value[len(EDIT) :]
        step = flow.steps.get(target)
        if step is None or step.summary_label is None:
            return Turn(session, (Toast(t("toast.stale")),))
        moved = go_to(flow, session, target, ctx, editing=True)
        return Turn(moved, (prompt(flow, moved, ctx),))
    return Turn(session, (Toast(t("toast.stale")),))


def settle(flow: Flow, session: Session, outcome: Outcome, ctx: Context) -> Turn:
    """What the user is told once the host has applied (or refused) the flow's command.

    A refused answer sends the user back to that step. Otherwise the flow ends; session.then names
    a flow the router starts next.
    """
    settled = flow.settle(outcome, session.answers, ctx)
    buttons = tuple(tuple(Button(label, value) for label, value in row) for row in settled.buttons)
    if settled.go_to is not None:
        moved = go_to(flow, session, settled.go_to, ctx, editing=settled.editing)
        told = Message(settled.message, buttons=buttons)
        return Turn(moved, (told, *settled.effects, prompt(flow, moved, ctx)))
    ended = Session(seq=session.seq + 1, then=settled.start).touched(ctx.now)
    told = Message(settled.message, buttons=buttons, seq=ended.seq)
    return Turn(ended, (told, *settled.effects))
