"""The roster of civil servants (table roster, models.RosterEntry): stored as each NIP's blind
index and masked form, like a sponsor's (bot.storage.handlers.sponsor), so a signed-up ASN is
matched by the same index and the roster never holds a NIP in clear.

`store_roster` is idempotent: a row identical to the stored one changes nothing; a known NIP with
another name or agency is updated; rows absent from the file are kept (a roster file may cover
some agencies only). A dry run computes the same counts and rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage import audit
from bot.storage.db import immediate
from bot.storage.models import RosterEntry
from flows.roster import RosterRow
from flows.validators.masking import mask_nip

CHUNK = 500  # blind indexes per look-up (well under every database's parameter limit)


@dataclass(frozen=True)
class RosterCounts:
    added: int
    updated: int
    unchanged: int


def store_roster(
    engine: Engine,
    sealer: Sealer,
    rows: Sequence[RosterRow],
    *,
    now: datetime,
    actor: audit.Actor,
    dry_run: bool,
    problems: int = 0,
) -> RosterCounts:
    """Add or update the rows (already checked) in one transaction, audit-logged (action
    "roster.import", the counts). A dry run writes nothing, the log entry included."""
    by_index = {sealer.blind_index(row.nip, "nip"): row for row in rows}
    added = updated = unchanged = 0
    with Session(immediate(engine)) as session:
        session.begin()
        indexes = list(by_index)
        existing: dict[str, RosterEntry] = {}
        for start in range(0, len(indexes), CHUNK):
            chunk = indexes[start : start + CHUNK]
            query = select(RosterEntry).where(col(RosterEntry.nip_index).in_(chunk))
            existing.update((entry.nip_index, entry) for entry in session.scalars(query))
        for index, row in by_index.items():
            entry = existing.get(index)
            if entry is None:
                added += 1
                session.add(
                    RosterEntry(
                        nip_index=index,
                        nip_sealed=sealer.seal(row.nip),
                        nip_masked=mask_nip(row.nip),
                        full_name=row.full_name,
                        agency_code=row.agency_code,
                        imported_at=now,
                    )
                )
            elif (entry.full_name, entry.agency_code) == (row.full_name, row.agency_code):
                unchanged += 1
            else:
                updated += 1
                entry.full_name, entry.agency_code, entry.imported_at = (
                    row.full_name,
                    row.agency_code,
                    now,
                )
        counts = RosterCounts(added, updated, unchanged)
        if dry_run:
            session.rollback()
            return counts
        audit.record(
            session,
            actor,
            "roster.import",
            now,
            detail=f"added={added} updated={updated} unchanged={unchanged} bad={problems}",
            row_count=added + updated,
        )
        session.commit()
    return counts
