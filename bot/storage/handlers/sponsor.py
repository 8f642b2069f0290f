"""The sponsor aggregate: the Telegram user and the ASN who signs up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn, digits, sponsor_of_user, upsert_user
from bot.storage.models import Sponsor, TelegramUser
from flows.commands import Applied, Outcome, Refused, RegisterSponsor, SetLanguage, SetReminders
from flows.validators.masking import mask_nip, mask_phone


def set_language(turn: Turn, command: SetLanguage) -> Outcome:
    upsert_user(turn.session, command.user_id, turn.rules.clock(), language=command.language)
    return Applied()


def set_reminders(turn: Turn, command: SetReminders) -> Outcome:
    now = turn.rules.clock()
    upsert_user(turn.session, command.user_id, now)
    turn.session.execute(
        update(TelegramUser)
        .where(col(TelegramUser.user_id) == command.user_id)
        .values(reminders_off_at=now if command.off else None)
    )
    return Applied()


def register_sponsor(turn: Turn, command: RegisterSponsor) -> Outcome:
    session, sealer = turn.session, turn.rules.sealer
    nip = digits(command.nip, 18, "NIP")
    nip_index = sealer.blind_index(nip, "nip")
    if _nip_owner(session, nip_index) not in (None, command.user_id):
        return Refused("nip_taken")
    upsert_user(session, command.user_id, turn.rules.clock())
    now = turn.rules.clock()
    values: dict[str, Any] = {
        "nip_kind": command.nip_kind,
        "full_name": command.full_name,
        "agency_code": command.agency_code,
        "phone_sealed": sealer.seal(command.phone_e164),
        "phone_masked": mask_phone(command.phone_e164),
        "updated_at": now,
    }
    sponsor = sponsor_of_user(session, command.user_id)
    if sponsor is None or sponsor.nip_index != nip_index:
        values |= {
            "nip_sealed": sealer.seal(nip),
            "nip_index": nip_index,
            "nip_masked": mask_nip(nip),
        }
    if sponsor is None:
        session.add(Sponsor(user_id=command.user_id, created_at=now, **values))
    else:
        for name, value in values.items():
            setattr(sponsor, name, value)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Another process registered this NIP between our check and our write.
        if _nip_owner(session, nip_index) not in (None, command.user_id):
            return Refused("nip_taken")
        raise
    return Applied()


def _nip_owner(session: Session, nip_index: str) -> int | None:
    return session.scalars(
        select(col(Sponsor.user_id)).where(col(Sponsor.nip_index) == nip_index)
    ).first()


HANDLERS: Handlers = {
    SetLanguage: set_language,
    RegisterSponsor: register_sponsor,
    SetReminders: set_reminders,
}
