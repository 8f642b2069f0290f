"""Rows for the statistics tests, inserted directly (bulk, fast): sponsors, sponsorships in any
status, ledger rows, the roster and staff roles. Identifiers are fake but consistent: a sponsor's
nip_index is the blind index the roster import would compute for the same NIP."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import Engine

from bot.security.crypto import Sealer
from bot.storage import counts
from bot.storage.models import (
    Deduction,
    RosterEntry,
    Sponsor,
    Sponsorship,
    StaffRole,
    TelegramUser,
)
from flows.statuses import OPEN_STATUSES
from flows.validators.masking import mask_nip

AT = datetime(2026, 11, 2, tzinfo=UTC)
TOKEN = Sealer(bytes(range(32))).seal(
    "0"
)  # a real token under the tests' key (keys check opens one)


def nip_of(number: int) -> str:
    """A structurally valid PNS NIP, a different one for each number below 336,000 (the serial,
    birth day and month vary)."""
    day, month = 1 + (number // 1000) % 28, 1 + (number // 28_000) % 12
    return f"1985{month:02d}{day:02d}2010011{number % 1000:03d}"


@dataclass(frozen=True)
class Worker:
    status: str
    district: tuple[str, str] = ("32.05.01", "Garut Kota")
    village: tuple[str, str] = ("32.05.01.1001", "Sukamentri")
    coverage_start: date | None = None
    job: str | None = "art"
    relationship: str | None = "rumah_tangga"


def add_sponsors(
    engine: Engine, sealer: Sealer, sponsors: Iterable[tuple[int, str, int]]
) -> dict[int, int]:
    """(user id, agency code, NIP number) each; returns sponsor id by user id."""
    sponsors = list(sponsors)
    users = [{"user_id": u, "created_at": AT, "updated_at": AT} for u, _a, _n in sponsors]
    rows = [
        {
            "user_id": user_id,
            "nip_sealed": sealer.seal(nip_of(number)),
            "nip_index": sealer.blind_index(nip_of(number), "nip"),
            "nip_masked": mask_nip(nip_of(number)),
            "nip_kind": "PNS",
            "full_name": f"ASN {user_id}",
            "agency_code": agency,
            "phone_sealed": TOKEN,
            "phone_masked": "+62812****0000",
            "created_at": AT,
            "updated_at": AT,
        }
        for user_id, agency, number in sponsors
    ]
    with engine.begin() as connection:
        if users:
            connection.execute(sa.insert(TelegramUser.__table__), users)  # type: ignore[attr-defined]
            connection.execute(sa.insert(Sponsor.__table__), rows)  # type: ignore[attr-defined]
        counts.rebuild(connection)  # the rows bypassed the bot: its kept counts again
        found = connection.execute(sa.select(Sponsor.__table__.c.user_id, Sponsor.__table__.c.id))  # type: ignore[attr-defined]
        return {int(user): int(sid) for user, sid in found}


def add_sponsorships(
    engine: Engine, workers: Iterable[tuple[int, Worker]], start: int = 0
) -> list[int]:
    """(sponsor id, worker) each; returns the sponsorship ids in order."""
    rows = []
    for number, (sponsor_id, worker) in enumerate(workers, start=start):
        is_open = worker.status in {s.value for s in OPEN_STATUSES}
        erased = worker.status in ("declined", "withdrawn")  # the worker's data are erased
        index = f"nik{number:061d}"
        rows.append(
            {
                "reference": f"PR-{number:08d}",
                "idempotency_key": f"k{number}",
                "sponsor_id": sponsor_id,
                "status": worker.status,
                "worker_full_name": None if erased else "Pekerja",
                "worker_relationship": worker.relationship,
                "worker_job": worker.job,
                "nik_sealed": None if erased else TOKEN,
                "nik_index": None if erased else index,
                "nik_masked": None if erased else "3205********0001",
                "active_nik_index": index if is_open else None,
                "district_code": worker.district[0],
                "district_name": worker.district[1],
                "village_code": None if erased else worker.village[0],
                "village_name": None if erased else worker.village[1],
                "programme_code": "jkk_jkm",
                "monthly_amount": 16800,
                "payment_method": "salary_deduction",
                "coverage_start": worker.coverage_start,
                "created_at": AT,
                "updated_at": AT,
            }
        )
    table = Sponsorship.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        if rows:
            connection.execute(sa.insert(table), rows)
        counts.rebuild(connection)
        found = connection.execute(
            sa.select(table.c.id)
            .where(table.c.reference.in_([r["reference"] for r in rows]))
            .order_by(table.c.reference)
        )
        return [int(i) for (i,) in found]


def add_deductions(engine: Engine, deductions: Iterable[tuple[int, date, str, int, bool]]) -> None:
    """(sponsorship id, month, agency code, amount, deducted) each."""
    rows = [
        {
            "sponsorship_id": sid,
            "month": month,
            "agency_code": agency,
            "amount": amount,
            "created_at": AT,
            "deducted_at": AT if deducted else None,
        }
        for sid, month, agency, amount, deducted in deductions
    ]
    with engine.begin() as connection:
        if rows:
            connection.execute(sa.insert(Deduction.__table__), rows)  # type: ignore[attr-defined]
        counts.rebuild(connection)


def add_roster(engine: Engine, sealer: Sealer, entries: Iterable[tuple[int, str]]) -> None:
    """(NIP number, agency code) each."""
    rows = [
        {
            "nip_index": sealer.blind_index(nip_of(number), "nip"),
            "nip_sealed": sealer.seal(nip_of(number)),
            "nip_masked": mask_nip(nip_of(number)),
            "full_name": f"Pegawai {number}",
            "agency_code": agency,
            "imported_at": AT,
        }
        for number, agency in entries
    ]
    with engine.begin() as connection:
        if rows:
            connection.execute(sa.insert(RosterEntry.__table__), rows)  # type: ignore[attr-defined]


def grant(engine: Engine, user_id: int, role: str, *agencies: str) -> None:
    rows = [
        {"user_id": user_id, "agency_code": a, "role": role, "granted_at": AT} for a in agencies
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(StaffRole.__table__), rows)  # type: ignore[attr-defined]
