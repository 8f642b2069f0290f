"""The rows the bot wrote about one person, for the playground's panel (bot.playground).

Why: a reader trying the bot in the playground should see what it understood and stored (the
sponsor record, each sponsorship's state, the consents, the invitations, the messages queued in
the outbox), not only its chat. Identifiers come back as the masked columns the database keeps;
nothing is unsealed here, so no NIK, NIP, phone or KPJ number leaves in clear. Plain JSON-able
dicts: the emulator's page shows them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.models import (
    Consent,
    Invitation,
    OutboxMessage,
    Sponsor,
    Sponsorship,
    StaffRole,
    TelegramUser,
)

#: The newest outbox rows shown (a person may have received hundreds of announcements).
OUTBOX_SHOWN = 8


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _pick(row: object, names: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in names}


_SPONSOR = ("full_name", "nip_masked", "nip_kind", "agency_code", "phone_masked", "created_at")
_SPONSORSHIP = (
    "reference",
    "status",
    "worker_full_name",
    "nik_masked",
    "worker_relationship",
    "worker_job",
    "worker_phone_masked",
    "district_name",
    "village_name",
    "programme_code",
    "monthly_amount",
    "payment_method",
    "worker_user_id",
    "kpj_masked",
    "coverage_start",
    "created_at",
    "updated_at",
)
_CONSENT = (
    "subject",
    "kind",
    "action",
    "channel",
    "amount",
    "first_month",
    "text_version",
    "recorded_at",
)
_INVITATION = ("created_at", "expires_at", "opened_by_user_id", "failed_attempts", "used_at")
_OUTBOX = ("id", "kind", "created_at", "not_before", "sent_at", "attempts", "outcome")


def rows_of_user(engine: Engine, user_id: int) -> dict[str, Any]:
    """What the database holds about `user_id`: their Telegram record, staff roles, sponsor
    record, the sponsorships they made or are the worker of (each with its consents and
    invitations), and their newest outbox rows."""
    with Session(engine) as session:
        user = session.get(TelegramUser, user_id)
        roles = session.scalars(select(StaffRole).where(col(StaffRole.user_id) == user_id)).all()
        sponsor = session.scalars(select(Sponsor).where(col(Sponsor.user_id) == user_id)).first()
        conditions = [col(Sponsorship.worker_user_id) == user_id]
        if sponsor is not None:
            conditions.append(col(Sponsorship.sponsor_id) == sponsor.id)
        sponsorships = session.scalars(
            select(Sponsorship).where(or_(*conditions)).order_by(col(Sponsorship.id))
        ).all()
        shown = []
        for row in sponsorships:
            consents = session.scalars(
                select(Consent)
                .where(col(Consent.sponsorship_id) == row.id)
                .order_by(col(Consent.id))
            ).all()
            invitations = session.scalars(
                select(Invitation)
                .where(col(Invitation.sponsorship_id) == row.id)
                .order_by(col(Invitation.id))
            ).all()
            shown.append(
                {
                    **_pick(row, _SPONSORSHIP),
                    "role": "sponsor"
                    if sponsor is not None and row.sponsor_id == sponsor.id
                    else "worker",
                    "consents": [_pick(c, _CONSENT) for c in consents],
                    "invitations": [_pick(i, _INVITATION) for i in invitations],
                }
            )
        outbox = session.scalars(
            select(OutboxMessage)
            .where(col(OutboxMessage.recipient_user_id) == user_id)
            .order_by(col(OutboxMessage.id).desc())
            .limit(OUTBOX_SHOWN)
        ).all()
        return {
            "telegram_user": None
            if user is None
            else _pick(user, ("language", "created_at", "unreachable_at", "announcements_off_at")),
            "staff_roles": [_pick(r, ("role", "agency_code")) for r in roles],
            "sponsor": None if sponsor is None else _pick(sponsor, _SPONSOR),
            "sponsorships": shown,
            "outbox": [_pick(o, _OUTBOX) for o in outbox],
        }
