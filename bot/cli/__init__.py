"""Command line `peduli`. Each command imports only what it needs: `nik` never loads aiogram."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot import lean_lokal

if TYPE_CHECKING:  # not at run time: pydantic would slow down every command
    from bot.settings import Settings

#: bot.settings.TRANSPORT_NAMES, written out: importing the settings (pydantic) here would slow
#: down every command (tests/unit/test_cli_transport.py keeps the two equal).
TRANSPORTS = ("aiogram", "ptb")

lean_lokal.install()  # before anything imports the flows' validators (bot.lean_lokal)


def _transport_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=None,
        help="the Telegram framework: aiogram or ptb (python-telegram-bot); "
        "default: TRANSPORT, else aiogram",
    )


#: The commands that open the database (`--playground` points them at the playground's). All but
#: `db upgrade` need it to exist already: main refuses to create an empty one for them.
DATABASE_COMMANDS = frozenset(
    {
        "admin",
        "announce",
        "audit",
        "campaign",
        "coverage",
        "db",
        "export",
        "keys",
        "ledger",
        "reminders",
        "roster",
        "stats",
    }
)


def _playground_option(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument(
        "--playground",
        action="store_true",
        help="use the playground's database (PLAYGROUND_DATABASE_URL) instead of DATABASE_URL",
    )
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peduli", description="1 ASN 1 Pekerja Rentan bot")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot with long polling")
    _transport_option(run)
    webhook = commands.add_parser(
        "webhook", help="run the webhook server (WEBHOOK_URL, WEBHOOK_SECRET)"
    )
    webhook.add_argument(
        "--insecure-no-secret",
        action="store_true",
        help="run without WEBHOOK_SECRET (local tests only: anyone can then send updates)",
    )
    _transport_option(webhook)
    # One of WEBHOOK_PROCESSES processes, started by `peduli webhook` itself (bot.processes).
    webhook.add_argument("--serve-as", type=int, default=None, help=argparse.SUPPRESS)
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    _playground_option(db_commands.add_parser("upgrade", help="apply the Alembic migrations"))
    coverage = commands.add_parser("coverage", help="coverage activation from BPJS results")
    coverage_commands = coverage.add_subparsers(dest="coverage_command", required=True)
    coverage_import = coverage_commands.add_parser(
        "import", help="activate coverage from a CSV file: reference or nik, kpj, start_date"
    )
    coverage_import.add_argument("file", type=Path, metavar="FILE.csv")
    coverage_import.add_argument(
        "--dry-run", action="store_true", help="report what would happen; write nothing"
    )
    _playground_option(coverage_import)
    keys = commands.add_parser("keys", help="the data key (DATA_KEY) against the database")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    _playground_option(
        keys_commands.add_parser("check", help="does DATA_KEY fit the database? writes nothing")
    )
    _playground_option(
        keys_commands.add_parser(
            "rotate",
            help="re-seal all data under DATA_KEY (from DATA_KEY_OLD); run with the bot stopped",
        )
    )
    ledger = commands.add_parser("ledger", help="the monthly deduction ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_open = ledger_commands.add_parser(
        "open", help="create the month's deduction rows (idempotent); prints rows created"
    )
    ledger_open.add_argument("--month", required=True, metavar="YYYY-MM")
    _playground_option(ledger_open)
    ledger_mark = ledger_commands.add_parser(
        "mark", help="mark an agency's rows of the month as deducted; prints rows marked"
    )
    ledger_mark.add_argument("--month", required=True, metavar="YYYY-MM")
    _playground_option(ledger_mark)
    ledger_mark.add_argument("--agency", required=True, metavar="CODE")
    ledger_mark.add_argument(
        "--reference",
        action="append",
        dest="references",
        metavar="REF",
        help="only this sponsorship (repeatable); default: every row of the agency",
    )
    admin = commands.add_parser("admin", help="operators and treasurers (superadmins: ADMIN_IDS)")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    admin_add = admin_commands.add_parser(
        "add", help="give a person a role (replaces any role they had)"
    )
    admin_add.add_argument("--role", required=True, choices=("operator", "treasurer"))
    _playground_option(admin_add)
    admin_add.add_argument(
        "--agency",
        required=True,
        nargs="+",
        metavar="CODE",
        help="agency codes of the programme (a treasurer: exactly one)",
    )
    # Optional here only because --agency takes every word after it: main takes the id from
    # the end of the agencies then ("--agency A B 123").
    admin_add.add_argument("user_id", nargs="?", metavar="TELEGRAM_ID")
    _playground_option(admin_commands.add_parser("list", help="who has which role"))
    admin_remove = _playground_option(
        admin_commands.add_parser("remove", help="take a person's role away")
    )
    admin_remove.add_argument("user_id", type=_telegram_id, metavar="TELEGRAM_ID")
    audit = commands.add_parser("audit", help="list the audit log of staff actions")
    audit.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="from this day on")
    audit.add_argument("--action", metavar="NAME", help="only this action, e.g. staff.grant")
    audit.add_argument("--format", choices=("table", "csv"), default="table", dest="output_format")
    _playground_option(audit)
    roster = commands.add_parser("roster", help="the roster of civil servants per agency")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    roster_import = roster_commands.add_parser(
        "import", help="add or update the roster from a CSV file: nip, name, agency"
    )
    roster_import.add_argument("file", type=Path, metavar="FILE.csv")
    roster_import.add_argument(
        "--dry-run", action="store_true", help="report what would happen; write nothing"
    )
    _playground_option(roster_import)
    stats = commands.add_parser(
        "stats", help="statistics per agency and per kecamatan/desa, participation"
    )
    stats_which = stats.add_mutually_exclusive_group()
    stats_which.add_argument("--agency", metavar="CODE", help="one agency of the catalog")
    stats_which.add_argument(
        "--regency", metavar="CODE", help="one regency of a deployment of several (33.24)"
    )
    stats.add_argument(
        "--format", dest="output_format", choices=("table", "csv", "json", "xlsx"), default="table"
    )
    stats.add_argument(
        "--output", type=Path, metavar="FILE", help="write to FILE (required for xlsx)"
    )
    _playground_option(stats)
    export = commands.add_parser("export", help="files for treasurers and BPJS")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    export_deductions = export_commands.add_parser(
        "deductions", help="the treasurers' deduction workbook (XLSX) of a month"
    )
    export_deductions.add_argument("--month", required=True, metavar="YYYY-MM")
    deductions_which = export_deductions.add_mutually_exclusive_group()
    deductions_which.add_argument("--agency", metavar="CODE", help="one agency (default: all)")
    deductions_which.add_argument(
        "--regency", metavar="CODE", help="one regency of a deployment of several (33.24)"
    )
    export_deductions.add_argument("--output", type=Path, metavar="FILE")
    _playground_option(export_deductions)
    export_bpjs = export_commands.add_parser(
        "bpjs", help="workers to register with BPJS (full NIKs; audit-logged)"
    )
    export_bpjs.add_argument("--since", metavar="DATE", help="consented on or after DATE")
    export_bpjs.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export_bpjs.add_argument(
        "--regency", metavar="CODE", help="one regency of a deployment of several (33.24)"
    )
    export_bpjs.add_argument("--output", type=Path, metavar="FILE")
    _playground_option(export_bpjs)
    export_transfers = export_commands.add_parser(
        "transfers",
        help="what villages, BAZNAS, companies and honorer pay a month (CSV; no salary cut)",
    )
    export_transfers.add_argument("--month", required=True, metavar="YYYY-MM")
    export_transfers.add_argument("--output", type=Path, metavar="FILE")
    _playground_option(export_transfers)
    nik = commands.add_parser(
        "nik", help="check NIKs; one JSON object per NIK; reads standard input when none given"
    )
    nik.add_argument("niks", nargs="*", metavar="NIK")
    campaign = commands.add_parser("campaign", help="the campaign deadline reminders count down to")
    campaign_commands = campaign.add_subparsers(dest="campaign_command", required=True)
    campaign_set = campaign_commands.add_parser(
        "set", help="set the deadline and the days before it on which ASN are reminded"
    )
    campaign_set.add_argument("--deadline", required=True, metavar="YYYY-MM-DD")
    campaign_set.add_argument("--days", default="14,7,1", metavar="14,7,1")
    _playground_option(campaign_set)
    _playground_option(campaign_commands.add_parser("show", help="the campaign in force"))
    reminders = commands.add_parser("reminders", help="reminders the bot sends by itself")
    reminders_commands = reminders.add_subparsers(dest="reminders_command", required=True)
    reminders_upcoming = reminders_commands.add_parser(
        "upcoming", help="what will be sent in the coming days, per day and kind"
    )
    reminders_upcoming.add_argument("--days", type=int, default=7, metavar="N")
    _playground_option(reminders_upcoming)
    commands.add_parser("docs", help="write the flow diagrams into README.md")
    announce = commands.add_parser(
        "announce",
        help="send an announcement (as /umumkan), or: status|pause|resume|cancel|report ID",
    )
    announce.add_argument(
        "action", nargs="?", choices=("status", "pause", "resume", "cancel", "report")
    )
    announce.add_argument("announcement_id", nargs="?", type=int, metavar="ID")
    announce.add_argument("--text", help="the announcement, Telegram HTML")
    announce.add_argument("--file", type=Path, help="read the announcement from FILE")
    announce.add_argument(
        "--audience",
        choices=(
            "all_asn",
            "agency_asn",
            "asn_without_worker",
            "sponsors_unconfirmed",
            "confirmed_workers",
            "everyone",
        ),
    )
    announce.add_argument(
        "--agency", action="append", dest="agencies", metavar="CODE", help="repeatable"
    )
    announce.add_argument("--photo", metavar="FILE_ID", help="a photo Telegram holds")
    announce.add_argument("--document", metavar="FILE_ID", help="a document Telegram holds")
    announce.add_argument("--button", choices=("sponsor", "signup"), help="a button opening a flow")
    announce.add_argument("--yes", action="store_true", help="do not ask to confirm")
    announce.add_argument(
        "--no-wait", action="store_true", help="return once queued (no progress bar)"
    )
    announce.add_argument("--csv", type=Path, metavar="FILE", help="report: the failures CSV")
    _playground_option(announce)
    demo = commands.add_parser(
        "demo", help="load the playground's sample data (agencies, roster, sponsorships)"
    )
    demo.add_argument(
        "--reset", action="store_true", help="empty the playground's database first (test data)"
    )
    playground = commands.add_parser(
        "playground", help="run the bot against a local Bot API emulator with a chat page"
    )
    playground.add_argument("--port", type=int, default=8081)
    _transport_option(playground)
    return parser


def _telegram_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"not a Telegram user id: {text!r}")
    return int(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command not in DATABASE_COMMANDS:
        return _dispatch(parser, args, None)
    from bot.settings import Settings
    from bot.storage.db import missing_database, shown_url

    settings = Settings()
    if args.playground:
        settings = settings.for_playground()
    if args.command != "db":  # a command that needs the data must not create an empty file
        problem = missing_database(settings.database_url)
        if problem is not None:
            print(f"peduli {args.command}: {problem}", file=sys.stderr)
            return 2
    try:
        return _dispatch(parser, args, settings)
    except Exception as error:
        if not type(error).__module__.startswith("sqlalchemy"):
            raise
        # A database that cannot be reached (server down, wrong password): say which one.
        shown = shown_url(settings.database_url)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        print(
            f"peduli {args.command}: cannot use the database {shown}:"
            f" {type(error).__name__}: {reason[0] if reason else ''}",
            file=sys.stderr,
        )
        return 2


def _dispatch(
    parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings | None
) -> int:
    """Run the command; settings: what the database commands use (None for the others)."""
    if args.command == "nik":
        from bot.cli.nik import main as nik_main

        return nik_main(args.niks, sys.stdin, sys.stdout)
    if args.command == "demo":
        from bot.cli.demo import run as demo_run

        return demo_run(reset=args.reset)
    if args.command == "docs":
        from bot.cli.docs import main as docs_main

        return docs_main()
    if args.command == "coverage":
        from bot.cli.coverage import run_import

        return run_import(args.file, dry_run=args.dry_run, settings=settings)
    if args.command == "admin":
        from bot.cli import admin

        if args.admin_command == "add":
            agencies = list(args.agency)
            typed = args.user_id if args.user_id is not None else agencies.pop()
            try:
                user_id = _telegram_id(typed)
            except argparse.ArgumentTypeError as error:
                parser.error(f"admin add: {error} (the last word must be the TELEGRAM_ID)")
            return admin.add(args.role, agencies, user_id, settings=settings)
        if args.admin_command == "remove":
            return admin.remove(args.user_id, settings=settings)
        return admin.list_staff(settings=settings)
    if args.command == "announce":
        from bot.cli import announce

        if args.action is not None:
            if args.announcement_id is None:
                parser.error(f"announce {args.action}: give the announcement's ID")
            return announce.manage(
                args.action, args.announcement_id, csv_file=args.csv, settings=settings
            )
        if args.audience is None:
            parser.error("announce: give --audience")
        return announce.send(
            text=args.text,
            file=args.file,
            audience=args.audience,
            agencies=args.agencies or (),
            photo=args.photo,
            document=args.document,
            button=args.button,
            yes=args.yes,
            wait=not args.no_wait,
            settings=settings,
        )
    if args.command == "audit":
        from bot.cli.audit import main as audit_main

        return audit_main(
            since=args.since,
            action=args.action,
            output_format=args.output_format,
            settings=settings,
        )
    if args.command == "roster":
        from bot.cli.roster import run_import as roster_import

        return roster_import(args.file, dry_run=args.dry_run, settings=settings)
    if args.command == "stats":
        from bot.cli.stats import run_stats

        return run_stats(
            agency=args.agency,
            regency=args.regency,
            output_format=args.output_format,
            output=args.output,
            settings=settings,
        )
    if args.command == "export":
        from bot.cli.export import bpjs_command, deductions_command, transfers_command

        if args.export_command == "deductions":
            return deductions_command(
                args.month, args.agency, args.output, settings=settings, regency=args.regency
            )
        if args.export_command == "transfers":
            return transfers_command(args.month, args.output, settings=settings)
        return bpjs_command(
            args.since, args.format, args.output, settings=settings, regency=args.regency
        )
    if args.command == "keys":
        from bot.cli.keys import check, rotate_command

        return check(settings) if args.keys_command == "check" else rotate_command(settings)
    if args.command == "campaign":
        from bot.cli.reminders import campaign as campaign_run

        return campaign_run(
            args.campaign_command,
            deadline=getattr(args, "deadline", None),
            days=getattr(args, "days", None),
            settings=settings,
        )
    if args.command == "reminders":
        from bot.cli.reminders import upcoming

        return upcoming(args.days, settings=settings)
    if args.command == "ledger":
        from bot.cli.ledger import run as ledger_run

        return ledger_run(
            args.ledger_command,
            args.month,
            agency=getattr(args, "agency", None),
            references=getattr(args, "references", None),
            settings=settings,
        )
    if args.command == "db":
        from bot.cli.db import upgrade

        return upgrade(settings)
    if args.command == "run":
        from bot.app import run_polling

        return run_polling(args.transport)
    if args.command == "playground":
        from bot.app import run_playground

        return run_playground(args.port, args.transport)
    if args.command == "webhook":
        if args.serve_as is None:  # WEBHOOK_PROCESSES > 1: a light parent starts the servers
            from bot.processes import run_several

            several = run_several(
                insecure_no_secret=args.insecure_no_secret, transport=args.transport
            )
            if several is not None:
                return several
        from bot.app import run_webhook

        return run_webhook(
            insecure_no_secret=args.insecure_no_secret,
            transport=args.transport,
            serve_as=args.serve_as,
        )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
