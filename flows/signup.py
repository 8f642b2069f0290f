"""Sign-up of an ASN, once: NIP (confirmed), full name, agency, phone."""

from __future__ import annotations

from datetime import date

from flows import answers
from flows.catalog import Agency, Catalog
from flows.commands import Applied, Command, Outcome, Refused, RegisterSponsor
from flows.context import Context
from flows.formatting import long_date, month_year
from flows.steps import (
    END,
    Accepted,
    AnswerKind,
    Answers,
    Check,
    Flow,
    Option,
    Rejected,
    Settled,
    Step,
    table,
)
from flows.text import Raw, Text, t
from flows.validators import check_nip

FLOW_ID = "signup"


def _parse_nip(raw: str, answers: Answers, ctx: Context) -> Check:
    result = check_nip(raw, ctx.now.date())
    if not result.valid or result.nip is None:
        return Rejected(t(f"nip.error.{result.errors[0]}"))
    assert result.birth_date and result.service_start and result.sex and result.kind
    return Accepted(
        result.nip,
        {
            "nip_kind": result.kind,
            "nip_birth_date": result.birth_date.isoformat(),
            "nip_service_start": result.service_start.isoformat(),
            "nip_sex": result.sex,
        },
    )


def _confirm_nip_prompt(answers: Answers, ctx: Context) -> Text:
    start = date.fromisoformat(answers["nip_service_start"])
    return t(
        "signup.confirm_nip",
        kind=t(f"nip.kind.{answers['nip_kind']}"),
        birth_date=long_date(date.fromisoformat(answers["nip_birth_date"])),
        sex=t(f"sex.{answers['nip_sex']}"),
        service_start=month_year(start) if answers["nip_kind"] == "PNS" else str(start.year),
    )


def _yes_no(yes: str, no: str) -> list[Option]:
    return [Option("yes", t(yes)), Option("no", t(no))]


def agency_options(answers: Answers, ctx: Context) -> list[Option]:
    return [_agency_option(agency, ctx.catalog) for agency in ctx.catalog.agencies]


def _agency_option(agency: Agency, catalog: Catalog) -> Option:
    regency = catalog.regency(agency.regency) if catalog.regencies and agency.regency else None
    if regency is None:
        return Option(agency.code, Raw(agency.name), agency.search_terms)
    # Several regencies' "Dinas Kesehatan": the regency names which, and finds it when typed
    # (a translated label is searched by its key: the names go in the search terms).
    label = t("regions.agency_option", agency=Raw(agency.name), regency=Raw(regency.name))
    return Option(agency.code, label, f"{agency.name} {agency.search_terms} {regency.name}")


def _command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    return RegisterSponsor(
        user_id=ctx.user.user_id,
        nip=answers["nip"],
        nip_kind=answers["nip_kind"],
        full_name=answers["full_name"],
        agency_code=answers["agency"],
        phone_e164=answers["phone"],
    )


def _settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    if isinstance(outcome, Applied):
        agency = ctx.catalog.agency(answers["agency"])
        return Settled(
            t(
                "signup.done",
                name=Raw(answers["full_name"]),
                agency=Raw(agency.name if agency else answers["agency"]),
            ),
            start="sponsorship",
        )
    if isinstance(outcome, Refused) and outcome.reason == "nip_taken":
        return Settled(t("signup.nip_taken"), go_to="nip", editing=True)
    return Settled(t("error.unexpected"))


FLOW = Flow(
    id=FLOW_ID,
    version=1,
    title=t("signup.title"),
    intro=t("signup.intro"),
    first="nip",
    steps=table(
        Step(
            "nip",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("signup.ask_nip"),
            parse=_parse_nip,
            next="nip_confirm",
            help=t("signup.help_nip"),
            invalidates=("nip_confirm",),
        ),
        Step(
            "nip_confirm",
            AnswerKind.CHOICE,
            prompt=_confirm_nip_prompt,
            options=lambda a, c: _yes_no("button.yes_correct", "button.no_change_nip"),
            next=lambda a, c: "full_name" if a["nip_confirm"] == "yes" else "nip",
            branches=("full_name", "nip"),
            help=t("signup.help_confirm_nip"),
        ),
        Step(
            "full_name",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("signup.ask_name"),
            parse=answers.person_name,
            next="agency",
            help=t("signup.help_name"),
        ),
        Step(
            "agency",
            AnswerKind.LIST,
            prompt=lambda a, c: t("signup.ask_agency"),
            options=agency_options,
            next="phone",
            help=t("signup.help_agency"),
        ),
        Step(
            "phone",
            AnswerKind.CONTACT,
            prompt=lambda a, c: t("signup.ask_phone"),
            parse=answers.mobile_phone,
            next=END,
            help=t("signup.help_phone"),
            contact_button=t("button.share_contact"),
        ),
    ),
    command=_command,
    settle=_settle,
)
