"""Build-time checks: every flow well-formed, every message key present in every locale with the
same parameters, every configured label worded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import COMPLETE_LANGUAGES, catalog, placeholders
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows.registry import FlowDefinitionError, check_all, check_flow
from flows.router import FLOWS
from flows.steps import AnswerKind, Flow, Step
from flows.text import t
from tests.unit.flowkit import PROGRAMME

ROOT = Path(__file__).resolve().parents[2]


def test_all_flows_pass_their_build_checks() -> None:
    check_all(FLOWS)


def _broken(**changes: object) -> Flow:
    step = Step("a", AnswerKind.TEXT, prompt=lambda a, c: t("x"), next="__end__", help=t("x"))
    steps = {"a": step, **changes.pop("steps", {})}  # type: ignore[dict-item]
    base = {
        "id": "f",
        "version": 1,
        "title": t("x"),
        "first": "a",
        "steps": steps,
        "command": lambda a, c, d: None,
        "settle": lambda o, a, c: None,
    }
    return Flow(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (_broken(first="zz"), "first step"),
        (
            _broken(
                steps={"b": Step("b", AnswerKind.TEXT, lambda a, c: t("x"), "__end__", t("x"))}
            ),
            "never reached",
        ),
        (
            _broken(
                steps={"a": Step("a", AnswerKind.CHOICE, lambda a, c: t("x"), "__end__", t("x"))}
            ),
            "needs options",
        ),
        (
            _broken(steps={"a": Step("a", AnswerKind.TEXT, lambda a, c: t("x"), "nope", t("x"))}),
            "unknown",
        ),
        (
            _broken(
                steps={
                    "a": Step("a", AnswerKind.TEXT, lambda a, c: t("x"), lambda a, c: "a", t("x"))
                }
            ),
            "no next step",
        ),
        (
            _broken(
                steps={
                    "summary": Step(
                        "summary", AnswerKind.TEXT, lambda a, c: t("x"), "__end__", t("x")
                    )
                }
            ),
            "reserved",
        ),
    ],
)
def test_broken_flow_definitions_are_refused(flow: Flow, message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        check_flow(flow)


def test_every_locale_has_the_same_keys_and_parameters() -> None:
    """The complete languages; su and jv are partial (tests/unit/test_translations.py)."""
    reference = catalog("id")
    for language in COMPLETE_LANGUAGES:
        messages = catalog(language)
        assert set(messages) == set(reference), language
        for key, template in messages.items():
            assert placeholders(template) == placeholders(reference[key]), (language, key)


def test_every_message_key_used_in_code_exists() -> None:
    used: set[str] = set()
    for path in [*ROOT.glob("flows/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        used |= set(
            re.findall(r'\bt\(\s*"([a-z_]+(?:\.[A-Za-z0-9_]+)+|[a-z_]+)"', path.read_text())
        )
    assert used, "the scan found no keys"
    missing = sorted(key for key in used if key not in catalog("id"))
    assert not missing


def test_every_configured_label_and_consent_is_worded() -> None:
    messages = catalog("id")
    c = PROGRAMME.catalog
    labelled = (*c.relationships, *c.jobs, *c.programmes, *c.payment_methods)
    keys = [x.label.key for x in labelled]
    keys += [p.covers.key for p in c.programmes] + [m.consent_key for m in c.payment_methods]
    for language in COMPLETE_LANGUAGES:
        assert not [k for k in keys if k not in catalog(language)], language
    assert DEFAULT_PROGRAMME_FILE.exists() and messages


def test_readme_flow_diagrams_are_up_to_date() -> None:
    from bot.cli.docs import README, with_diagrams

    text = README.read_text(encoding="utf-8")
    assert with_diagrams(text) == text, "run `peduli docs` and commit README.md"


def test_readme_documents_every_setting() -> None:
    from bot.settings import Settings

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    undocumented = [
        name.upper()
        for name in Settings.model_fields
        if f"`{name.upper()}`" not in text and name != "data_key_file"
    ]
    assert not undocumented
