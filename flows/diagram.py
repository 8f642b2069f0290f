"""A Mermaid flowchart of each flow, generated from its definition (the README shows them)."""

from __future__ import annotations

from flows.engine import SUMMARY
from flows.registry import reachable, successors
from flows.steps import END, AnswerKind, Flow

SHAPES = {
    AnswerKind.TEXT: ('["', '"]'),
    AnswerKind.CHOICE: ('{{"', '"}}'),
    AnswerKind.LIST: ('[["', '"]]'),
    AnswerKind.CONTACT: ('[/"', '"/]'),
}


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD"]
    for step_id in reachable(flow):
        step = flow.step(step_id)
        left, right = SHAPES[step.kind]
        suffix = " (optional)" if step.optional else ""
        lines.append(f"    {step_id}{left}{step_id}: {step.kind.value}{suffix}{right}")
    finish = SUMMARY if flow.summary is not None else "save"
    for step_id in reachable(flow):
        for target in sorted(successors(flow, step_id)):
            lines.append(f"    {step_id} --> {finish if target == END else target}")
    if flow.summary is not None:
        lines.append(f'    {SUMMARY}(["summary: edit any answer"]) -->|Simpan| save')
        editable = [s.id for s in flow.steps.values() if s.summary_label is not None]
        lines.append(f"    {SUMMARY} -.->|edit| " + " & ".join(editable))
    lines.append('    save(("save"))')
    return "\n".join(lines)


def document(flows: dict[str, Flow]) -> str:
    """Markdown for the README: one diagram per flow."""
    parts = []
    for flow in flows.values():
        parts.append(
            f"### `{flow.id}` (version {flow.version})\n\n```mermaid\n{mermaid(flow)}\n```"
        )
    return "\n\n".join(parts)
