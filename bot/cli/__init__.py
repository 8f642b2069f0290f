"""Command line `peduli`. Each command imports only what it needs: `nik` never loads aiogram."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peduli", description="1 ASN 1 Pekerja Rentan bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot with long polling")
    webhook = commands.add_parser(
        "webhook", help="run the webhook server (WEBHOOK_URL, WEBHOOK_SECRET)"
    )
    webhook.add_argument(
        "--insecure-no-secret",
        action="store_true",
        help="run without WEBHOOK_SECRET (local tests only: anyone can then send updates)",
    )
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    coverage = commands.add_parser("coverage", help="coverage activation from BPJS results")
    coverage_commands = coverage.add_subparsers(dest="coverage_command", required=True)
    coverage_import = coverage_commands.add_parser(
        "import", help="activate coverage from a CSV file: reference or nik, kpj, start_date"
    )
    coverage_import.add_argument("file", type=Path, metavar="FILE.csv")
    coverage_import.add_argument(
        "--dry-run", action="store_true", help="report what would happen; write nothing"
    )
    keys = commands.add_parser("keys", help="the data key (DATA_KEY) against the database")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("check", help="does DATA_KEY fit the database? writes nothing")
    keys_commands.add_parser(
        "rotate",
        help="re-seal all data under DATA_KEY (from DATA_KEY_OLD); run with the bot stopped",
    )
    export = commands.add_parser("export", help="files for treasurers and BPJS")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    export_deductions = export_commands.add_parser(
        "deductions", help="the treasurers' deduction workbook (XLSX) of a month"
    )
    export_deductions.add_argument("--month", required=True, metavar="YYYY-MM")
    export_deductions.add_argument("--agency", metavar="CODE", help="one agency (default: all)")
    export_deductions.add_argument("--output", type=Path, metavar="FILE")
    export_bpjs = export_commands.add_parser(
        "bpjs", help="workers to register with BPJS (full NIKs; audit-logged)"
    )
    export_bpjs.add_argument("--since", metavar="DATE", help="consented on or after DATE")
    export_bpjs.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export_bpjs.add_argument("--output", type=Path, metavar="FILE")
    nik = commands.add_parser(
        "nik", help="check NIKs; one JSON object per NIK; reads standard input when none given"
    )
    nik.add_argument("niks", nargs="*", metavar="NIK")
    commands.add_parser("docs", help="write the flow diagrams into README.md")
    playground = commands.add_parser(
        "playground", help="run the bot against a local Bot API emulator with a chat page"
    )
    playground.add_argument("--port", type=int, default=8081)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "nik":
        from bot.cli.nik import main as nik_main

        return nik_main(args.niks, sys.stdin, sys.stdout)
    if args.command == "docs":
        from bot.cli.docs import main as docs_main

        return docs_main()
    if args.command == "coverage":
        from bot.cli.coverage import run_import

        return run_import(args.file, dry_run=args.dry_run)
    if args.command == "export":
        from bot.cli.export import bpjs_command, deductions_command

        if args.export_command == "deductions":
            return deductions_command(args.month, args.agency, args.output)
        return bpjs_command(args.since, args.format, args.output)
    if args.command == "keys":
        from bot.cli.keys import check, rotate_command

        return check() if args.keys_command == "check" else rotate_command()
    if args.command == "db":
        from bot.cli.db import upgrade

        return upgrade()
    if args.command == "run":
        from bot.app import run_polling

        return run_polling()
    if args.command == "playground":
        from bot.app import run_playground

        return run_playground(args.port)
    if args.command == "webhook":
        from bot.app import run_webhook

        return run_webhook(insecure_no_secret=args.insecure_no_secret)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
