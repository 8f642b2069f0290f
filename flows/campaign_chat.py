"""The staff's reminder commands in the chat (issue 9): /kampanye for superadmins (the campaign
deadline and its reminder days: shown, or set after a confirmation) and /pengingat for
superadmins and operators (what reminders will be sent in the coming days, within their
agencies). Pure; the router hands commands and buttons here, the host shows and applies."""

from __future__ import annotations

from datetime import date

from flows import callbacks
from flows.access import Role
from flows.commands import SetCampaign
from flows.context import Context
from flows.effects import Apply, Button, Effect, Message, ShowCampaign, ShowUpcomingReminders
from flows.formatting import long_date
from flows.reminders import reminder_days
from flows.text import Raw, t
from flows.validators import normalize_digits, parse_int

UPCOMING_DEFAULT_DAYS = 7
UPCOMING_MAX_DAYS = 31
VIEWERS = frozenset({Role.SUPERADMIN, Role.OPERATOR})


def campaign_command(argument: str, ctx: Context) -> tuple[Effect, ...]:
    """/kampanye: the campaign in force; /kampanye YYYY-MM-DD 14,7,1: asks to set it."""
    words = normalize_digits(argument).split()
    if not words:
        return (ShowCampaign(),)
    if len(words) != 2:
        return (Message(t("reminders.campaign_usage")),)
    try:
        deadline = date.fromisoformat(words[0])
    except ValueError:
        return (Message(t("reminders.campaign_bad_date", typed=Raw(words[0]))),)
    if deadline < ctx.now.date():
        return (Message(t("reminders.campaign_past", typed=Raw(words[0]))),)
    days = reminder_days(words[1])
    if days is None:
        return (Message(t("reminders.campaign_bad_days", typed=Raw(words[1]))),)
    shown = ",".join(str(day) for day in days)
    value = f"{deadline.isoformat()}:{'.'.join(str(day) for day in days)}"
    buttons = (
        (Button(t("reminders.button_save"), callbacks.action("kampanye", value)),),
        (Button(t("button.cancel"), callbacks.action("kampanyeno", "-")),),
    )
    question = t("reminders.campaign_confirm", deadline=long_date(deadline), days=shown)
    return (Message(question, buttons=buttons),)


def campaign_pressed(name: str, argument: str, ctx: Context) -> tuple[Effect, ...]:
    """The confirmation's buttons: save (checked again: a forged value is refused) or cancel."""
    if name == "kampanyeno":
        return (Message(t("reminders.campaign_cancelled")),)
    typed_date, _, typed_days = argument.partition(":")
    try:
        deadline = date.fromisoformat(typed_date)
    except ValueError:
        return (Message(t("reminders.campaign_usage")),)
    days = reminder_days(typed_days.replace(".", ","))
    if days is None or deadline < ctx.now.date():
        return (Message(t("reminders.campaign_usage")),)
    saved = t("reminders.campaign_saved", deadline=long_date(deadline))
    return (Apply(SetCampaign(ctx.user.user_id, deadline, days)), Message(saved), ShowCampaign())


def may_view(ctx: Context) -> bool:
    scope = ctx.user.scope
    return scope is not None and scope.role in VIEWERS


def upcoming_command(argument: str, ctx: Context) -> tuple[Effect, ...]:
    """/pengingat [N]: the next N days (7 by default, up to 31)."""
    typed = normalize_digits(argument).strip()
    days = UPCOMING_DEFAULT_DAYS if not typed else parse_int(typed, max_digits=2)
    if days is None or not 1 <= days <= UPCOMING_MAX_DAYS:
        return (Message(t("reminders.upcoming_usage", max=UPCOMING_MAX_DAYS)),)
    return (ShowUpcomingReminders(days),)
