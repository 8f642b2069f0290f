"""Queueing an announcement: how long the one transaction takes that counts the audience and
writes one outbox row per recipient (bot.storage.announcements.submit, one INSERT ... SELECT).

    python -m bench.announce_queue [--recipients 10000] [--rounds 3] [--database-url URL]

Without --database-url: a temporary SQLite file. A PostgreSQL URL must name an EMPTY database
(it is migrated and filled). Prints recipients, seconds per round and rows a second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bot.storage import announcements
from bot.storage.audit import Actor
from bot.storage.db import create_db_engine, immediate, upgrade_database
from bot.storage.models import Sponsor, TelegramUser
from flows.access import Scope

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def fill(url: str, recipients: int) -> None:
    engine = create_db_engine(url)
    try:
        users = [
            {"user_id": 10**9 + n, "chat_id": 10**9 + n, "created_at": NOW, "updated_at": NOW}
            for n in range(recipients)
        ]
        sponsors = [
            {
                "user_id": 10**9 + n,
                "nip_sealed": "x",
                "nip_index": f"bench{n}",
                "nip_masked": "1985****",
                "nip_kind": "PNS",
                "full_name": "ASN",
                "agency_code": "dinkes",
                "phone_sealed": "x",
                "phone_masked": "+62***",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n in range(recipients)
        ]
        with Session(engine) as session, session.begin():
            session.execute(insert(TelegramUser), users)
            session.execute(insert(Sponsor), sponsors)
    finally:
        engine.dispose()


def measure(url: str, rounds: int) -> list[tuple[int, float]]:
    engine = create_db_engine(url)
    writer = immediate(engine)
    actor = Actor(Scope.superadmin(), 1)
    results: list[tuple[int, float]] = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            with Session(writer) as session, session.begin():
                row = announcements.create(session, actor, body="x", audience="all_asn", now=NOW)
                assert row.id is not None
                queued = announcements.submit(session, actor, row.id, NOW, threshold=10**9)
                size = queued.recipients or 0
            results.append((size, time.perf_counter() - started))
    finally:
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.announce_queue")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an EMPTY database (default: temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        upgrade_database(url)
        fill(url, args.recipients)
        print(f"database: {url.split('://', 1)[0]}")
        for number, (size, seconds) in enumerate(measure(url, args.rounds), start=1):
            rate = size / seconds if seconds else float("inf")
            print(f"round {number}: {size} recipients queued in {seconds:.3f} s ({rate:,.0f}/s)")


if __name__ == "__main__":
    main()
