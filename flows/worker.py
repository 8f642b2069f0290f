"""The worker opens their invitation: who registered them and for what, a check that it is really
them, the data held and the privacy notice, then their own decision.

verify -> review -> (agree) | decline_confirm -> (decline) | correction -> (request)
A wrong verification ends the turn with FailVerification; the third locks the link.
"""

from __future__ import annotations

from datetime import date

from flows import callbacks
from flows.answers import free_text
from flows.catalog import Catalog
from flows.commands import (
    Applied,
    Command,
    FailVerification,
    InvitationDetails,
    Outcome,
    Refused,
    RequestCorrection,
    WorkerConsents,
    WorkerDeclines,
)
from flows.context import Context
from flows.formatting import long_date
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
from flows.validators import ascii_digits, parse_date

FLOW_ID = "worker"
# The worker's data and privacy notice, version privacy_notice_version of bot/data/programme.toml
# (2026-12-1). Earlier versions keep their own key (2026-11-1: worker.privacy_notice).
NOTICE_KEY = "privacy_2026_12.worker_notice"


STARTS_FROM = (
    "reference",
    "sponsor_name",
    "agency_name",
    "worker_name",
    "nik_masked",
    "nik_last4",
    "birth_date",
    "job",
    "job_other",
    "phone_masked",
    "district",
    "village",
    "programme",
    "amount",
)


def answers_from(details: InvitationDetails, agency_name: str) -> dict[str, object]:
    """What the flow starts from: the invitation as the repository found it."""
    return {
        "reference": details.reference,
        "sponsor_name": details.sponsor_name,
        "agency_name": agency_name,
        # The sponsor's agency: its regency's programme (privacy notice, data controller, time
        # zone) is the one the worker is asked to agree to (a deployment of several regencies).
        # Not in STARTS_FROM: a session saved before it was kept goes on in the first regency's.
        "agency_code": details.agency_code,
        "worker_name": details.worker_name,
        "nik_masked": details.nik_masked,
        "nik_last4": details.nik_last4,
        "birth_date": details.birth_date.isoformat(),
        "job": details.job,
        "job_other": details.job_other,
        "phone_masked": details.phone_masked,
        "district": details.district_name,
        "village": details.village_name,
        "programme": details.programme_code,
        "amount": details.monthly_amount,
        # A sponsor without a NIP is named by its organisation (not in STARTS_FROM: sessions
        # saved before go on naming the agency).
        "funder_type": details.funder_type,
        "organisation_name": details.organisation_name,
    }


def _funder_name(answers: Answers, ctx: Context) -> Text | Raw:
    """Whom the sponsor signs for: their agency, or a village, BAZNAS or a company."""
    funder = str(answers.get("funder_type") or "asn")
    named = ctx.catalog.organisation_label(funder, answers.get("organisation_name"))
    return named if named != Raw("") else Raw(answers["agency_name"])


def _verify_prompt(answers: Answers, ctx: Context) -> Text:
    return t(
        "worker.ask_verify",
        worker=Raw(answers["worker_name"]),
        sponsor=Raw(answers["sponsor_name"]),
        agency=_funder_name(answers, ctx),
        programme=ctx.catalog.programme_label(answers["programme"]),
        covers=ctx.catalog.programme_covers(answers["programme"]),
        amount=int(answers["amount"]),
        benefits=ctx.catalog.benefits_text(),
    )


def _parse_verify(raw: str, answers: Answers, ctx: Context) -> Check:
    """The birth date (any common form, see validators/dates.py) or the NIK's last 4 digits.

    Only a well-formed answer that is wrong is a failed try. Anything that is not a date nor 4
    digits ("kemarin", "31-02-1990") is asked again. So is the birth year alone ("1990"), when
    it is the right year: the worker clearly meant their birth date. Any other 4 digits are a
    guess at the NIK's ending and cost a try (making year-like guesses free would give 200 free
    guesses at the ending).
    """
    # Spaces may split the four digits ("00 01"); dashes, dots and slashes may not: "5-1-90" is a
    # date with a two-digit year, asked again, not a guess at the ending.
    last4 = ascii_digits("".join(raw.split()))
    if last4 is not None and len(last4) == 4:
        if last4 == answers["nik_last4"]:
            return Accepted("ok")
        if last4 == answers["birth_date"][:4]:
            return Rejected(t("worker.verify_year_only"))
        return Accepted("wrong")
    typed = parse_date(raw)
    if typed is None:
        return Rejected(t("worker.verify_format"))
    return Accepted("ok" if typed == date.fromisoformat(answers["birth_date"]) else "wrong")


def statement(answers: Answers, catalog: Catalog) -> Text:
    """The data held and the privacy notice: what the worker agrees to (hashed when recorded)."""
    # A session begun before issue 12 split the category holds "category" (the job, mostly).
    job = catalog.job_label(
        answers.get("job", answers.get("category")),
        answers.get("job_other", answers.get("category_other")),
    )
    return t(
        NOTICE_KEY,
        worker=Raw(answers["worker_name"]),
        nik=Raw(answers["nik_masked"]),
        birth_date=long_date(date.fromisoformat(answers["birth_date"])),
        category=job,  # the notice's "Pekerjaan" line: its wording (and hash) unchanged
        phone=Raw(answers["phone_masked"]) if answers.get("phone_masked") else t("value.none"),
        village=Raw(answers["village"]),
        district=Raw(answers["district"]),
        sponsor=Raw(answers["sponsor_name"]),
        programme=catalog.programme_label(answers["programme"]),
        amount=int(answers["amount"]),
        **catalog.controller_params(),
    )


def _review_prompt(answers: Answers, ctx: Context) -> Text:
    return t("worker.ask_decision", notice=statement(answers, ctx.catalog))


def _after_review(answers: Answers, ctx: Context) -> str:
    return {"agree": END, "decline": "decline_confirm"}.get(answers["review"], "correction")


def _command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    user, reference = ctx.user.user_id, answers["reference"]
    if answers.get("verify") == "wrong":
        return FailVerification(user, reference)
    if answers.get("review") == "wrong":
        return RequestCorrection(user, reference, "worker", answers["correction"], ctx.now)
    if answers.get("review") == "decline":
        return WorkerDeclines(user, reference, answers.get("decline_confirm_message_id"), ctx.now)
    shown = statement(answers, ctx.catalog)
    return WorkerConsents(
        user_id=user,
        reference=reference,
        statement=shown,
        # The version of the text in the worker's language: a vetted translation has its own.
        text_version=ctx.catalog.consent_version(
            shown.key, ctx.catalog.privacy_notice_version, ctx.user.language
        ),
        message_id=answers.get("review_message_id"),
        given_at=ctx.now,
    )


def _settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    sponsor = Raw(answers["sponsor_name"])
    if isinstance(outcome, Refused):
        if outcome.reason in INVITATION_REFUSALS:
            return Settled(t(f"invitation.{outcome.reason}"))
        return Settled(t("error.unexpected"))
    if not isinstance(outcome, Applied):
        return Settled(t("error.unexpected"))
    if answers.get("verify") == "wrong":
        left = outcome.attempts_left or 0
        return Settled(t("worker.verify_wrong", left=left), go_to="verify")
    if answers.get("review") == "wrong":
        return Settled(t("worker.correction_sent", sponsor=sponsor))
    if answers.get("review") == "decline":
        return Settled(t("worker.declined", sponsor=sponsor))
    return Settled(
        t(
            "worker.consented",
            sponsor=sponsor,
            programme=ctx.catalog.programme_label(answers["programme"]),
        )
    )


INVITATION_REFUSALS = (
    "invitation_unknown",
    "invitation_expired",
    "invitation_used",
    "invitation_locked",
    "own_invitation",
    "not_allowed",
    "wrong_state",
)

FLOW = Flow(
    id=FLOW_ID,
    version=1,
    title=t("worker.title"),
    first="verify",
    steps=table(
        Step(
            "verify",
            AnswerKind.TEXT,
            prompt=_verify_prompt,
            parse=_parse_verify,
            next=lambda a, c: "review" if a["verify"] == "ok" else END,
            branches=("review", END),
            help=t("worker.help_verify"),
            sensitive=True,
        ),
        Step(
            "review",
            AnswerKind.CHOICE,
            prompt=_review_prompt,
            options=lambda a, c: [
                Option("agree", t("button.consent_agree")),
                Option("decline", t("button.worker_decline")),
                Option("wrong", t("button.worker_wrong")),
            ],
            next=_after_review,
            branches=(END, "decline_confirm", "correction"),
            help=t("worker.help_review"),
            record_message=True,
            # The short notice above; the full text in a message of its own.
            extra_buttons=((t("told.read_more"), callbacks.menu("privacy")),),
        ),
        Step(
            "decline_confirm",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("worker.confirm_decline", sponsor=Raw(a["sponsor_name"])),
            options=lambda a, c: [
                Option("yes", t("button.worker_decline_yes")),
                Option("no", t("button.back")),
            ],
            next=lambda a, c: END if a["decline_confirm"] == "yes" else "review",
            branches=(END, "review"),
            help=t("worker.help_decline"),
            record_message=True,
        ),
        Step(
            "correction",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("worker.ask_correction"),
            parse=lambda raw, a, c: free_text(raw, min_len=3, max_len=500),
            next=END,
            help=t("worker.help_correction"),
        ),
    ),
    command=_command,
    settle=_settle,
    starts_from=STARTS_FROM,
)
