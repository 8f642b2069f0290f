"""Sign-up of a sponsor, once.

An ASN: NIP (confirmed), full name, agency, phone. A sponsor without a NIP presses "Saya bukan
ASN" under the NIP question and picks its funder type, then answers that type's own questions:
a village (desa): its kecamatan and desa, the officer's name and position; BAZNAS: the officer's
name and position; a company: its name, the officer's name and position; a non-ASN honorer:
name and workplace (agency). All end with the phone.
"""

from __future__ import annotations

from datetime import date

from flows import answers
from flows.answers import free_text
from flows.catalog import ASN, Agency, Catalog, FunderType, Region
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


# The button under the NIP question for sponsors without a NIP; the NIP answer is then "".
NO_NIP = "no_nip"


def _no_nip_options(answers: Answers, ctx: Context) -> list[Option]:
    if not ctx.catalog.regencies_with_other_funders:
        return []  # ASN only: the NIP question stays as it always was
    return [Option(NO_NIP, t("funder.button_no_nip"))]


def _pick_no_nip(value: str, answers: Answers, ctx: Context) -> Check:
    return Accepted("")


def _after_nip(answers: Answers, ctx: Context) -> str:
    if answers["nip"]:
        return "nip_confirm"
    # A deployment of several regencies: the regency first, then its own funder types and desa.
    return "org_regency" if len(ctx.catalog.regencies_with_other_funders) > 1 else "funder_type"


def _regency_options(answers: Answers, ctx: Context) -> list[Option]:
    return [Option(r.code, Raw(r.name)) for r in ctx.catalog.regencies_with_other_funders]


def _regency(answers: Answers, ctx: Context) -> Region:
    """The regency a sponsor without a NIP signs up in: the one chosen when the deployment has
    several, else the home regency."""
    chosen = ctx.catalog.regency(str(answers.get("org_regency") or ""))
    return chosen or ctx.catalog.home_regency


def _funder_types(answers: Answers, ctx: Context) -> tuple[FunderType, ...]:
    return ctx.catalog.other_funder_types_in(_regency(answers, ctx).code)


def _chosen_funder_type(answers: Answers, ctx: Context) -> FunderType:
    code = funder_of(answers)
    kind = next((f for f in _funder_types(answers, ctx) if f.code == code), None)
    found = kind or ctx.catalog.funder_type(code)
    assert found is not None  # the step offered only the regency's types
    return found


def funder_of(answers: Answers) -> str:
    """The funder type of a sign-up's answers: an ASN whenever a NIP was given."""
    return ASN if answers.get("nip") else str(answers["funder_type"])


def _funder_type_options(answers: Answers, ctx: Context) -> list[Option]:
    return [Option(f.code, f.label) for f in _funder_types(answers, ctx)]


# What each funder type is asked after its type, up to the shared phone question.
_FIRST_OWN_STEP = {
    "desa": "org_district",
    "baznas": "officer_name",
    "perusahaan": "company_name",
    "honorer": "full_name",
}


def _after_funder_type(answers: Answers, ctx: Context) -> str:
    return _FIRST_OWN_STEP[answers["funder_type"]]


def _is_desa(code: str) -> bool:
    """A desa, not a kelurahan: Kemendagri numbers desa 2001.. and kelurahan 1001.. in each
    kecamatan. Only a desa has a village budget (APBDes)."""
    return code.rsplit(".", 1)[-1].startswith("2")


def _org_district_options(answers: Answers, ctx: Context) -> list[Option]:
    regions = ctx.catalog.regions
    return [
        Option(r.code, Raw(r.name))
        for r in regions.children(_regency(answers, ctx).code)
        if any(_is_desa(v.code) for v in regions.children(r.code))
    ]


def _org_village_options(answers: Answers, ctx: Context) -> list[Option]:
    villages = ctx.catalog.regions.children(answers["org_district"])
    return [Option(v.code, Raw(v.name)) for v in villages if _is_desa(v.code)]


def _parse_company(raw: str, answers: Answers, ctx: Context) -> Check:
    return free_text(raw, min_len=3, max_len=120)


def _parse_position(raw: str, answers: Answers, ctx: Context) -> Check:
    return free_text(raw, min_len=3, max_len=80)


def _officer_prompt(answers: Answers, ctx: Context) -> Text:
    return t("funder.ask_officer_name", organisation=_organisation(answers, ctx))


def _organisation_name(answers: Answers, ctx: Context) -> str | None:
    funder = funder_of(answers)
    if funder == "desa":
        code = str(answers["org_village"])
        return ctx.catalog.regions.name_of(code) or code
    if funder == "perusahaan":
        return str(answers["company_name"])
    return None


def _organisation(answers: Answers, ctx: Context) -> Text | Raw:
    name = _organisation_name(answers, ctx)
    return ctx.catalog.organisation_label(funder_of(answers), name, _regency(answers, ctx))


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
    funder = funder_of(answers)
    if funder == ASN:
        return RegisterSponsor(
            user_id=ctx.user.user_id,
            nip=answers["nip"],
            nip_kind=answers["nip_kind"],
            full_name=answers["full_name"],
            agency_code=answers["agency"],
            phone_e164=answers["phone"],
        )
    if funder == "honorer":
        return RegisterSponsor(
            user_id=ctx.user.user_id,
            nip=None,
            nip_kind=None,
            full_name=answers["full_name"],
            agency_code=answers["agency"],
            phone_e164=answers["phone"],
            funder_type=funder,
        )
    kind = _chosen_funder_type(answers, ctx)
    assert kind.agency is not None  # checked when the catalog loads
    return RegisterSponsor(
        user_id=ctx.user.user_id,
        nip=None,
        nip_kind=None,
        full_name=answers["officer_name"],
        agency_code=kind.agency,
        phone_e164=answers["phone"],
        funder_type=funder,
        organisation_name=_organisation_name(answers, ctx),
        organisation_code=answers["org_village"] if funder == "desa" else None,
        position=answers["position"],
    )


def _settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    if isinstance(outcome, Applied) and funder_of(answers) != ASN:
        name = answers["full_name"] if funder_of(answers) == "honorer" else answers["officer_name"]
        return Settled(
            t(
                "funder.done",
                name=Raw(name),
                funder=_chosen_funder_type(answers, ctx).label,
                organisation=_done_organisation(answers, ctx),
                max=_chosen_funder_type(answers, ctx).max_sponsorships,
            ),
            start="sponsorship",
        )
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


def _done_organisation(answers: Answers, ctx: Context) -> Text | Raw:
    if funder_of(answers) == "honorer":
        agency = ctx.catalog.agency(answers["agency"])
        return Raw(agency.name if agency else answers["agency"])
    return _organisation(answers, ctx)


def _intro(ctx: Context) -> Text:
    """Who signs up here: ASN alone, or also villages, BAZNAS, companies and honorer."""
    return (
        t("funder2.signup_intro") if ctx.catalog.regencies_with_other_funders else t("signup.intro")
    )


def _title(answers: Answers) -> Text:
    """ "Pendaftaran ASN", or once "Saya bukan ASN" was pressed (the NIP answer ""), a sponsor's."""
    return t("funder2.signup_title") if answers.get("nip") == "" else t("signup.title")


def _agency_help(answers: Answers, ctx: Context) -> Text:
    """An honorer's agency is their workplace, not the treasurer who cuts their salary."""
    return t("funder2.help_agency_honorer") if answers.get("nip") == "" else t("signup.help_agency")


FLOW = Flow(
    id=FLOW_ID,
    version=1,
    title=t("signup.title"),
    intro=t("signup.intro"),
    intro_of=_intro,
    title_of=_title,
    first="nip",
    steps=table(
        Step(
            "nip",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("signup.ask_nip"),
            parse=_parse_nip,
            options=_no_nip_options,
            pick=_pick_no_nip,
            next=_after_nip,
            branches=("nip_confirm", "org_regency", "funder_type"),
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
            "org_regency",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("funder2.ask_regency"),
            options=_regency_options,
            next="funder_type",
            help=t("funder2.help_regency"),
            invalidates=("funder_type", "org_district", "org_village"),
        ),
        Step(
            "funder_type",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("funder.ask_type"),
            options=_funder_type_options,
            next=_after_funder_type,
            branches=tuple(_FIRST_OWN_STEP.values()),
            help=t("funder.help_type"),
        ),
        Step(
            "org_district",
            AnswerKind.LIST,
            prompt=lambda a, c: t("funder.ask_district", regency=Raw(_regency(a, c).name)),
            options=_org_district_options,
            next="org_village",
            help=t("funder.help_district"),
            invalidates=("org_village",),
        ),
        Step(
            "org_village",
            AnswerKind.LIST,
            prompt=lambda a, c: t(
                "funder.ask_village",
                district=Raw(c.catalog.regions.name_of(a["org_district"]) or a["org_district"]),
            ),
            options=_org_village_options,
            next="officer_name",
            help=t("funder.help_village"),
        ),
        Step(
            "company_name",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("funder.ask_company"),
            parse=_parse_company,
            next="officer_name",
            help=t("funder.help_company"),
        ),
        Step(
            "officer_name",
            AnswerKind.TEXT,
            prompt=_officer_prompt,
            parse=answers.person_name,
            next="position",
            help=t("funder.help_officer_name"),
        ),
        Step(
            "position",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("funder.ask_position", organisation=_organisation(a, c)),
            parse=_parse_position,
            next="phone",
            help=t("funder.help_position"),
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
            help_of=_agency_help,
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
