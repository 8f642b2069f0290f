"""`peduli announce`: an announcement from the command line, as /umumkan does in the chat.

    peduli announce --text TEXT | --file FILE --audience AUDIENCE [--agency CODE ...]
                    [--photo FILE_ID | --document FILE_ID] [--button sponsor|signup]
                    [--yes] [--no-wait]
    peduli announce status ID | pause ID | resume ID | cancel ID
    peduli announce report ID --csv FILE

The text is Telegram HTML (<b>, <i>, <a href>...), checked as the chat checks it. The command
shows the audience's size and the message as recipients will get it (the delivery engine's own
renderer), asks to confirm (unless --yes), queues one outbox row per recipient in one
transaction, then draws a progress bar on standard error while a running bot's delivery engine
sends (--no-wait: return at once). An audience larger than ANNOUNCEMENT_APPROVAL_THRESHOLD waits
for a second superadmin's approval, as in the chat. The command line acts as a superadmin (whoever
can run it holds the database and the key); every change is audited with channel `cli`.

Exit status 0 when done; 1 when not confirmed; 2 when refused or the database cannot be used.
No aiogram.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.announcements import content_of, render_announcement
from bot.settings import Settings
from bot.storage import announcements
from bot.storage.announcements import AnnouncementError, AnnouncementStore, Progress
from bot.storage.audit import Actor
from bot.storage.db import create_db_engine, immediate
from bot.storage.keys import command_sealer
from bot.storage.models import ANNOUNCEMENT_AUDIENCES, utc_now
from flows.announce import BUTTON_FLOWS, body_problem

AUDIENCES = ANNOUNCEMENT_AUDIENCES
ACTIONS = ("status", "pause", "resume", "cancel", "report")
REFUSALS = {
    announcements.UNKNOWN: "no such announcement",
    announcements.WRONG_STATE: "the announcement is not in a state that allows this",
    announcements.EMPTY: "nobody in this audience (within reach, not opted out)",
    announcements.BAD_AUDIENCE: f"unknown audience; one of {', '.join(AUDIENCES)}",
}
BAR_WIDTH = 30


def _open(settings: Settings, err: TextIO) -> Engine | None:
    engine = create_db_engine(settings.database_url)
    if command_sealer(settings, engine, err) is None:
        engine.dispose()
        return None
    return engine


def send(
    *,
    text: str | None,
    file: Path | None,
    audience: str,
    agencies: Sequence[str] = (),
    photo: str | None = None,
    document: str | None = None,
    button: str | None = None,
    yes: bool = False,
    wait: bool = True,
    interval: float = 2.0,
    settings: Settings | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    settings = settings or Settings()
    out, err, given = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    if (text is None) == (file is None):
        print("peduli announce: give --text or --file", file=err)
        return 2
    body = text if text is not None else (file or Path()).read_text(encoding="utf-8")
    body = body.strip()
    media_kind, media_id = (
        ("photo", photo) if photo else (("document", document) if document else (None, None))
    )
    problem = body_problem(body, media_kind)
    if problem is not None:
        reason, limit = problem
        print(f"peduli announce: the text is {reason} (limit {limit} characters)", file=err)
        return 2
    if button is not None and button not in BUTTON_FLOWS:
        print(f"peduli announce: --button is one of {', '.join(BUTTON_FLOWS)}", file=err)
        return 2
    engine = _open(settings, err)
    if engine is None:
        return 2
    try:
        writer = immediate(engine)
        actor = Actor.cli()
        try:
            with Session(writer) as session, session.begin():
                row = announcements.create(
                    session,
                    actor,
                    body=body,
                    audience=audience,
                    agencies=agencies or None,
                    media_kind=media_kind,
                    media_file_id=media_id,
                    button=button,
                    now=utc_now(),
                )
                count = announcements.count_for(session, row)
                announcement_id = row.id
                shown = render_announcement(content_of(row), None)
        except AnnouncementError as error:
            print(f"peduli announce: {REFUSALS.get(error.reason, error.reason)}", file=err)
            return 2
        assert announcement_id is not None
        print(f"Announcement #{announcement_id} to {count} people ({audience}).", file=out)
        if media_kind:
            print(f"[{media_kind} {media_id}]", file=out)
        print("-" * 40, file=out)
        print(shown.text, file=out)
        for row_buttons in shown.inline_keyboard:
            print("  ".join(f"[ {label} ]" for label, _data in row_buttons), file=out)
        print("-" * 40, file=out)
        if not yes:
            print(f"Send to {count} people? [y/N] ", end="", file=out, flush=True)
            if given.readline().strip().lower() not in ("y", "ya", "yes"):
                with Session(writer) as session, session.begin():
                    announcements.cancel(session, actor, announcement_id, utc_now())
                print("Not sent.", file=out)
                return 1
        try:
            with Session(writer) as session, session.begin():
                queued = announcements.submit(
                    session,
                    actor,
                    announcement_id,
                    utc_now(),
                    threshold=settings.announcement_approval_threshold,
                )
                status, recipients = queued.status, queued.recipients or 0
        except AnnouncementError as error:
            print(f"peduli announce: {REFUSALS.get(error.reason, error.reason)}", file=err)
            return 2
        if status == "awaiting_approval":
            print(
                f"#{announcement_id}: {recipients} people is over the approval threshold"
                f" ({settings.announcement_approval_threshold}): it waits for a"
                " superadmin's approval (the running bot asks the superadmins in Telegram).",
                file=out,
            )
            return 0
        print(f"#{announcement_id} queued for {recipients} people.", file=out)
        if wait:
            _follow(AnnouncementStore(writer, utc_now), announcement_id, interval, err)
        return 0
    finally:
        engine.dispose()


def _bar(progress: Progress) -> str:
    total = max(progress.recipients, 1)
    filled = round(BAR_WIDTH * progress.finished / total)
    return (
        f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.finished}/{progress.recipients}"
        f" sent {progress.sent} failed {progress.failed} blocked {progress.blocked}"
        f" skipped {progress.skipped} unknown {progress.unknown} ({progress.status})"
    )


def _follow(
    store: AnnouncementStore,
    announcement_id: int,
    interval: float,
    err: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Redraw the bar until every row has an outcome (a running bot's engine sends them)."""
    while True:
        store.finish_if_done(announcement_id)
        progress = store.progress(announcement_id)
        print(_bar(progress), end="", file=err, flush=True)
        if progress.pending == 0 or progress.status in ("done", "cancelled"):
            print("", file=err)
            return progress
        sleep(interval)


def manage(
    action: str,
    announcement_id: int,
    *,
    csv_file: Path | None = None,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """status, pause, resume, cancel, report of one announcement."""
    settings = settings or Settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if action == "report" and csv_file is None:
        print("peduli announce report: give --csv FILE", file=err)
        return 2
    engine = _open(settings, err)
    if engine is None:
        return 2
    try:
        writer = immediate(engine)
        store = AnnouncementStore(writer, utc_now)
        actor = Actor.cli()
        try:
            if action in ("pause", "resume"):
                with Session(writer) as session, session.begin():
                    announcements.set_paused(
                        session, actor, announcement_id, action == "pause", utc_now()
                    )
            elif action == "cancel":
                with Session(writer) as session, session.begin():
                    cancelled = announcements.cancel(session, actor, announcement_id, utc_now())
                print(f"#{announcement_id}: {cancelled} messages not yet sent cancelled", file=out)
            store.finish_if_done(announcement_id)
            progress = store.progress(announcement_id)
        except AnnouncementError as error:
            print(f"peduli announce: {REFUSALS.get(error.reason, error.reason)}", file=err)
            return 2
        print(
            f"#{announcement_id} {progress.status}: recipients {progress.recipients},"
            f" sent {progress.sent}, failed {progress.failed}, blocked {progress.blocked},"
            f" skipped {progress.skipped}, unknown {progress.unknown},"
            f" cancelled {progress.cancelled}, pending {progress.pending}",
            file=out,
        )
        if action == "report" and csv_file is not None:
            failed = store.failures(announcement_id)
            csv_file.write_bytes(announcements.failures_csv(failed))
            print(f"{len(failed)} failures written to {csv_file}", file=out)
        return 0
    finally:
        engine.dispose()
