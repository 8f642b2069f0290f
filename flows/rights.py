"""Small flows for people's rights and duties, started from buttons under /status and /data_saya:

- in_person: the sponsor records that a worker without Telegram agreed in person;
- withdraw_sponsor: the sponsor withdraws the salary-deduction consent (stops next month);
- withdraw_worker: the worker withdraws consent to their data (erased; anonymous counts stay);
- correction: a request to correct data, into the admins' queue (due in 3 x 24 hours).
Each starts from {"reference": ...} (and "subject" for corrections); the repository checks that the
user may act on that reference, so a forged button changes nothing.
"""

from __future__ import annotations

from typing import Literal

from flows.answers import free_text
from flows.commands import (
    Applied,
    Command,
    Outcome,
    RecordInPersonConsent,
    Refused,
    RequestCorrection,
    WithdrawConsent,
)
from flows.context import Context
from flows.formatting import first_of_next_month, month_year
from flows.steps import END, AnswerKind, Answers, Flow, Option, Settled, Step, table
from flows.text import Raw, Text, t

REFUSALS = ("not_allowed", "wrong_state", "unknown_reference", "too_many_requests")


def _refused(outcome: Outcome) -> Text:
    if isinstance(outcome, Refused) and outcome.reason in REFUSALS:
        return t(f"refusal.{outcome.reason}")
    return t("error.unexpected")


def _agree(label: str) -> list[Option]:
    return [Option("yes", t(label))]


def in_person_statement(answers: Answers) -> Text:
    return t("rights.in_person_statement", reference=Raw(answers["reference"]))


def _in_person_command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    return RecordInPersonConsent(
        user_id=ctx.user.user_id,
        reference=answers["reference"],
        statement=in_person_statement(answers),
        text_version=ctx.catalog.consent_version(
            "rights.in_person_statement", ctx.catalog.privacy_notice_version, ctx.user.language
        ),
        message_id=answers.get("confirm_message_id"),
        given_at=ctx.now,
    )


def _in_person_settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    if isinstance(outcome, Applied):
        return Settled(t("rights.in_person_recorded", reference=Raw(answers["reference"])))
    return Settled(_refused(outcome))


IN_PERSON = Flow(
    id="in_person",
    version=1,
    title=t("rights.in_person_title"),
    first="confirm",
    steps=table(
        Step(
            "confirm",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("rights.ask_in_person", statement=in_person_statement(a)),
            options=lambda a, c: _agree("button.in_person_yes"),
            next=END,
            help=t("rights.help_in_person"),
            record_message=True,
        )
    ),
    command=_in_person_command,
    settle=_in_person_settle,
    starts_from=("reference",),
)


def _withdraw_flow(subject: Literal["sponsor", "worker"]) -> Flow:
    def command(answers: Answers, ctx: Context, draft_id: str) -> Command:
        return WithdrawConsent(
            user_id=ctx.user.user_id,
            reference=answers["reference"],
            subject=subject,
            message_id=answers.get("confirm_message_id"),
            at=ctx.now,
            effective_month=first_of_next_month(ctx.now.date()),
        )

    def settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
        if isinstance(outcome, Applied):
            month = month_year(first_of_next_month(ctx.now.date()))
            reference = Raw(answers["reference"])
            return Settled(t(f"rights.withdrawn_{subject}", reference=reference, month=month))
        return Settled(_refused(outcome))

    return Flow(
        id=f"withdraw_{subject}",
        version=1,
        title=t(f"rights.withdraw_{subject}_title"),
        first="confirm",
        steps=table(
            Step(
                "confirm",
                AnswerKind.CHOICE,
                prompt=lambda a, c: t(
                    f"rights.ask_withdraw_{subject}",
                    reference=Raw(a["reference"]),
                    month=month_year(first_of_next_month(c.now.date())),
                ),
                options=lambda a, c: _agree(f"button.withdraw_{subject}_yes"),
                next=END,
                help=t(f"rights.help_withdraw_{subject}"),
                record_message=True,
            )
        ),
        command=command,
        settle=settle,
        starts_from=("reference",),
    )


WITHDRAW_SPONSOR = _withdraw_flow("sponsor")
WITHDRAW_WORKER = _withdraw_flow("worker")


def _correction_command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    return RequestCorrection(
        user_id=ctx.user.user_id,
        reference=answers.get("reference") or None,
        subject="worker" if answers["subject"] == "worker" else "sponsor",
        details=answers["details"],
        at=ctx.now,
    )


def _correction_settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    if isinstance(outcome, Applied):
        return Settled(t("rights.correction_sent"))
    return Settled(_refused(outcome))


CORRECTION = Flow(
    id="correction",
    version=1,
    title=t("rights.correction_title"),
    first="details",
    steps=table(
        Step(
            "details",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("rights.ask_correction"),
            parse=lambda raw, a, c: free_text(raw, min_len=3, max_len=500),
            next=END,
            help=t("rights.help_correction"),
        )
    ),
    command=_correction_command,
    settle=_correction_settle,
    starts_from=("subject",),
)

FLOWS = {flow.id: flow for flow in (IN_PERSON, WITHDRAW_SPONSOR, WITHDRAW_WORKER, CORRECTION)}
