"""Build-time checks of every flow table, run by the tests and at start-up before any user."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from flows.engine import SUMMARY
from flows.steps import END, AnswerKind, Flow


class FlowDefinitionError(ValueError):
    pass


def successors(flow: Flow, step_id: str) -> set[str]:
    """Where a step can lead: its `next`, or the branches declared beside a `next` function."""
    step = flow.step(step_id)
    return {step.next} if isinstance(step.next, str) else set(step.branches)


def check_flow(flow: Flow) -> None:
    if SUMMARY in flow.steps:
        raise FlowDefinitionError(f"{flow.id}: the step id {SUMMARY!r} is reserved")
    if flow.first not in flow.steps:
        raise FlowDefinitionError(f"{flow.id}: first step {flow.first!r} does not exist")
    for step_id, step in flow.steps.items():
        if step.id != step_id:
            raise FlowDefinitionError(f"{flow.id}: step {step_id!r} is declared as {step.id!r}")
        if step.kind in (AnswerKind.CHOICE, AnswerKind.LIST) and step.options is None:
            raise FlowDefinitionError(
                f"{flow.id}.{step_id}: a {step.kind.value} step needs options"
            )
        if step.kind is AnswerKind.CONTACT and step.contact_button is None:
            raise FlowDefinitionError(f"{flow.id}.{step_id}: a contact step needs its button label")
        if not successors(flow, step_id):
            raise FlowDefinitionError(f"{flow.id}.{step_id}: no next step")
        for target in successors(flow, step_id):
            if target != END and target not in flow.steps:
                raise FlowDefinitionError(f"{flow.id}.{step_id}: next step {target!r} is unknown")
    reached = set(reachable(flow))
    missing = set(flow.steps) - reached
    if missing:
        raise FlowDefinitionError(f"{flow.id}: steps never reached: {sorted(missing)}")
    if END not in {t for s in flow.steps for t in successors(flow, s)}:
        raise FlowDefinitionError(f"{flow.id}: no step leads to the end")


def reachable(flow: Flow) -> Iterator[str]:
    seen: set[str] = set()
    pending = [flow.first]
    while pending:
        step_id = pending.pop()
        if step_id in seen or step_id == END:
            continue
        seen.add(step_id)
        yield step_id
        pending.extend(sorted(successors(flow, step_id), reverse=True))


def check_all(flows: Mapping[str, Flow]) -> None:
    for flow in flows.values():
        check_flow(flow)
