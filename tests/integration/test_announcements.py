"""Announcements in storage, on SQLite and PostgreSQL: each audience within the author's scope
(an operator never reaches past their agencies), people without a chat or who opted out left
out, everyone counted once; queueing writes one outbox row per recipient in one statement;
approval above the threshold, refused to the author; pause, resume and cancel change what the
(test-kit) sender sends; the progress counts and the failure report (no NIK, masked ids)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bot.storage import announcements, audit
from bot.storage.announcements import AnnouncementError, AnnouncementStore
from bot.storage.audit import Actor
from bot.storage.db import immediate
from bot.storage.models import AuditEntry, OutboxMessage
from flows.access import Role, Scope
from tests.integration.announcekit import NOW, Asn, fake_send, populate, recipients, worker_id

ADMIN, OTHER_ADMIN = 900, 901
SUPER = Actor(Scope.superadmin(), ADMIN)
OPERATOR = Actor(Scope(Role.OPERATOR, frozenset({"dinkes", "setda"})), 950)

A1 = Asn(101, "dinkes")
A2 = Asn(102, "dinkes", ("waiting_worker",))
A3 = Asn(103, "setda", ("confirmed",))
A4 = Asn(104, "disdik", ("active", "declined"))
A5 = Asn(105, "dinkes", chat=False)
A6 = Asn(106, "setda", opted_out=True)
A7 = Asn(107, "disdik", ("declined",))
W3, W4 = worker_id(A3, 0), worker_id(A4, 0)
# An ASN who is also the confirmed worker of A3: in "everyone" once.
A8 = Asn(W3, "setda")
PEOPLE = [A1, A2, A3, A4, A5, A6, A7, A8]


@pytest.fixture
def people(engine: Engine) -> Iterator[Engine]:
    populate(engine, PEOPLE)
    yield immediate(engine)


def count(engine: Engine, actor: Actor, audience: str, chosen: list[str] | None = None) -> int:
    with Session(engine) as session:
        return announcements.count_audience(session, actor.scope, audience, chosen)


def queue(
    engine: Engine,
    actor: Actor,
    audience: str,
    chosen: list[str] | None = None,
    threshold: int = 1000,
) -> int:
    with Session(engine) as session, session.begin():
        row = announcements.create(
            session, actor, body="<b>Halo</b>", audience=audience, agencies=chosen, now=NOW
        )
        assert row.id is not None
        announcements.submit(session, actor, row.id, NOW, threshold=threshold)
        return row.id


EXPECTED = {
    # audience: (superadmin's recipients, the dinkes+setda operator's)
    "all_asn": ({101, 102, 103, 104, 107, W3}, {101, 102, 103, W3}),
    "asn_without_worker": ({101, 107, W3}, {101, W3}),
    "sponsors_unconfirmed": ({102}, {102}),
    "confirmed_workers": ({W3, W4}, {W3}),
    "everyone": ({101, 102, 103, 104, 107, W3, W4}, {101, 102, 103, W3}),
}


@pytest.mark.parametrize("audience", sorted(EXPECTED))
def test_each_audience_within_scope(people: Engine, audience: str) -> None:
    for actor, expected in zip((SUPER, OPERATOR), EXPECTED[audience], strict=True):
        assert count(people, actor, audience) == len(expected), (audience, actor.scope)
        announcement = queue(people, actor, audience)
        assert recipients(people, announcement) == sorted(expected), (audience, actor.scope)


def test_chosen_agencies_are_cut_to_the_operators_scope(people: Engine) -> None:
    assert count(people, SUPER, "agency_asn", ["disdik"]) == 2
    assert count(people, OPERATOR, "agency_asn", ["disdik"]) == 0  # outside: nobody
    assert count(people, OPERATOR, "agency_asn", ["setda", "disdik"]) == 2  # 103, W3
    announcement = queue(people, OPERATOR, "agency_asn", ["setda", "disdik"])
    assert recipients(people, announcement) == [103, W3]
    with Session(people) as session:
        stored = announcements.get(session, announcement)
        assert stored.audience_agencies == "setda" and stored.scope == "dinkes,setda"
    with pytest.raises(AnnouncementError) as refused:
        queue(people, OPERATOR, "agency_asn", ["disdik"])
    assert refused.value.reason == announcements.EMPTY


def test_queueing_writes_one_announcement_row_per_recipient_and_audits(people: Engine) -> None:
    announcement = queue(people, SUPER, "everyone")
    with Session(people) as session:
        rows = session.execute(
            select(
                OutboxMessage.kind,
                OutboxMessage.priority,
                OutboxMessage.message,
                OutboxMessage.dedupe_key,
                OutboxMessage.recipient_user_id,
            ).where(OutboxMessage.announcement_id == announcement)
        ).all()
        row = announcements.get(session, announcement)
        entries = session.scalars(select(AuditEntry)).all()
    assert {(kind, priority, message) for kind, priority, message, _, _ in rows} == {
        ("announcement", 2, None)
    }
    assert {key for *_, key, _ in rows} == {
        f"announcement:{announcement}:{user}" for *_, user in rows
    }
    assert row.status == "sending" and row.recipients == len(rows) == 7 and row.queued_at
    assert [(e.action, e.channel, e.scope, e.row_count) for e in entries] == [
        ("announcement.queue", "telegram", "*", 7)
    ]


def test_opted_out_people_are_not_in_the_audience(people: Engine) -> None:
    before = count(people, SUPER, "all_asn")
    with Session(people) as session, session.begin():
        assert announcements.set_opt_out(session, 101, True, NOW)
    assert count(people, SUPER, "all_asn") == before - 1
    with Session(people) as session, session.begin():
        announcements.set_opt_out(session, 101, False, NOW)
    assert count(people, SUPER, "all_asn") == before


def test_large_audiences_need_a_second_superadmin(people: Engine) -> None:
    admins = frozenset({ADMIN, OTHER_ADMIN})
    announcement = queue(people, SUPER, "all_asn", threshold=5)  # 6 people > 5
    assert recipients(people, announcement) == []
    with Session(people) as session:
        assert announcements.get(session, announcement).status == "awaiting_approval"
    for actor, reason in (
        (SUPER, announcements.OWN_APPROVAL),
        (OPERATOR, announcements.NOT_SUPERADMIN),
    ):
        with pytest.raises(AnnouncementError) as refused, Session(people) as session:
            announcements.decide(session, actor, announcement, True, NOW, superadmins=admins)
        assert refused.value.reason == reason
    other = Actor(Scope.superadmin(), OTHER_ADMIN)
    with Session(people) as session, session.begin():
        row = announcements.decide(session, other, announcement, True, NOW, superadmins=admins)
        assert row.status == "sending" and row.approved_by_user_id == OTHER_ADMIN
    assert len(recipients(people, announcement)) == 6
    # At the threshold itself, no approval is needed.
    assert recipients(people, queue(people, SUPER, "all_asn", threshold=6))


def test_approvers_are_asked_until_an_ask_is_recorded(people: Engine) -> None:
    """The progress loop asks for every announcement waiting for approval whose ask is not
    recorded: from the command line, or from a chat turn that could not ask; once recorded
    (by the turn or the loop), never again."""
    store = announcements.AnnouncementStore(people, lambda: NOW)
    from_chat = queue(people, SUPER, "all_asn", threshold=1)  # Actor's channel: telegram
    from_cli = queue(people, Actor(Scope.superadmin(), ADMIN, audit.CLI), "all_asn", threshold=1)
    queue(people, SUPER, "all_asn")  # below the threshold: sending, nobody to ask
    assert sorted(row.id for row in store.unasked_approvals()) == [from_chat, from_cli]
    store.record_asked(from_chat, 1, audit.TELEGRAM)  # the author's turn asked
    assert [row.id for row in store.unasked_approvals()] == [from_cli]
    store.record_asked(from_cli, 1)
    assert store.unasked_approvals() == []


def test_a_rejected_announcement_sends_nothing(people: Engine) -> None:
    announcement = queue(people, SUPER, "all_asn", threshold=1)
    other = Actor(Scope.superadmin(), OTHER_ADMIN)
    with Session(people) as session, session.begin():
        row = announcements.decide(
            session, other, announcement, False, NOW, superadmins=frozenset({ADMIN, OTHER_ADMIN})
        )
        assert row.status == "cancelled"
    assert recipients(people, announcement) == []


def test_pause_resume_cancel_change_what_is_sent(people: Engine) -> None:
    announcement = queue(people, SUPER, "everyone")  # 7 people
    store = AnnouncementStore(people, lambda: NOW)
    assert len(fake_send(people, limit=2)) == 2
    with Session(people) as session, session.begin():
        announcements.set_paused(session, SUPER, announcement, True, NOW)
    assert fake_send(people) == []  # paused: held
    assert store.progress(announcement).pending == 5
    with Session(people) as session, session.begin():
        announcements.set_paused(session, SUPER, announcement, False, NOW)
    assert len(fake_send(people, limit=1)) == 1
    with Session(people) as session, session.begin():
        assert announcements.cancel(session, SUPER, announcement, NOW) == 4
    assert fake_send(people) == []
    progress = store.progress(announcement)
    assert (progress.status, progress.sent, progress.cancelled, progress.pending) == (
        "cancelled",
        3,
        4,
        0,
    )
    with pytest.raises(AnnouncementError), Session(people) as session:
        announcements.set_paused(session, SUPER, announcement, False, NOW)  # not paused
    # An operator may not steer a superadmin's announcement.
    with pytest.raises(AnnouncementError) as refused, Session(people) as session:
        announcements.cancel(session, OPERATOR, announcement, NOW)
    assert refused.value.reason == announcements.UNKNOWN


def test_progress_done_and_the_failure_report(people: Engine) -> None:
    announcement = queue(people, SUPER, "all_asn")
    store = AnnouncementStore(people, lambda: NOW)
    outcomes = {101: "blocked", 102: "failed"}
    fake_send(people, outcome_of=lambda user: outcomes.get(user, "sent"))
    assert store.finish_all() == 1
    progress = store.progress(announcement)
    assert (progress.status, progress.sent, progress.blocked, progress.failed) == (
        "done",
        4,
        1,
        1,
    )
    report = announcements.failures_csv(store.failures(announcement)).decode()
    lines = report.splitlines()
    assert lines[0] == "row,recipient,outcome,error"
    assert [line.split(",")[1:3] for line in lines[1:]] == [["**1", "blocked"], ["**2", "failed"]]
    assert ",101," not in report and ",102," not in report  # ids masked
    assert announcements.pseudonym(1234567890) == "*******890"


def test_ten_thousand_recipients_queue_in_one_statement(engine: Engine) -> None:
    populate(engine, [Asn(10_000 + n, "dinkes") for n in range(10_000)])
    writer = immediate(engine)
    statements: list[str] = []

    from sqlalchemy import event

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "outbox" in statement.lower() and statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    event.listen(writer, "before_cursor_execute", seen)
    try:
        announcement = queue(writer, SUPER, "all_asn", threshold=20_000)
    finally:
        event.remove(writer, "before_cursor_execute", seen)
    assert len(statements) == 1  # one INSERT ... SELECT, not a row at a time
    with Session(engine) as session:
        total = session.scalar(
            select(func.count()).where(OutboxMessage.announcement_id == announcement)
        )
        distinct = session.execute(
            text("SELECT COUNT(DISTINCT recipient_user_id) FROM outbox")
        ).scalar()
    assert total == distinct == 10_000


class RecordingTransport:
    """Records what the progress loop sends and edits (Transport's methods it uses)."""

    def __init__(self) -> None:
        self.edits: list[tuple[int, int, str]] = []
        self.sent: list[tuple[int, str]] = []
        self.documents: list[tuple[int, bytes, str]] = []

    async def edit(self, chat_id: int, message_id: int, message: Any) -> None:
        self.edits.append((chat_id, message_id, message.text))

    async def send(self, chat_id: int, message: Any) -> int:
        self.sent.append((chat_id, message.text))
        return 1

    async def send_document(self, chat_id: int, data: bytes, filename: str, caption: str) -> int:
        self.documents.append((chat_id, data, filename))
        return 2


async def test_the_progress_loop_edits_only_changes_then_reports_once(people: Engine) -> None:
    from bot.announcements import ProgressReporter

    announcement = queue(people, SUPER, "all_asn")  # 6 people
    store = AnnouncementStore(people, lambda: NOW)
    store.set_progress_message(announcement, 900, 55)
    transport = RecordingTransport()
    reporter = ProgressReporter(store, transport)  # type: ignore[arg-type]
    assert await reporter.tick() == 1
    assert await reporter.tick() == 0  # nothing changed: no edit ("message is not modified")
    fake_send(people, limit=2)
    assert await reporter.tick() == 1
    assert "Terkirim 2 dari 6" in transport.edits[-1][2]
    fake_send(people, outcome_of=lambda user: "blocked" if user == 107 else "sent")
    assert await reporter.tick() == 1
    assert "selesai" in transport.edits[-1][2]
    assert [text.splitlines()[0] for _, text in transport.sent] == [
        f"📊 <b>Laporan pengumuman #{announcement}</b>"
    ]
    assert transport.documents[0][2] == f"pengumuman-{announcement}-gagal.csv"
    assert b"**7,blocked" in transport.documents[0][1]
    assert await reporter.tick() == 0 and len(transport.sent) == 1  # reported once
    assert store.progress(announcement).status == "done"


async def test_two_progress_loops_report_once(people: Engine) -> None:
    """Two bot processes each run the loop: both may read the finished announcement as tracked,
    only the one that releases its progress message reports."""
    from bot.announcements import ProgressReporter

    announcement = queue(people, SUPER, "all_asn")
    store = AnnouncementStore(people, lambda: NOW)
    store.set_progress_message(announcement, 900, 55)
    fake_send(people)
    tracked = store.tracked()  # what the slower process read before the faster one reported
    first, second = RecordingTransport(), RecordingTransport()
    await ProgressReporter(store, first).tick()  # type: ignore[arg-type]
    slower = ProgressReporter(store, second)  # type: ignore[arg-type]
    slower.store = type(  # type: ignore[assignment]
        "Stale", (), {"__getattr__": lambda self, name: getattr(store, name)}
    )()
    slower.store.tracked = lambda: tracked  # type: ignore[attr-defined]
    await slower.tick()
    assert len(first.sent) == 1 and second.sent == []
