"""A test kit for announcements: people written straight into the tables (sponsors, their
sponsorships, workers, chats) without the sign-up flows, fast enough for 10,000 of them; and a
test-only sender standing in for the delivery engine (h9-engine's lane) that claims announcement
rows and marks their outcomes as the engine would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from bot.storage.models import Announcement, OutboxMessage, Sponsor, Sponsorship, TelegramUser

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
OPEN = ("waiting_worker", "confirmed", "active")


@dataclass(frozen=True)
class Asn:
    user_id: int
    agency: str
    # statuses of their sponsorships; a worker user id for each confirmed/active one
    sponsorships: tuple[str, ...] = ()
    chat: bool = True
    opted_out: bool = False


def worker_id(asn: Asn, index: int) -> int:
    return asn.user_id * 10 + index + 1


def populate(
    engine: Engine,
    people: Iterable[Asn],
    *,
    worker_chats: bool = True,
    known: Iterable[int] = (),
) -> None:
    """Write the people; `known`: users whose telegram_users row exists (they wrote already)."""
    users: dict[int, dict[str, object]] = {}
    sponsors: list[dict[str, object]] = []
    sponsorships: list[dict[str, object]] = []
    for number, asn in enumerate(people, start=1):
        users[asn.user_id] = _user(asn.user_id, asn.chat, asn.opted_out)
        sponsors.append(
            {
                "id": number,
                "user_id": asn.user_id,
                "nip_sealed": "x",
                "nip_index": f"nip{asn.user_id}",
                "nip_masked": "1985****",
                "nip_kind": "PNS",
                "full_name": f"ASN {asn.user_id}",
                "agency_code": asn.agency,
                "phone_sealed": "x",
                "phone_masked": "+62***",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        for index, status in enumerate(asn.sponsorships):
            worker = worker_id(asn, index) if status in ("confirmed", "active") else None
            if worker is not None:
                users.setdefault(worker, _user(worker, worker_chats, False))
            nik = f"nik{asn.user_id}-{index}"
            sponsorships.append(
                {
                    "reference": f"R{asn.user_id}-{index}"[:16],
                    "idempotency_key": f"k{asn.user_id}-{index}",
                    "sponsor_id": number,
                    "status": status,
                    "worker_full_name": "Pekerja",
                    "worker_job": "art",
                    "nik_sealed": "x",
                    "nik_index": nik,
                    "nik_masked": "3205****",
                    "active_nik_index": nik if status in OPEN else None,
                    "district_code": "32.05.01",
                    "district_name": "Garut Kota",
                    "village_name": "Desa",
                    "programme_code": "jkk_jkm",
                    "monthly_amount": 16800,
                    "payment_method": "salary_deduction",
                    "worker_user_id": worker,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    with Session(engine) as session, session.begin():
        new_users = [user for user_id, user in users.items() if user_id not in set(known)]
        if new_users:
            session.execute(insert(TelegramUser), new_users)
        session.execute(insert(Sponsor), sponsors)
        if sponsorships:
            session.execute(insert(Sponsorship), sponsorships)


def _user(user_id: int, chat: bool, opted_out: bool) -> dict[str, object]:
    return {
        "user_id": user_id,
        "chat_id": user_id if chat else None,
        "language": None,
        "created_at": NOW,
        "updated_at": NOW,
        "announcements_off_at": NOW if opted_out else None,
    }


def recipients(engine: Engine, announcement_id: int) -> list[int]:
    with Session(engine) as session:
        return sorted(
            session.scalars(
                select(OutboxMessage.recipient_user_id).where(
                    OutboxMessage.announcement_id == announcement_id
                )
            )
        )


def fake_send(
    engine: Engine,
    *,
    limit: int = 1000,
    outcome_of: Callable[[int], str] = lambda user_id: "sent",
    now: datetime = NOW,
) -> list[int]:
    """TEST KIT, not the delivery engine: mark up to `limit` pending announcement rows of
    announcements with status 'sending' (as the engine claims only those), skipping people who
    opted out (as the engine is assumed to), with the outcome `outcome_of(user)`. Returns the
    recipients "sent"."""
    sent: list[int] = []
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(
                OutboxMessage.id, OutboxMessage.recipient_user_id, TelegramUser.announcements_off_at
            )
            .join(Announcement, Announcement.id == OutboxMessage.announcement_id)
            .join(TelegramUser, TelegramUser.user_id == OutboxMessage.recipient_user_id)
            .where(
                Announcement.status == "sending",
                OutboxMessage.outcome.is_(None),  # type: ignore[union-attr]
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        for row_id, user_id, off in rows:
            outcome = "skipped" if off is not None else outcome_of(user_id)
            values: dict[str, object] = {"outcome": outcome, "attempts": 1}
            if outcome == "sent":
                values["sent_at"] = now
                sent.append(user_id)
            else:
                values["gave_up_at"] = now
                values["last_error"] = (
                    "Forbidden: bot was blocked by the user" if outcome == "blocked" else outcome
                )
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
            )
    return sent
