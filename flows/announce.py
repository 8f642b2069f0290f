"""/umumkan: a superadmin or operator composes an announcement (pure; the host does the rest).

Steps: body (the text with its formatting, or a photo or document with a caption) -> button (none,
or one opening a flow: sponsor a worker, sign up) -> audience -> agencies (only for "ASN of chosen
agencies", within the author's scope) -> the host keeps a draft, counts the audience within the
scope read again from the database, and shows the preview exactly as recipients will get it,
with send / change / cancel. Large audiences then wait for a second superadmin's approval.

The body step takes what the transport read: TextReceived.html or MediaReceived. The router turns
either into one JSON string (`as_answer`) the step parses, so the engine stays as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from flows.commands import Applied, Command, Outcome, PrepareAnnouncement, Refused
from flows.context import Context
from flows.effects import ShowAnnouncementPreview
from flows.inputs import Input, MediaReceived, TextReceived
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

FLOW_ID = "announce"
TEXT_LIMIT = 4096  # a message's text
CAPTION_LIMIT = 1024  # a photo's or document's caption
AUDIENCES = (
    "all_asn",
    "agency_asn",
    "asn_without_worker",
    "sponsors_unconfirmed",
    "confirmed_workers",
    "everyone",
)
# The flows an announcement's button may open, by the value stored (Announcement.button).
BUTTON_FLOWS = ("sponsor", "signup")
NO_BUTTON = "none"
MEDIA_KINDS = ("photo", "document")
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
    | {"tg-spoiler", "span", "blockquote", "tg-emoji"}
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")


def may_announce(ctx: Context) -> bool:
    """Superadmins and operators; treasurers and everyone else do not know the command."""
    scope = ctx.user.scope
    return scope is not None and (scope.is_superadmin or scope.role.value == "operator")


def as_answer(event: Input) -> Input:
    """The body step's input as the one string its parser reads: the HTML and the media."""
    if isinstance(event, MediaReceived):
        body = {"html": event.caption_html, "media": event.kind, "file_id": event.file_id}
        return TextReceived(json.dumps(body), message_id=event.message_id)
    if isinstance(event, TextReceived):
        html = event.html if event.html is not None else _escape(event.text)
        return TextReceived(json.dumps({"html": html}), message_id=event.message_id)
    return event


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_problem(html: str) -> str | None:
    """Why Telegram would refuse this HTML: an unknown tag or one left open; None if fine."""
    stack: list[str] = []
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if name not in ALLOWED_TAGS:
            return "tag"
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return "unbalanced"
    return "unbalanced" if stack else None


def body_problem(html: str, media: str | None) -> tuple[str, int] | None:
    """(reason, limit) when the body cannot be sent: empty, too long (4096 characters, 1024 with
    a photo or document: Telegram's caption limit), or broken HTML."""
    limit = CAPTION_LIMIT if media else TEXT_LIMIT
    if not html.strip() and not media:
        return ("empty", limit)
    if len(html) > limit:
        return ("too_long", limit)
    if html_problem(html) is not None:
        return ("html", limit)
    return None


def _parse_body(raw: str, answers: Answers, ctx: Context) -> Check:
    try:
        body = json.loads(raw)
        html, media, file_id = str(body["html"]), body.get("media"), body.get("file_id")
    except (ValueError, KeyError, TypeError):
        return Rejected(t("announce.body_unreadable"))
    if media is not None and (media not in MEDIA_KINDS or not isinstance(file_id, str)):
        return Rejected(t("announce.body_unreadable"))
    problem = body_problem(html, media)
    if problem is not None:
        reason, limit = problem
        return Rejected(t(f"announce.body_{reason}", limit=limit, length=len(html)))
    return Accepted(html, extra={"media_kind": media, "media_file_id": file_id})


def _button_options(answers: Answers, ctx: Context) -> Sequence[Option]:
    options = [Option(NO_BUTTON, t("announce.button_none"))]
    options += [Option(name, t(f"announce.button_option.{name}")) for name in BUTTON_FLOWS]
    return options


def _audience_options(answers: Answers, ctx: Context) -> Sequence[Option]:
    """Each audience with how many it reaches now (the host's count within the author's scope);
    the agencies' one is counted in the preview, once they are typed."""
    sizes = ctx.audience_sizes or {}
    return [
        Option(
            name,
            t("announce.audience_sized", audience=t(f"announce.audience.{name}"), count=sizes[name])
            if name in sizes
            else t(f"announce.audience.{name}"),
        )
        for name in AUDIENCES
    ]


def _parse_agencies(raw: str, answers: Answers, ctx: Context) -> Check:
    scope = ctx.user.scope
    typed = [code.strip() for code in raw.replace(" ", ",").split(",") if code.strip()]
    if not typed or scope is None:
        return Rejected(t("announce.agencies_none"))
    found = {code: ctx.catalog.agency_code(code) for code in typed}
    unknown = [code for code, known in found.items() if known is None]
    if unknown:
        return Rejected(t("announce.agencies_unknown", codes=Raw(", ".join(unknown))))
    codes = [code for code in dict.fromkeys(found.values()) if code is not None]
    outside = [code for code in codes if not scope.covers(code)]
    if outside:
        return Rejected(t("announce.agencies_outside", codes=Raw(", ".join(outside))))
    return Accepted(codes)


def _agencies_prompt(answers: Answers, ctx: Context) -> Text:
    scope = ctx.user.scope
    if scope is not None and not scope.is_superadmin:
        mine = ", ".join(sorted(scope.agencies))
    else:
        mine = ", ".join(agency.code for agency in ctx.catalog.agencies)
    return t("announce.ask_agencies", codes=Raw(mine))


def _command(answers: Answers, ctx: Context, draft_id: str) -> Command:
    button = answers.get("button")
    return PrepareAnnouncement(
        user_id=ctx.user.user_id,
        body=answers["body"],
        audience=answers["audience"],
        agencies=tuple(answers.get("agencies") or ()),
        media_kind=answers.get("media_kind"),
        media_file_id=answers.get("media_file_id"),
        button=None if button in (None, NO_BUTTON) else button,
    )


def _settle(outcome: Outcome, answers: Answers, ctx: Context) -> Settled:
    if isinstance(outcome, Applied) and outcome.reference is not None:
        count = outcome.row_count or 0
        preview = ShowAnnouncementPreview(int(outcome.reference))
        return Settled(t("announce.preview_intro", count=count), effects=(preview,))
    if isinstance(outcome, Refused) and outcome.reason == "not_allowed":
        return Settled(t("announce.not_allowed"))
    return Settled(t("error.unexpected"))


FLOW = Flow(
    id=FLOW_ID,
    version=1,
    title=t("announce.title"),
    first="body",
    steps=table(
        Step(
            "body",
            AnswerKind.TEXT,
            prompt=lambda a, c: t("announce.ask_body"),
            parse=_parse_body,
            next="button",
            help=t("announce.help_body"),
        ),
        Step(
            "button",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("announce.ask_button"),
            options=_button_options,
            next="audience",
            help=t("announce.help_button"),
        ),
        Step(
            "audience",
            AnswerKind.CHOICE,
            prompt=lambda a, c: t("announce.ask_audience"),
            options=_audience_options,
            next=lambda a, c: "agencies" if a.get("audience") == "agency_asn" else END,
            branches=("agencies", END),
            help=t("announce.help_audience"),
        ),
        Step(
            "agencies",
            AnswerKind.TEXT,
            prompt=_agencies_prompt,
            parse=_parse_agencies,
            next=END,
            help=t("announce.help_agencies"),
        ),
    ),
    command=_command,
    settle=_settle,
)
