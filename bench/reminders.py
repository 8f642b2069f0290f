"""Benchmark of the reminder scheduler: `python -m bench.reminders [--sponsors 30000]
[--database-url URL]`.

Seeds N sponsors by bulk insert (a temporary SQLite database unless --database-url): a third
waiting for their worker (an invitation each, half of them opened by the worker), a third
signed up without a worker (a campaign is set), a third active with their first deduction next
month; and N/3 people with an unfinished sponsorship draft. Then, at a moment when all of them
are due, prints the wall-clock seconds of: the first round (reads the facts, plans, queues every
reminder), a second round (nothing new: what every minute costs in steady state), and the
7-day upcoming report. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

KEY = base64.b64encode(bytes(range(32))).decode()
AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 WIB: submitted, left, opened
NOW = AT + timedelta(days=2)  # day 2 of the invitations, day 2 of the drafts
BATCH = 5000


def seed(url: str, sponsors: int) -> None:
    from sqlalchemy import insert

    from bot.security.crypto import Sealer
    from bot.storage.db import create_db_engine, upgrade_database
    from bot.storage.models import (
        Campaign,
        Consent,
        Invitation,
        InvitationOpener,
        Sponsor,
        Sponsorship,
        TelegramUser,
        UnfinishedFlow,
    )

    upgrade_database(url)
    sealer = Sealer(base64.b64decode(KEY))
    sealed = sealer.seal("x")
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(
            insert(Campaign),
            [{"deadline": date(2026, 11, 29), "reminder_days": "7,1", "set_at": AT}],
        )
        for start in range(0, sponsors, BATCH):
            numbers = range(start + 1, min(sponsors, start + BATCH) + 1)
            users, rows, deals, consents, invitations, openers, drafts = [], [], [], [], [], [], []
            for n in numbers:
                users.append({"user_id": n, "chat_id": n, "created_at": AT, "updated_at": AT})
                rows.append(
                    {
                        "id": n,
                        "user_id": n,
                        "nip_sealed": sealed,
                        "nip_index": f"nip-{n}",
                        "nip_masked": "1985********",
                        "nip_kind": "PNS",
                        "full_name": f"ASN {n}",
                        "agency_code": "dinkes",
                        "phone_sealed": sealed,
                        "phone_masked": "+62812****7890",
                        "created_at": AT,
                        "updated_at": AT,
                    }
                )
                if n % 3 == 1:  # signed up, no worker
                    continue
                active = n % 3 == 0
                deals.append(
                    {
                        "id": n,
                        "reference": f"PR-{n:06d}",
                        "idempotency_key": f"bench-{n}",
                        "sponsor_id": n,
                        "status": "active" if active else "waiting_worker",
                        "worker_full_name": f"Pekerja {n}",
                        "worker_relationship": "rumah_tangga",
                        "worker_job": "art",
                        "nik_sealed": sealed,
                        "nik_index": f"nik-{n}",
                        "nik_masked": "3205********0001",
                        "active_nik_index": f"nik-{n}",
                        "district_code": "32.05.01",
                        "district_name": "Garut Kota",
                        "village_name": "Sukamentri",
                        "programme_code": "bpu-jkk-jkm",
                        "monthly_amount": 16800,
                        "payment_method": "salary_deduction",
                        "coverage_start": date(2026, 11, 15) if active else None,
                        "created_at": AT,
                        "updated_at": AT,
                    }
                )
                consents.append(
                    {
                        "sponsorship_id": n,
                        "subject": "sponsor",
                        "subject_user_id": n,
                        "kind": "salary_deduction",
                        "action": "given",
                        "text_key": "consent.salary_deduction",
                        "text_version": "v",
                        "text_hash": "0" * 64,
                        "amount": 16800,
                        "first_month": date(2026, 12, 1),
                        "recorded_at": AT,
                        "channel": "telegram",
                    }
                )
                if not active:
                    invitations.append(
                        {
                            "id": n,
                            "sponsorship_id": n,
                            "token_hash": f"{n:064d}",
                            "created_at": AT,
                            "expires_at": AT + timedelta(days=14),
                            "failed_attempts": 0,
                        }
                    )
                    if n % 2:
                        worker = 10_000_000 + n
                        users.append(
                            {
                                "user_id": worker,
                                "chat_id": worker,
                                "created_at": AT,
                                "updated_at": AT,
                            }
                        )
                        openers.append({"invitation_id": n, "user_id": worker, "opened_at": AT})
            for n in range(start + 1, min(sponsors, start + BATCH) + 1, 3):
                drafter = 20_000_000 + n
                users.append(
                    {"user_id": drafter, "chat_id": drafter, "created_at": AT, "updated_at": AT}
                )
                drafts.append(
                    {
                        "user_id": drafter,
                        "flow": "signup",
                        "step": "name",
                        "started_at": AT,
                        "updated_at": AT,
                    }
                )
            connection.execute(insert(TelegramUser), users)
            connection.execute(insert(Sponsor), rows)
            if deals:
                connection.execute(insert(Sponsorship), deals)
                connection.execute(insert(Consent), consents)
            if invitations:
                connection.execute(insert(Invitation), invitations)
            if openers:
                connection.execute(insert(InvitationOpener), openers)
            connection.execute(insert(UnfinishedFlow), drafts)
    engine.dispose()


def measure(url: str) -> list[tuple[str, float, int]]:
    from zoneinfo import ZoneInfo

    from bot.security.crypto import Sealer
    from bot.storage.db import create_db_engine
    from bot.storage.reminders import ReminderStore, Zones

    engine = create_db_engine(url)
    store = ReminderStore(
        engine, Sealer(base64.b64decode(KEY)), Zones(ZoneInfo("Asia/Jakarta"), {})
    )
    figures = []
    for what in ("first round", "second round"):
        began = time.perf_counter()
        queued = store.run_round(NOW)
        figures.append((what, time.perf_counter() - began, len(queued)))
    began = time.perf_counter()
    planned, _facts = store.upcoming(NOW, 7)
    figures.append(("upcoming 7 days", time.perf_counter() - began, len(planned)))
    engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders")
    parser.add_argument("--sponsors", type=int, default=30_000)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        began = time.perf_counter()
        seed(url, args.sponsors)
        print(f"seeded {args.sponsors} sponsors in {time.perf_counter() - began:.1f} s")
        print(f"{'what':<18} {'seconds':>8} {'reminders':>10}")
        for what, seconds, count in measure(url):
            print(f"{what:<18} {seconds:>8.2f} {count:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
