"""The campaign (issue 9): a superadmin sets its deadline and reminder days from the chat
(/kampanye), audited like `peduli campaign set`."""

from __future__ import annotations

from bot.storage import audit
from bot.storage.audit import Actor
from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn
from bot.storage.reminders import set_campaign
from flows.access import Scope
from flows.commands import Applied, Outcome, Refused, SetCampaign

CAMPAIGN_SET = "campaign.set"  # the audit action, as the CLI writes it


def set_campaign_command(turn: Turn, command: SetCampaign) -> Outcome:
    if command.user_id not in turn.rules.admin_ids:  # the engine checked; checked again
        return Refused("not_allowed")
    now = turn.rules.clock()
    row = set_campaign(turn.session, command.deadline, command.days, command.user_id, now)
    actor = Actor(Scope.superadmin(), command.user_id, audit.TELEGRAM)
    detail = f"deadline={row.deadline.isoformat()} days={row.reminder_days} chat"
    audit.record(turn.session, actor, CAMPAIGN_SET, now, detail=detail)
    return Applied()


HANDLERS: Handlers = {SetCampaign: set_campaign_command}
