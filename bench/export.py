"""Benchmark of the exports: `python -m bench.export [--rows 100000]` (or `make bench-export`).

Generates N sponsorships (sponsor, worker, both consents, a December deduction row each) into a
temporary SQLite database by bulk insert, then runs `peduli export deductions` and `peduli export
bpjs` (the CLI code, audit entry included), each in a fresh process, and prints its wall-clock
seconds, the process's CPU seconds (start-up included; on a shared machine wall-clock time says
much about the neighbours) and peak RSS (resource.getrusage of that process). Goal (issue 8):
< 10 s and < 200 MB each, checked on each line. "seconds" is the whole command's wall-clock time
(interpreter start-up and imports included, ~1.6 s), "export s" the export's own (after the
imports); on a loaded machine look at the CPU seconds and the load averages printed too.

Every sponsorship is both in the December ledger and waiting for BPJS (status confirmed): not a
state the ledger would produce, but both exports then carry all N rows. Prints figures; asserts
nothing (tests never assert on wall-clock time).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

KEY = base64.b64encode(bytes(range(32))).decode()
MONTH = date(2026, 12, 1)
AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
BATCH = 5000
GOAL_SECONDS = 10  # issue 8: each export of 100,000 sponsorships, wall-clock
GOAL_MB = 200  # and its peak RSS


def seed(url: str, rows: int) -> None:
    """Bulk-insert `rows` sponsorships (executemany in batches, one transaction)."""
    from sqlalchemy import insert

    from bot.catalog import load_programme
    from bot.security.crypto import Sealer
    from bot.settings import DEFAULT_PROGRAMME_FILE
    from bot.storage.db import create_db_engine, upgrade_database
    from bot.storage.models import (
        Consent,
        Deduction,
        Sponsor,
        Sponsorship,
        TelegramUser,
    )
    from flows.validators.masking import mask_nik, mask_nip

    upgrade_database(url)
    sealer = Sealer(base64.b64decode(KEY))
    agencies = [a.code for a in load_programme(DEFAULT_PROGRAMME_FILE).catalog.agencies]
    engine = create_db_engine(url)
    digest = hashlib.sha256(b"statement").hexdigest()
    with engine.begin() as connection:
        for start in range(0, rows, BATCH):
            numbers = range(start + 1, min(rows, start + BATCH) + 1)
            users, sponsors, sponsorships, consents, deductions = [], [], [], [], []
            for n in numbers:
                nip = f"198503152010{n:06d}"
                # Unique, well-formed NIKs: n gives the day (women: +40), month and serial.
                day = 1 + n % 28 + (40 if n % 2 else 0)
                nik = f"320501{day:02d}{1 + (n // 28) % 12:02d}90{n // 336:04d}"
                index = sealer.blind_index(nik, "nik")
                agency = agencies[n % len(agencies)]
                users.append({"user_id": n, "created_at": AT, "updated_at": AT})
                sponsors.append(
                    {
                        "id": n,
                        "user_id": n,
                        "nip_sealed": sealer.seal(nip),
                        "nip_index": sealer.blind_index(nip, "nip"),
                        "nip_masked": mask_nip(nip),
                        "nip_kind": "PNS",
                        "full_name": f"ASN Nomor {n}",
                        "agency_code": agency,
                        "phone_sealed": sealer.seal("+6281234567890"),
                        "phone_masked": "+62812****7890",
                        "created_at": AT,
                        "updated_at": AT,
                    }
                )
                sponsorships.append(
                    {
                        "id": n,
                        "reference": f"PR-{n:06d}",
                        "idempotency_key": f"bench-{n}",
                        "sponsor_id": n,
                        "status": "confirmed",
                        "worker_full_name": f"Pekerja Nomor {n}",
                        "worker_relationship": "rumah_tangga",
                        "worker_job": "art",
                        "nik_sealed": sealer.seal(nik),
                        "nik_index": index,
                        "nik_masked": mask_nik(nik),
                        "active_nik_index": index,
                        "worker_phone_sealed": sealer.seal("+6285711112222"),
                        "worker_phone_masked": "+62857****2222",
                        "district_code": "32.05.01",
                        "district_name": "Garut Kota",
                        "village_code": "32.05.01.1001",
                        "village_name": "Sukamentri",
                        "programme_code": "bpu-jkk-jkm",
                        "monthly_amount": 16800,
                        "payment_method": "salary_deduction",
                        "created_at": AT,
                        "updated_at": AT,
                    }
                )
                for subject, kind, first in (
                    ("sponsor", "salary_deduction", MONTH),
                    ("worker", "worker_data", None),
                ):
                    consents.append(
                        {
                            "sponsorship_id": n,
                            "subject": subject,
                            "subject_user_id": n,
                            "kind": kind,
                            "action": "given",
                            "text_key": "consent.salary_deduction",
                            "text_version": "2026-11-1",
                            "text_hash": digest,
                            "amount": 16800,
                            "first_month": first,
                            "recorded_at": AT,
                            "channel": "telegram",
                        }
                    )
                deductions.append(
                    {
                        "sponsorship_id": n,
                        "month": MONTH,
                        "agency_code": agency,
                        "amount": 16800,
                        "created_at": AT,
                    }
                )
            connection.execute(insert(TelegramUser), users)
            connection.execute(insert(Sponsor), sponsors)
            connection.execute(insert(Sponsorship), sponsorships)
            connection.execute(insert(Consent), consents)
            connection.execute(insert(Deduction), deductions)
    engine.dispose()


def child(which: str, output: Path) -> None:
    """One export in this (fresh) process: prints the export's own seconds (after the imports),
    the process's CPU seconds (start-up included) and peak RSS in MB, and the file's size."""
    from bot.cli.export import bpjs_command, deductions_command

    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        if which == "deductions":
            code = deductions_command("2026-12", None, output, stdout=quiet, stderr=quiet)
        else:
            code = bpjs_command(None, which.split("-")[1], output, stdout=quiet, stderr=quiet)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # the whole process, start-up included
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    print(f"{code}\t{seconds:.2f}\t{cpu:.2f}\t{peak_mb:.0f}\t{output.stat().st_size}")


def verdict(seconds: float, peak_mb: float) -> str:
    """The goal check of one line: < 10 s (wall-clock, the whole command) and < 200 MB."""
    met = seconds < GOAL_SECONDS and peak_mb < GOAL_MB
    return (
        f"{'<' if seconds < GOAL_SECONDS else '>='} {GOAL_SECONDS} s, "
        f"{'<' if peak_mb < GOAL_MB else '>='} {GOAL_MB} MB: {'met' if met else 'MISSED'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.output)
        return 0
    with tempfile.TemporaryDirectory(prefix="peduli-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        started = time.perf_counter()
        seed(url, args.rows)
        print(
            f"seeded {args.rows:,} sponsorships in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        project = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "DATABASE_URL": url, "DATA_KEY": KEY, "PYTHONPATH": path}
        env.pop("ADMIN_IDS", None)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        print("export\texit\tseconds\texport s\tCPU s\tpeak MB\tbytes\tgoal")
        for which, name in (
            ("deductions", "potongan.xlsx"),
            ("bpjs-csv", "bpjs.csv"),
            ("bpjs-xlsx", "bpjs.xlsx"),
        ):
            command = [sys.executable, "-m", "bench.export", "--child", which]
            command += ["--output", str(Path(folder) / name)]
            started = time.perf_counter()
            result = subprocess.run(
                command, env=env, cwd=folder, capture_output=True, text=True, check=False
            )
            seconds = time.perf_counter() - started  # the whole command, start-up included
            if result.returncode != 0:
                sys.stderr.write(result.stderr)
                return 1
            code, export_seconds, cpu, peak_mb, size = result.stdout.split()
            print(
                f"{which}\t{code}\t{seconds:.2f}\t{export_seconds}\t{cpu}\t{peak_mb}\t{size}"
                f"\t{verdict(seconds, float(peak_mb))}",
                flush=True,
            )
        print(f"load average {os.getloadavg()[0]:.1f} after the exports")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
