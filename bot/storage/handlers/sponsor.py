"""The sponsor aggregate: the Telegram user and the sponsor who signs up (an ASN, or a funder
without a NIP: a village, BAZNAS, a company, a non-ASN honorer)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn, digits, sponsor_of_user, upsert_user
from bot.storage.models import Sponsor, TelegramUser
from flows.catalog import ASN, FUNDER_TYPES
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
    if command.funder_type not in FUNDER_TYPES:
        raise ValueError(f"unknown funder type {command.funder_type!r}")
    # An ASN signs up with a NIP, nobody else does (the table's check "funder_nip" agrees).
    if (command.funder_type == ASN) != (command.nip is not None):
        raise ValueError("a NIP is given by an ASN and by no other funder type")
    nip = digits(command.nip, 18, "NIP") if command.nip is not None else None
    nip_index = sealer.blind_index(nip, "nip") if nip is not None else None
    if nip_index is not None and _nip_owner(session, nip_index) not in (None, command.user_id):
        return Refused("nip_taken")
    upsert_user(session, command.user_id, turn.rules.clock())
    now = turn.rules.clock()
    values: dict[str, Any] = {
        "nip_kind": command.nip_kind,
        "full_name": command.full_name,
        "agency_code": command.agency_code,
        "phone_sealed": sealer.seal(command.phone_e164),
        "phone_masked": mask_phone(command.phone_e164),
        "funder_type": command.funder_type,
        "organisation_name": command.organisation_name,
        "organisation_code": command.organisation_code,
        "position": command.position,
        "updated_at": now,
    }
    sponsor = sponsor_of_user(session, command.user_id)
    if nip is None:
        values |= {"nip_sealed": None, "nip_index": None, "nip_masked": None}
    elif sponsor is None or sponsor.nip_index != nip_index:
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
        if nip_index is not None and _nip_owner(session, nip_index) not in (
            None,
            command.user_id,
        ):
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
