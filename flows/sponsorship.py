"""An ASN registers the worker they sponsor, consents to the salary deduction, and saves.

relationship to the sponsor -> job -> (other: the work described) -> name -> NIK -> what the NIK
encodes -> (what differs) -> phone (optional) -> the worker's language -> kecamatan ->
desa/kelurahan -> programme -> payment method -> consent -> summary -> save.
"""

from __future__ import annotations

from datetime import date, datetime

from flows import callbacks
from flows.answers import free_text, mobile_phone, person_name
from flows.catalog import ASN, SALARY_DEDUCTION
from flows.commands import (
    Applied,
    Command,
    ConsentGiven,
    Outcome,
    Refused,
    SubmitSponsorship,
    WorkerDetails,
)
from flows.context import Context
from flows.effects import Effect, SendStatementCopy, ShowInvitation
from flows.formatting import first_of_next_month, long_date, month_year
from flows.languages import DEFAULT_LANGUAGE, WORKER_LANGUAGES, worker_languages
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
from flows.validators import check_nik
from flows.validators.masking import mask_nik

FLOW_ID = "sponsorship"


# --- the worker -------------------------------------------------------------------------------


def _relationship_options(answers: Answers, ctx: Context) -> list[Option]:
    return [Option(r.code, r.label) for r in ctx.catalog.relationships]


def _job_options(answers: Answers, ctx: Context) -> list[Option]:
    return [Option(j.code, j.label, j.search_terms) for j in ctx.catalog.jobs]


def _job_described(answers: Answers, ctx: Context) -> bool:
    job = ctx.catalog.job(answers["job"])
    return job is not None and job.needs_description


def _after_job(answers: Answers, ctx: Context) -> str:
    return "job_other" if _job_described(answers, ctx) else "worker_name"


def _parse_other(raw: str, answers: Answers, ctx: Context) -> Check:
    return free_text(raw, min_len=3, max_len=60)


def _parse_nik(raw: str, answers: Answers, ctx: Context) -> Check:
    result = check_nik(raw, ctx.now.date())
    if not result.valid or result.nik is None:
        return Rejected(t(f"nik.error.{result.errors[0]}"))
    assert result.birth_date is not None and result.sex is not None
    return Accepted(
        result.nik,
        {
            "nik_birth_date": result.birth_date.isoformat(),
            "nik_sex": result.sex,
            "nik_regency": result.regency_name or result.regency_code,
            "nik_district": result.district_name or result.district_code,
            "nik_region_unknown": "region_unknown" in result.warnings,
        },
    )


def _confirm_nik_prompt(answers: Answers, ctx: Context) -> Text:
    warning: Text | Raw = (
        t("sponsorship.nik_region_unknown") if answers.get("nik_region_unknown") else Raw("")
    )
    return t(
        "sponsorship.confirm_nik",
        name=Raw(answers["worker_name"]),
        nik=Raw(mask_nik(answers["nik"])),
        birth_date=long_date(date.fromisoformat(answers["nik_birth_date"])),
        sex=t(f"sex.{answers['nik_sex']}"),
        regency=Raw(str(answers["nik_regency"])),
        district=Raw(str(answers["nik_district"])),
        warning=warning,
    )


def _parse_disagreement(raw: str, answers: Answers, ctx: Context) -> Check:
    return free_text(raw, min_len=3, max_len=200)


# A worker living outside the sponsor's regency (a relative elsewhere): the district step offers
# this first; then province, regency and their kecamatan, from the Kemendagri regions.
ELSEWHERE = "elsewhere"


def _worker_language_options(answers: Answers, ctx: Context) -> list[Option]:
    """Indonesian first, then the language of the sponsor's regency (Sundanese in Garut,
    Javanese in Kendal): ctx.catalog is the sponsor's regency's (bot.service._context_in)."""
    return [
        Option(code, t(f"languages.option.{code}"))
        for code in worker_languages(ctx.catalog.home_regency.code)
    ]


def _district_options(answers: Answers, ctx: Context) -> list[Option]:
    regions = ctx.catalog.regions.children(ctx.catalog.home_regency.code)
    elsewhere = Option(
        ELSEWHERE,
        t("regions.elsewhere", regency=Raw(ctx.catalog.home_regency.name)),
        "luar lain kabupaten kota provinsi",
    )
    return [elsewhere, *(Option(r.code, Raw(r.name)) for r in regions)]


def _after_district(answers: Answers, ctx: Context) -> str:
    return "province" if answers["district"] == ELSEWHERE else "village"


def _province_options(answers: Answers, ctx: Context) -> list[Option]:
    return [Option(r.code, Raw(r.name)) for r in ctx.catalog.regions.children("")]


def _regency_options(answers: Answers, ctx: Context) -> list[Option]:
    regions = ctx.catalog.regions.children(answers["province"])
    return [Option(r.code, Raw(r.name)) for r in regions]


def _far_district_options(answers: Answers, ctx: Context) -> list[Option]:
    regions = ctx.catalog.regions.children(answers["worker_regency"])
    return [Option(r.code, Raw(r.name)) for r in regions]


def _worker_district(answers: Answers) -> str:
    """The worker's kecamatan: in the sponsor's regency, or the one chosen elsewhere."""
    district = str(answers["district"])
    return str(answers["far_district"]) if district == ELSEWHERE else district


def _village_options(answers: Answers, ctx: Context) -> list[Option]:
    regions = ctx.catalog.regions.children(_worker_district(answers))
    return [Option(r.code, Raw(r.name)) for r in regions]


def _district_text(answers: Answers, ctx: Context) -> str:
    """The kecamatan as stored and shown: with its regency when outside the sponsor's."""
    name = _region_name(_worker_district(answers), ctx)
    if answers["district"] != ELSEWHERE:
        return name
    return f"{name}, {_region_name(answers['worker_regency'], ctx)}"


# The payment method whose statement the treasurer gets a printable copy of: SALARY_DEDUCTION.


# --- the programme and the consent ------------------------------------------------------------


def _programme_options(answers: Answers, ctx: Context) -> list[Option]:
    return [
        Option(p.code, t("programme.option", name=p.label, amount=p.monthly_amount))
        for p in ctx.catalog.programmes
    ]


def _payment_options(answers: Answers, ctx: Context) -> list[Option]:
    # Each funder type its own routes: only an ASN has a salary to cut (issue 12).
    return [Option(m.code, m.label) for m in ctx.catalog.payment_methods_for(ctx.user.funder_type)]


def _first_month(ctx: Context) -> date:
    return first_of_next_month(ctx.now.date())


def consent_statement(answers: Answers, ctx: Context, first_month: date) -> Text:
    """The statement the sponsor agrees to, in full; its rendered text is hashed into the record."""
    programme = ctx.catalog.programme(answers["programme"])
    method = ctx.catalog.payment_method(answers["payment"])
    assert programme is not None and method is not None
    # A sponsor without a NIP signs for its organisation, in its officer's position; an ASN's
    # statement keeps exactly its parameters (its fingerprints and hashes stay as they were).
    funder: dict[str, Text | Raw] = {}
    if ctx.user.funder_type != ASN:
        funder = {
            "organisation": ctx.catalog.organisation_label(
                ctx.user.funder_type, ctx.user.organisation_name
            ),
            "position": Raw(ctx.user.position or ""),
        }
    return t(
        method.consent_key,
        sponsor=Raw(ctx.user.sponsor_name or ""),
        agency=Raw(ctx.user.agency_name or ""),
        worker=Raw(answers["worker_name"]),
        nik=Raw(mask_nik(answers["nik"])),
        programme=programme.label,
        amount=programme.monthly_amount,
        first_month=month_year(first_month),
        nip=Raw(ctx.user.sponsor_nip or ""),
        deducted_from=t(f"deducted_from.{ctx.catalog.deducted_from}"),
        **funder,
    )


def _consent_prompt(answers: Answers, ctx: Context) -> Text:
    return t(
        "sponsorship.ask_consent", statement=consent_statement(answers, ctx, _first_month(ctx))
    )


def _agreed_statement(answers: Answers, ctx: Context) -> Text:
    """The statement as it was shown: for the month given with the consent."""
    return consent_statement(answers, ctx, date.fromisoformat(answers["consent_first_month"]))


def _pick_consent(value: str, answers: Answers, ctx: Context) -> Check:
    if value != "agree":
        return Rejected(t("sponsorship.consent_required"))
    return Accepted(
        "agree",
        {
            "consent_given_at": ctx.now.isoformat(),
            "consent_first_month": _first_month(ctx).isoformat(),
        },
    )


# --- summary, command, outcome ----------------------------------------------------------------


def _job_other(answers: Answers, ctx: Context) -> str | None:
    """The sponsor's own words for the job, kept only while the job asks for them."""
    return answers.get("job_other") if _job_described(answers, ctx) else None


def _work_text(answers: Answers, ctx: Context) -> Text:
    """The job and, on the next line, who the worker is to the sponsor (sponsorship.summary's
    `category` line, so its wording and translations stay as they are)."""
    return t(
        "job.summary",
        job=ctx.catalog.job_label(answers["job"], _job_other(answers, ctx)),
        relationship=ctx.catalog.relationship_label(answers["relationship"]),
    )


def _summary(answers: Answers, ctx: Context) -> Text:
    programme = ctx.catalog.programme(answers["programme"])
    method = ctx.catalog.payment_method(answers["payment"])
    assert programme is not None and method is not None
    note = answers.get("nik_disagreement")
    return t(
        "sponsorship.summary",
        category=_work_text(answers, ctx),
        name=Raw(answers["worker_name"]),
        nik=Raw(mask_nik(answers["nik"])),
        nik_note=t("sponsorship.summary_nik_note", note=Raw(note)) if note else Raw(""),
        # The worker's language on the line after the phone, the order they were asked in
        # (its own parameter of sponsorship.summary once the texts of issue 12 are merged).
        phone=t(
            "languages.summary_phone",
            phone=Raw(answers["worker_phone"]) if answers.get("worker_phone") else t("value.none"),
            language=t(f"languages.option.{_worker_language(answers)}"),
        ),
        village=Raw(_region_name(answers["village"], ctx)),
        district=Raw(_district_text(answers, ctx)),
        programme=programme.label,
        amount=programme.monthly_amount,
        payment=method.label,
        first_month=month_year(date.fromisoformat(answers["consent_first_month"])),
    )


def _worker_language(answers: Answers) -> str:
    """The language chosen for the worker; Indonesian for a draft begun before the question."""
    chosen = answers.get("worker_language")
    return chosen if chosen in WORKER_LANGUAGES else DEFAULT_LANGUAGE


def _region_name(code: str, ctx: Context) -> str:
    return ctx.catalog.regions.name_of(code) or code


def _command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    programme = ctx.catalog.programme(answers["programme"])
    method = ctx.catalog.payment_method(answers["payment"])
    assert programme is not None and method is not None
    first_month = date.fromisoformat(answers["consent_first_month"])
    return SubmitSponsorship(
        idempotency_key=draft_id,
        sponsor_user_id=ctx.user.user_id,
        worker=WorkerDetails(
            relationship=answers["relationship"],
            job=answers["job"],
            job_other=_job_other(answers, ctx),
            full_name=answers["worker_name"],
            nik=answers["nik"],
            nik_disagreement=answers.get("nik_disagreement")
            if answers.get("nik_confirm") == "differs"
            else None,
            phone_e164=answers.get("worker_phone"),
            district_code=_worker_district(answers),
            district_name=_district_text(answers, ctx),
            village_code=answers["village"],
            village_name=_region_name(answers["village"], ctx),
        ),
        programme_code=programme.code,
        monthly_amount=programme.monthly_amount,
        payment_method=method.code,
        worker_language=_worker_language(answers),
        consent=ConsentGiven(
            statement=consent_statement(answers, ctx, first_month),
            text_version=ctx.catalog.consent_version(
                method.consent_key, method.consent_version, ctx.user.language
            ),
            amount=programme.monthly_amount,
            first_month=first_month,
            message_id=answers.get("consent_message_id"),
            given_at=datetime.fromisoformat(answers["consent_given_at"]),
        ),
    )


def _settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    status_button = ((t("button.status"), callbacks.menu("status")),)
    if isinstance(outcome, Applied):
        invitation: tuple[Effect, ...] = ()
        if outcome.invitation_token and outcome.reference:
            invitation = (
                ShowInvitation(
                    outcome.reference,
                    outcome.invitation_token,
                    answers["worker_name"],
                    _worker_language(answers),
                ),
            )
        method = ctx.catalog.payment_method(answers["payment"])
        if outcome.reference and method is not None and method.code == SALARY_DEDUCTION:
            # The treasurer's printable copy of what was agreed (bot.exports.statement_pdf).
            agreed = _agreed_statement(answers, ctx)
            copy = SendStatementCopy(
                outcome.reference,
                agreed,
                method.consent_version,
                answers["consent_given_at"],
                zone=str(ctx.now.tzinfo or ""),
            )
            invitation = (copy, *invitation)  # the message to forward stays the last
        return Settled(
            t(
                "sponsorship.saved",
                reference=Raw(outcome.reference or ""),
                name=Raw(answers["worker_name"]),
            ),
            buttons=(status_button,),
            effects=invitation,
        )
    if not isinstance(outcome, Refused):
        return Settled(t("error.unexpected"))
    if outcome.reason == "nik_taken":
        return Settled(t("sponsorship.nik_taken"), go_to="nik", editing=True)
    if outcome.reason == "limit_reached":
        return Settled(
            limit_reached(ctx),
            buttons=(status_button,),
        )
    if outcome.reason == "not_registered":
        return Settled(t("sponsorship.signup_first"), start="signup")
    return Settled(t("error.unexpected"))


def limit_reached(ctx: Context) -> Text:
    """The sponsor holds as many workers as their funder type may (a village many, an ASN 1)."""
    most = ctx.catalog.max_sponsorships_for(ctx.user.funder_type)
    if ctx.user.funder_type == ASN:
        return t("sponsorship.limit_reached", max=most)
    return t(
        "funder.limit_reached", max=most, funder=ctx.catalog.funder_label(ctx.user.funder_type)
    )


def _yes_no(yes: str, yes_value: str, no: str, no_value: str) -> list[Option]:
    return [Option(yes_value, t(yes)), Option(no_value, t(no))]


FLOW = Flow(
    id=FLOW_ID,
    # 2: the category became two questions, relationship and job (issue 12); a draft of
    # version 1 starts over (flows.router._known_flow), its answers having no relationship nor job.
    version=2,
    title=t("sponsorship.title"),
    intro=t("sponsorship.intro"),
    first="relationship",
    steps=table(
        Step(
            "relationship",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("relationship.ask"),
            options=_relationship_options,
            next="job",
            help=t("relationship.help"),
            summary_label=t("relationship.field"),
        ),
        Step(
            "job",
            AnswerKind.LIST,
            prompt=lambda a, c: t("job.ask"),
            options=_job_options,
            next=_after_job,
            branches=("job_other", "worker_name"),
            help=t("job.help"),
            invalidates=("job_other",),
            summary_label=t("field.category"),
        ),
        Step(
            "job_other",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("job.ask_other"),
            parse=_parse_other,
            next="worker_name",
            help=t("sponsorship.help_category_other"),
        ),
        Step(
            "worker_name",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("sponsorship.ask_worker_name"),
            parse=person_name,
            next="nik",
            help=t("sponsorship.help_worker_name"),
            summary_label=t("field.worker_name"),
        ),
        Step(
            "nik",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("sponsorship.ask_nik", name=Raw(a["worker_name"])),
            parse=_parse_nik,
            next="nik_confirm",
            help=t("sponsorship.help_nik"),
            invalidates=("nik_confirm", "nik_disagreement"),
            summary_label=t("field.nik"),
            sensitive=True,
        ),
        Step(
            "nik_confirm",
            AnswerKind.CHOICE,
            prompt=_confirm_nik_prompt,
            options=lambda a, c: _yes_no("button.yes_correct", "ok", "button.differs", "differs"),
            next=lambda a, c: "worker_phone" if a["nik_confirm"] == "ok" else "nik_disagreement",
            branches=("worker_phone", "nik_disagreement"),
            help=t("sponsorship.help_confirm_nik"),
            invalidates=("nik_disagreement",),
        ),
        Step(
            "nik_disagreement",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("sponsorship.ask_nik_disagreement"),
            parse=_parse_disagreement,
            next="worker_phone",
            help=t("sponsorship.help_nik_disagreement"),
        ),
        Step(
            "worker_phone",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("sponsorship.ask_worker_phone", name=Raw(a["worker_name"])),
            parse=mobile_phone,
            next="worker_language",
            help=t("sponsorship.help_worker_phone"),
            optional=True,
            summary_label=t("field.worker_phone"),
        ),
        Step(
            "worker_language",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("languages.worker_ask", name=Raw(a["worker_name"])),
            options=_worker_language_options,
            next="district",
            help=t("languages.worker_help"),
            summary_label=t("languages.worker_field"),
        ),
        Step(
            "district",
            AnswerKind.LIST,
            prompt=lambda a, c: t(
                "sponsorship.ask_district",
                name=Raw(a["worker_name"]),
                regency=Raw(c.catalog.home_regency.name),
            ),
            options=_district_options,
            next=_after_district,
            branches=("province", "village"),
            help=t("sponsorship.help_district"),
            invalidates=("village", "province", "worker_regency", "far_district"),
            summary_label=t("field.address"),
        ),
        Step(
            "province",
            AnswerKind.LIST,
            prompt=lambda a, c: t("regions.ask_province", name=Raw(a["worker_name"])),
            options=_province_options,
            next="worker_regency",
            help=t("regions.help_province"),
            invalidates=("worker_regency", "far_district", "village"),
        ),
        Step(
            "worker_regency",
            AnswerKind.LIST,
            prompt=lambda a, c: t(
                "regions.ask_regency", province=Raw(_region_name(a["province"], c))
            ),
            options=_regency_options,
            next="far_district",
            help=t("regions.help_regency"),
            invalidates=("far_district", "village"),
        ),
        Step(
            "far_district",
            AnswerKind.LIST,
            prompt=lambda a, c: t(
                "sponsorship.ask_district",
                name=Raw(a["worker_name"]),
                regency=Raw(_region_name(a["worker_regency"], c)),
            ),
            options=_far_district_options,
            next="village",
            help=t("sponsorship.help_district"),
            invalidates=("village",),
        ),
        Step(
            "village",
            AnswerKind.LIST,
            prompt=lambda a, c: t(
                "sponsorship.ask_village",
                district=Raw(_region_name(_worker_district(a), c)),
            ),
            options=_village_options,
            next="programme",
            help=t("sponsorship.help_village"),
        ),
        Step(
            "programme",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("sponsorship.ask_programme"),
            options=_programme_options,
            next="payment",
            help=t("sponsorship.help_programme"),
            invalidates=("consent",),
            summary_label=t("field.programme"),
        ),
        Step(
            "payment",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("sponsorship.ask_payment"),
            options=_payment_options,
            next="consent",
            help=t("sponsorship.help_payment"),
            invalidates=("consent",),
            summary_label=t("field.payment"),
        ),
        Step(
            "consent",
            AnswerKind.CHOICE,
            prompt=_consent_prompt,
            options=lambda a, c: _yes_no(
                "button.consent_agree", "agree", "button.consent_disagree", "disagree"
            ),
            pick=_pick_consent,
            next=END,
            help=t("sponsorship.help_consent"),
            record_message=True,
            # The consent holds for the statement shown, so a changed name, NIK, language or
            # sponsor's data asks for it again before Simpan; hashed with the full NIK (shown
            # masked, so two NIKs could read the same).
            binds=_agreed_statement,
            binds_answers=("nik",),
        ),
    ),
    command=_command,
    settle=_settle,
    summary=_summary,
)
