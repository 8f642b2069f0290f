"""Repository, the worker's side (issue 3): invitations, the worker's decision, rights, coverage,
the admin queue and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bot import notifications
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.delivery_store import Delivery, Mark, backoff
from bot.storage.repository import (
    REQUEST_DUE,
    CoverageCheck,
    Repository,
    WorkerSponsorshipView,
    hash_token,
)
from flows.commands import (
    ActivateCoverage,
    Applied,
    FailVerification,
    InvitationOpened,
    OpenInvitation,
    RecordInPersonConsent,
    Refused,
    RequestCorrection,
    ResolveRequest,
    SetLanguage,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.text import Raw, from_json, t
from tests.clock import MovableClock
from tests.integration.test_storage_repository import (
    NIK,
    SEALER,
    WORKER_PHONE,
    register,
    submit,
    text_hash,
)
from tests.notify import notify
from tests.unit.flowkit import PROGRAMME

SPONSOR = 1
WORKER = 2
STRANGER = 3
OTHER_SPONSOR = 4
ADMIN = 900
KPJ = "12345678901"
START = date(2026, 5, 1)
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ADMINS_TOLD = f"requests-waiting:2026-03-10T02:admin:{ADMIN}"  # one notice per admin per hour
NEXT_MONTH = date(2026, 4, 1)
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def repo(engine: Engine, clock: MovableClock) -> Repository:
    return Repository(engine, SEALER, notify=notify, clock=clock, admin_ids=frozenset({ADMIN}))


# ---- helpers -----------------------------------------------------------------------------------


def apply(repo: Repository, user_id: int | None, *commands: object) -> list[object]:
    return list(repo.apply(user_id, commands, consent_text_hash=text_hash))  # type: ignore[arg-type]


def one(repo: Repository, user_id: int | None, command: object) -> object:
    [outcome] = apply(repo, user_id, command)
    return outcome


def sponsor_submits(repo: Repository, key: str = "draft-1", nik: str = NIK) -> tuple[str, str]:
    apply(repo, SPONSOR, SetLanguage(SPONSOR, "id"), register(SPONSOR))
    outcome = one(repo, SPONSOR, submit(SPONSOR, key, nik=nik))
    assert isinstance(outcome, Applied)
    assert outcome.reference is not None and outcome.invitation_token is not None
    return outcome.reference, outcome.invitation_token


def worker_opens(repo: Repository, token: str, user_id: int = WORKER) -> object:
    return one(repo, user_id, OpenInvitation(user_id, token))


def worker_consent(reference: str, user_id: int = WORKER) -> WorkerConsents:
    return WorkerConsents(
        user_id=user_id,
        reference=reference,
        statement=t("worker.consent_statement"),
        text_version="2026-03",
        message_id=55,
        given_at=T0,
    )


def in_person(reference: str, user_id: int = SPONSOR) -> RecordInPersonConsent:
    return RecordInPersonConsent(
        user_id=user_id,
        reference=reference,
        statement=t("worker.in_person_statement"),
        text_version="2026-03",
        message_id=66,
        given_at=T0,
    )


def withdraw(reference: str, user_id: int, subject: str) -> WithdrawConsent:
    return WithdrawConsent(
        user_id=user_id,
        reference=reference,
        subject=subject,  # type: ignore[arg-type]
        message_id=77,
        at=T0,
        effective_month=NEXT_MONTH,
    )


def correction(reference: str | None, user_id: int, subject: str) -> RequestCorrection:
    return RequestCorrection(
        user_id=user_id,
        reference=reference,
        subject=subject,  # type: ignore[arg-type]
        details=f"tanggal lahir salah, NIK {NIK}",
        at=T0,
    )


def activate(reference: str, kpj: str = KPJ, actor: int | None = None) -> ActivateCoverage:
    return ActivateCoverage(
        reference=reference, kpj_number=kpj, coverage_start=START, actor_user_id=actor
    )


def confirmed(repo: Repository) -> str:
    reference, token = sponsor_submits(repo)
    assert isinstance(worker_opens(repo, token), InvitationOpened)
    assert one(repo, WORKER, worker_consent(reference)) == Applied(reference)
    return reference


def rows(engine: Engine, sql: str, **params: object) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]


def sponsorship(engine: Engine) -> dict[str, object]:
    [row] = rows(engine, "SELECT * FROM sponsorships")
    return row


def outbox(engine: Engine) -> list[tuple[str, int]]:
    return [
        (str(row["dedupe_key"]), int(row["recipient_user_id"]))  # type: ignore[call-overload]
        for row in rows(engine, "SELECT * FROM outbox ORDER BY id")
    ]


def messages(engine: Engine) -> dict[int, list[object]]:
    """Notifications still to deliver by recipient, as the Text the bot will render. Read
    straight from the table: claiming them (repo.delivery.claim) would change the rows."""
    found: dict[int, list[object]] = {}
    for row in rows(
        engine,
        "SELECT recipient_user_id, message FROM outbox"
        " WHERE sent_at IS NULL AND gave_up_at IS NULL ORDER BY id",
    ):
        document = json.loads(SEALER.open(str(row["message"])))
        recipient = int(str(row["recipient_user_id"]))
        found.setdefault(recipient, []).append(from_json(document))
    return found


def consents(engine: Engine) -> list[dict[str, object]]:
    return rows(engine, "SELECT * FROM consents ORDER BY id")


# ---- invitations -------------------------------------------------------------------------------


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For checks of pure logic: the database adds nothing there, and the suite stays fast."""


def test_submit_issues_an_invitation_whose_token_is_not_stored(
    repo: Repository, engine: Engine
) -> None:
    reference, token = sponsor_submits(repo)
    assert TOKEN_PATTERN.match(token) and len("w_" + token) <= 64
    [invitation] = rows(engine, "SELECT * FROM invitations")
    assert invitation["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert invitation["token_hash"] == hash_token(token)
    assert invitation["failed_attempts"] == 0
    assert invitation["opened_by_user_id"] is None
    with engine.connect() as connection:
        dump = repr(connection.execute(sa.text("SELECT * FROM invitations")).all())
    assert token not in dump
    assert sponsorship(engine)["status"] == "waiting_worker"
    assert reference.startswith("PR-")


@SQLITE_ONLY
def test_new_token_must_fit_a_start_parameter(engine: Engine) -> None:
    repo = Repository(engine, SEALER, notify=notify, new_token=lambda: "x" * 63)
    apply(repo, SPONSOR, register(SPONSOR))
    with pytest.raises(ValueError, match="new_token"):
        apply(repo, SPONSOR, submit(SPONSOR, "draft-1"))
    assert repo.sponsorships_of(SPONSOR) == []


def test_replayed_submit_replaces_the_unopened_link(repo: Repository, engine: Engine) -> None:
    reference, first = sponsor_submits(repo)
    again = one(repo, SPONSOR, submit(SPONSOR, "draft-1"))
    assert isinstance(again, Applied) and again.reference == reference
    second = again.invitation_token
    assert second is not None and second != first
    assert worker_opens(repo, first) == Refused("invitation_expired")
    assert isinstance(worker_opens(repo, second), InvitationOpened)
    # A link already opened by the worker is not taken away by a third press.
    third = one(repo, SPONSOR, submit(SPONSOR, "draft-1"))
    assert isinstance(third, Applied) and third.invitation_token not in (None, first, second)
    assert isinstance(worker_opens(repo, second), InvitationOpened)
    assert len(rows(engine, "SELECT id FROM invitations")) == 3
    assert len(rows(engine, "SELECT id FROM sponsorships")) == 1
    # Once the worker decided there is no new link to give.
    assert one(repo, WORKER, worker_consent(reference)) == Applied(reference)
    assert one(repo, SPONSOR, submit(SPONSOR, "draft-1")) == Applied(reference)


def test_opening_a_link_claims_nothing_the_verified_workers_decision_binds_it(
    repo: Repository, engine: Engine
) -> None:
    """Issue 6, item 10: whoever opens a forwarded link first must not lock the worker out."""
    reference, token = sponsor_submits(repo)
    opened = worker_opens(repo, token)
    assert isinstance(opened, InvitationOpened)
    details = opened.details
    assert details.reference == reference
    assert (details.sponsor_user_id, details.sponsor_name, details.agency_code) == (
        SPONSOR,
        "Budi Santoso",
        "32.05.DINKES",
    )
    assert (details.worker_name, details.nik_masked, details.nik_last4) == (
        "Siti Aminah",
        "3205********0001",
        "0001",
    )
    assert details.birth_date == date(1990, 1, 5)  # day 45: a woman born on the 5th
    assert (details.job, details.job_other) == ("art", None)
    assert details.phone_masked == "+62857****2222"
    assert (details.district_name, details.village_name) == ("Garut Kota", "Sukamentri")
    assert (details.programme_code, details.monthly_amount, details.status) == (
        "bpu-jkk-jkm",
        16800,
        "waiting_worker",
    )
    # Opening records the opener and binds nothing: another account (the stranger the link
    # reached first, say) may open it too, and the worker after it.
    assert rows(engine, "SELECT opened_by_user_id FROM invitations") == [
        {"opened_by_user_id": None}
    ]
    assert isinstance(worker_opens(repo, token, STRANGER), InvitationOpened)
    assert worker_opens(repo, token) == opened
    assert one(repo, SPONSOR, OpenInvitation(SPONSOR, token)) == Refused("own_invitation")
    assert worker_opens(repo, "no-such-token-at-all") == Refused("invitation_unknown")
    assert rows(engine, "SELECT user_id FROM invitation_openers ORDER BY user_id") == [
        {"user_id": WORKER},
        {"user_id": STRANGER},
    ]
    # An account that never opened the link cannot decide with it.
    assert one(repo, SPONSOR + 100, worker_consent(reference, SPONSOR + 100)) == Refused(
        "not_allowed"
    )
    # The worker's decision (reached after the identity check) binds the link to them; nobody
    # else may open or use it afterwards.
    assert one(repo, WORKER, worker_consent(reference)) == Applied(reference)
    assert rows(engine, "SELECT opened_by_user_id FROM invitations") == [
        {"opened_by_user_id": WORKER}
    ]
    assert worker_opens(repo, token, STRANGER) == Refused("invitation_used")
    assert one(repo, STRANGER, worker_consent(reference, STRANGER)) != Applied(reference)


@SQLITE_ONLY
def test_the_sponsor_opening_their_own_link_does_not_bind_it(repo: Repository) -> None:
    _reference, token = sponsor_submits(repo)
    assert one(repo, SPONSOR, OpenInvitation(SPONSOR, token)) == Refused("own_invitation")
    assert isinstance(worker_opens(repo, token), InvitationOpened)


def test_invitation_expires(engine: Engine, clock: MovableClock) -> None:
    repo = Repository(engine, SEALER, notify=notify, clock=clock, invitation_ttl=timedelta(days=3))
    reference, token = sponsor_submits(repo)
    clock.advance(days=3, seconds=-1)
    assert isinstance(worker_opens(repo, token), InvitationOpened)
    clock.advance(seconds=1)
    assert worker_opens(repo, token) == Refused("invitation_expired")
    assert one(repo, WORKER, worker_consent(reference)) == Refused("invitation_expired")
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Refused("invitation_expired")
    assert sponsorship(engine)["status"] == "waiting_worker"


@SQLITE_ONLY
def test_invitation_of_a_closed_sponsorship_is_used(repo: Repository) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, SPONSOR, withdraw(reference, SPONSOR, "sponsor")) == Applied(reference)
    assert worker_opens(repo, token) == Refused("invitation_used")


def test_two_accounts_racing_for_one_link(database_url: str) -> None:
    """Both may open it; of two decisions racing, exactly one takes the link."""
    engines = [create_db_engine(database_url) for _ in range(2)]
    repos = [Repository(e, SEALER, notify=notify) for e in engines]
    try:
        reference, token = sponsor_submits(repos[0])
        barrier = threading.Barrier(2)

        def race(user_id: int) -> object:
            barrier.wait(timeout=30)
            return worker_opens(repos[user_id % 2], token, user_id)

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(race, [10, 11]))
        assert [type(outcome).__name__ for outcome in outcomes] == ["InvitationOpened"] * 2

        def decide(user_id: int) -> object:
            barrier.wait(timeout=30)
            return one(repos[user_id % 2], user_id, worker_consent(reference, user_id))

        with ThreadPoolExecutor(max_workers=2) as pool:
            decisions = list(pool.map(decide, [10, 11]))
        assert decisions.count(Applied(reference)) == 1, decisions
    finally:
        for engine in engines:
            engine.dispose()


# ---- verification ------------------------------------------------------------------------------


def test_three_failed_verifications_lock_the_link(repo: Repository, engine: Engine) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Refused("not_allowed")
    worker_opens(repo, token)
    assert one(repo, STRANGER, FailVerification(STRANGER, reference)) == Refused("not_allowed")
    assert one(repo, WORKER, FailVerification(WORKER, "PR-NOPE22")) == Refused("unknown_reference")
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Applied(
        reference, attempts_left=2
    )
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Applied(
        reference, attempts_left=1
    )
    assert outbox(engine) == []
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Refused("invitation_locked")
    [invitation] = rows(engine, "SELECT * FROM invitations")
    assert invitation["failed_attempts"] == 3 and invitation["locked_at"] is not None
    [(key, recipient)] = outbox(engine)
    assert (key, recipient) == (f"invitation_locked:{invitation['id']}", SPONSOR)
    assert messages(engine) == {
        SPONSOR: [notifications.invitation_locked("Siti Aminah", reference)]
    }
    # Locked for good: no more tries, no decision, no second notification.
    assert one(repo, WORKER, FailVerification(WORKER, reference)) == Refused("invitation_locked")
    assert worker_opens(repo, token) == Refused("invitation_locked")
    assert one(repo, WORKER, worker_consent(reference)) == Refused("invitation_locked")
    assert one(repo, WORKER, WorkerDeclines(WORKER, reference, None, T0)) == Refused(
        "invitation_locked"
    )
    assert len(outbox(engine)) == 1
    assert sponsorship(engine)["status"] == "waiting_worker"


# ---- the worker's decision ---------------------------------------------------------------------


def test_worker_consents(repo: Repository, engine: Engine) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, WORKER, worker_consent(reference)) == Refused("not_allowed")
    worker_opens(repo, token)
    assert one(repo, STRANGER, worker_consent(reference, STRANGER)) == Refused("not_allowed")
    assert one(repo, WORKER, worker_consent("PR-NOPE22")) == Refused("unknown_reference")
    seen: list[object] = []

    def recording_hash(consent: object) -> str:
        seen.append(consent)
        return text_hash(consent)  # type: ignore[arg-type]

    outcomes = repo.apply(WORKER, [worker_consent(reference)], consent_text_hash=recording_hash)
    assert outcomes == [Applied(reference)]
    assert seen == [worker_consent(reference)]
    row = sponsorship(engine)
    assert (row["status"], row["worker_user_id"]) == ("confirmed", WORKER)
    worker_row = consents(engine)[-1]
    assert {k: worker_row[k] for k in ("subject", "subject_user_id", "kind", "action")} == {
        "subject": "worker",
        "subject_user_id": WORKER,
        "kind": "worker_data",
        "action": "given",
    }
    assert (worker_row["channel"], worker_row["recorded_by_user_id"]) == ("telegram", WORKER)
    assert (worker_row["text_key"], worker_row["text_version"]) == (
        "worker.consent_statement",
        "2026-03",
    )
    assert worker_row["text_hash"] == text_hash(worker_consent(reference))  # type: ignore[arg-type]
    assert (worker_row["amount"], worker_row["message_id"]) == (16800, 55)
    assert outbox(engine) == [(f"worker_confirmed:{reference}", SPONSOR)]
    assert messages(engine) == {SPONSOR: [notifications.worker_confirmed("Siti Aminah", reference)]}
    # The link is used up; a second press changes nothing.
    assert one(repo, WORKER, worker_consent(reference)) == Refused("invitation_used")
    assert worker_opens(repo, token) == Refused("invitation_used")
    assert len(outbox(engine)) == 1
    [view] = repo.sponsorships_of(SPONSOR)
    assert (view.status, view.worker_linked, view.consent_channel) == (
        "confirmed",
        True,
        "telegram",
    )
    assert repo.worker_sponsorships(WORKER) == [
        WorkerSponsorshipView(
            reference=reference,
            sponsor_name="Budi Santoso",
            agency_code="32.05.DINKES",
            programme_code="bpu-jkk-jkm",
            monthly_amount=16800,
            status="confirmed",
            coverage_start=None,
            kpj_masked=None,
        )
    ]
    assert repo.worker_sponsorships(STRANGER) == []


@SQLITE_ONLY
def test_consent_needs_the_hash_callback(repo: Repository) -> None:
    reference, token = sponsor_submits(repo)
    worker_opens(repo, token)
    with pytest.raises(ValueError, match="consent_text_hash"):
        repo.apply(WORKER, [worker_consent(reference)])
    with pytest.raises(ValueError, match="sha256"):
        repo.apply(WORKER, [worker_consent(reference)], consent_text_hash=lambda _: "nope")
    assert repo.sponsorships_of(SPONSOR)[0].status == "waiting_worker"


def test_worker_declines_and_is_erased(repo: Repository, engine: Engine) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, WORKER, WorkerDeclines(WORKER, reference, 9, T0)) == Refused("not_allowed")
    worker_opens(repo, token)
    assert one(repo, WORKER, WorkerDeclines(WORKER, reference, 9, T0)) == Applied(reference)
    row = sponsorship(engine)
    assert row["status"] == "declined" and row["erased_at"] is not None
    for column in (
        "worker_full_name",
        "nik_sealed",
        "nik_index",
        "nik_masked",
        "active_nik_index",
        "worker_phone_sealed",
        "worker_phone_masked",
        "village_name",
        "village_code",
        "worker_user_id",
    ):
        assert row[column] is None, column
    # Erasure keeps who the worker was to the sponsor and the job, for anonymous counts.
    assert (row["worker_relationship"], row["worker_job"]) == ("rumah_tangga", "art")
    assert (row["district_code"], row["monthly_amount"]) == (
        "32.05.01",
        16800,
    )
    declined = consents(engine)[-1]
    assert (declined["subject"], declined["kind"], declined["action"]) == (
        "worker",
        "worker_data",
        "declined",
    )
    assert (declined["text_key"], declined["subject_user_id"]) == ("worker.decline", WORKER)
    assert len(consents(engine)) == 2  # the sponsor's consent is kept too
    assert outbox(engine) == [(f"worker_declined:{reference}", SPONSOR)]
    assert messages(engine) == {SPONSOR: [notifications.worker_declined(reference)]}
    [view] = repo.sponsorships_of(SPONSOR)
    assert (view.worker_full_name, view.nik_masked, view.status) == (None, None, "declined")
    assert repo.reveal_nik(reference) is None
    assert one(repo, WORKER, WorkerDeclines(WORKER, reference, 9, T0)) == Refused("invitation_used")
    # The worker may be sponsored again, by anyone.
    apply(repo, OTHER_SPONSOR, register(OTHER_SPONSOR, nip="199001012015032002"))
    assert isinstance(one(repo, OTHER_SPONSOR, submit(OTHER_SPONSOR, "other")), Applied)


def test_the_sponsors_words_for_the_workers_job_are_erased_with_the_worker(
    repo: Repository, engine: Engine
) -> None:
    """A job "lainnya" is described in the sponsor's own words ("jaga warung Bu Imas"), which
    can point at the worker: erased with the name and NIK. The job's code stays, anonymous."""
    apply(repo, SPONSOR, SetLanguage(SPONSOR, "id"), register(SPONSOR))
    command = submit(SPONSOR, "draft-1")
    worker = replace(command.worker, job="lainnya", job_other="jaga warung Bu Imas")
    outcome = one(repo, SPONSOR, replace(command, worker=worker))
    assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
    assert sponsorship(engine)["worker_job_other"] == "jaga warung Bu Imas"
    worker_opens(repo, outcome.invitation_token)
    declined = WorkerDeclines(WORKER, outcome.reference, 9, T0)
    assert one(repo, WORKER, declined) == Applied(outcome.reference)
    row = sponsorship(engine)
    assert (row["worker_job"], row["worker_job_other"]) == ("lainnya", None)


# ---- correction requests and the admin queue ---------------------------------------------------


def test_worker_asks_for_a_correction(
    repo: Repository, engine: Engine, clock: MovableClock
) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Refused("not_allowed")
    worker_opens(repo, token)
    assert one(repo, WORKER, correction("PR-NOPE22", WORKER, "worker")) == Refused(
        "unknown_reference"
    )
    assert one(repo, WORKER, correction(None, WORKER, "worker")) == Refused("unknown_reference")
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Applied(reference)
    [request] = rows(engine, "SELECT * FROM requests")
    assert (request["kind"], request["subject"], request["requester_user_id"]) == (
        "correction",
        "worker",
        WORKER,
    )
    assert NIK not in str(request["details_sealed"])
    assert SEALER.open(str(request["details_sealed"])) == correction(None, 1, "worker").details
    # The request was the worker's decision: the link is used up.
    assert one(repo, WORKER, worker_consent(reference)) == Refused("invitation_used")
    assert sponsorship(engine)["status"] == "waiting_worker"
    assert sorted(outbox(engine)) == sorted(
        [
            (f"correction:{request['id']}:sponsor", SPONSOR),
            (ADMINS_TOLD, ADMIN),
        ]
    )
    expected = notifications.correction_requested(reference, "worker")
    assert messages(engine) == {SPONSOR: [expected], ADMIN: [notifications.requests_waiting()]}
    [queued] = repo.open_requests()
    assert (queued.reference, queued.subject, queued.kind) == (reference, "worker", "correction")
    assert queued.details == correction(None, 1, "worker").details
    assert queued.due_at - queued.created_at == REQUEST_DUE == timedelta(hours=72)
    assert queued.created_at == T0 and not queued.overdue
    clock.advance(hours=72, seconds=1)
    assert repo.open_requests()[0].overdue


def test_sponsor_asks_for_a_correction(repo: Repository, engine: Engine) -> None:
    reference, _token = sponsor_submits(repo)
    assert one(repo, STRANGER, correction(None, STRANGER, "sponsor")) == Refused("not_registered")
    assert one(repo, STRANGER, correction(reference, STRANGER, "sponsor")) == Refused("not_allowed")
    assert one(repo, SPONSOR, correction("PR-NOPE22", SPONSOR, "sponsor")) == Refused(
        "unknown_reference"
    )
    assert one(repo, SPONSOR, correction(reference, SPONSOR, "sponsor")) == Applied(reference)
    assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Applied(None)
    # Only the admins are told, once for both (within the hour); the sponsor knows what they asked.
    assert outbox(engine) == [(ADMINS_TOLD, ADMIN)]
    queue = repo.open_requests()
    assert [(r.reference, r.subject, r.requester_user_id) for r in queue] == [
        (reference, "sponsor", SPONSOR),
        (None, "sponsor", SPONSOR),
    ]


@SQLITE_ONLY
def test_linked_worker_may_ask_for_a_correction_later(repo: Repository, engine: Engine) -> None:
    reference = confirmed(repo)
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Applied(reference)
    assert len(repo.open_requests()) == 1


def test_resolve_request(repo: Repository, engine: Engine) -> None:
    reference, _token = sponsor_submits(repo)
    one(repo, SPONSOR, correction(reference, SPONSOR, "sponsor"))
    [request] = repo.open_requests()
    resolve = ResolveRequest(ADMIN, request.id, T0)
    assert one(repo, SPONSOR, ResolveRequest(SPONSOR, request.id, T0)) == Refused("not_allowed")
    assert one(repo, ADMIN, ResolveRequest(ADMIN, 9999, T0)) == Refused("unknown_reference")
    assert one(repo, ADMIN, resolve) == Applied(reference)
    assert one(repo, ADMIN, resolve) == Refused("wrong_state")
    assert repo.open_requests() == []
    [row] = rows(engine, "SELECT * FROM requests")
    assert row["resolved_by_user_id"] == ADMIN and row["resolved_at"] is not None


# ---- in-person consent -------------------------------------------------------------------------


def test_sponsor_records_in_person_consent(repo: Repository, engine: Engine) -> None:
    reference, token = sponsor_submits(repo)
    apply(repo, OTHER_SPONSOR, register(OTHER_SPONSOR, nip="199001012015032002"))
    assert one(repo, OTHER_SPONSOR, in_person(reference, OTHER_SPONSOR)) == Refused("not_allowed")
    assert one(repo, SPONSOR, in_person("PR-NOPE22")) == Refused("unknown_reference")
    assert one(repo, SPONSOR, in_person(reference)) == Applied(reference)
    assert one(repo, SPONSOR, in_person(reference)) == Refused("wrong_state")
    row = sponsorship(engine)
    assert (row["status"], row["worker_user_id"]) == ("confirmed", None)
    record = consents(engine)[-1]
    assert (record["subject"], record["subject_user_id"], record["recorded_by_user_id"]) == (
        "worker",
        None,
        SPONSOR,
    )
    assert (record["kind"], record["action"], record["channel"]) == (
        "worker_data",
        "given",
        "in_person",
    )
    assert record["text_hash"] == text_hash(in_person(reference))  # type: ignore[arg-type]
    # Admins (and the sponsor's /status) can tell the two kinds of consent apart.
    [view] = repo.sponsorships_of(SPONSOR)
    assert (view.consent_channel, view.worker_linked) == ("in_person", False)
    assert worker_opens(repo, token) == Refused("invitation_used")
    assert outbox(engine) == []


# ---- withdrawal --------------------------------------------------------------------------------


def test_worker_withdraws_and_is_erased(repo: Repository, engine: Engine) -> None:
    reference = confirmed(repo)
    assert one(repo, ADMIN, activate(reference, actor=ADMIN)) == Applied(reference)
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Applied(reference)
    assert len(repo.open_requests()) == 1
    # confirmed, coverage x 2, correction x 2 (sponsor, admin): about to be erased
    assert len(outbox(engine)) == 5
    assert one(repo, SPONSOR, withdraw(reference, SPONSOR, "worker")) == Refused("not_allowed")
    assert one(repo, STRANGER, withdraw(reference, STRANGER, "worker")) == Refused("not_allowed")
    assert one(repo, WORKER, withdraw("PR-NOPE22", WORKER, "worker")) == Refused(
        "unknown_reference"
    )
    assert one(repo, WORKER, withdraw(reference, WORKER, "worker")) == Applied(reference)
    row = sponsorship(engine)
    assert (row["status"], row["withdrawn_by"]) == ("withdrawn", "worker")
    assert row["withdrawal_effective_month"] in (NEXT_MONTH, NEXT_MONTH.isoformat())
    for column in ("worker_full_name", "nik_sealed", "nik_masked", "kpj_sealed", "kpj_masked"):
        assert row[column] is None, column
    assert row["active_nik_index"] is None and row["erased_at"] is not None
    records = consents(engine)
    assert [(r["subject"], r["kind"], r["action"]) for r in records] == [
        ("sponsor", "salary_deduction", "given"),
        ("worker", "worker_data", "given"),
        ("worker", "worker_data", "withdrawn"),
    ]
    # The withdrawal names the consent it ends.
    assert records[2]["text_hash"] == records[1]["text_hash"]
    assert records[2]["text_version"] == "2026-03"
    # What names the worker is gone; the admins' "requests waiting" notice names no one.
    assert outbox(engine) == [(ADMINS_TOLD, ADMIN), (f"worker_withdrew:{reference}", SPONSOR)]
    assert messages(engine) == {
        ADMIN: [notifications.requests_waiting()],
        SPONSOR: [notifications.worker_withdrew(reference)],
    }
    assert one(repo, WORKER, withdraw(reference, WORKER, "worker")) == Refused("wrong_state")
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Refused("wrong_state")
    assert repo.worker_sponsorships(WORKER)[0].status == "withdrawn"
    assert repo.reference_for_nik(NIK) is None
    # The request about the erased data is closed and its text erased too.
    assert repo.open_requests() == []
    [request] = rows(engine, "SELECT details_sealed, resolved_at FROM requests")
    assert request["details_sealed"] is None and request["resolved_at"] is not None


@SQLITE_ONLY
def test_worker_cannot_withdraw_before_consenting(repo: Repository) -> None:
    reference, token = sponsor_submits(repo)
    worker_opens(repo, token)
    assert one(repo, WORKER, withdraw(reference, WORKER, "worker")) == Refused("not_allowed")


@pytest.mark.parametrize("stage", ["waiting_worker", "confirmed", "active"])
def test_sponsor_withdraws(repo: Repository, engine: Engine, stage: str) -> None:
    if stage == "waiting_worker":
        reference, _token = sponsor_submits(repo)
    else:
        reference = confirmed(repo)
    if stage == "active":
        one(repo, None, activate(reference))
    before = outbox(engine)
    assert one(repo, STRANGER, withdraw(reference, STRANGER, "sponsor")) == Refused("not_allowed")
    assert one(repo, WORKER, withdraw(reference, WORKER, "sponsor")) == Refused("not_allowed")
    assert one(repo, SPONSOR, withdraw(reference, SPONSOR, "sponsor")) == Applied(reference)
    row = sponsorship(engine)
    assert (row["status"], row["withdrawn_by"], row["active_nik_index"]) == (
        "withdrawn",
        "sponsor",
        None,
    )
    assert row["worker_full_name"] == "Siti Aminah" and row["erased_at"] is None
    last = consents(engine)[-1]
    assert (last["subject"], last["kind"], last["action"], last["amount"]) == (
        "sponsor",
        "salary_deduction",
        "withdrawn",
        16800,
    )
    assert last["first_month"] in (NEXT_MONTH, NEXT_MONTH.isoformat())
    assert last["text_hash"] == consents(engine)[0]["text_hash"]
    [view] = repo.sponsorships_of(SPONSOR)
    assert (view.status, view.withdrawal_effective_month) == ("withdrawn", NEXT_MONTH)
    added = outbox(engine)[len(before) :]
    if stage == "waiting_worker":
        assert added == []
    else:
        assert added == [(f"sponsor_withdrew:{reference}", WORKER)]
        assert (
            notifications.sponsor_withdrew("Budi Santoso", NEXT_MONTH) in messages(engine)[WORKER]
        )
    assert one(repo, SPONSOR, withdraw(reference, SPONSOR, "sponsor")) == Refused("wrong_state")
    assert one(repo, SPONSOR, withdraw("PR-NOPE22", SPONSOR, "sponsor")) == Refused(
        "unknown_reference"
    )
    assert repo.reference_for_nik(NIK) is None  # the NIK is free again


# ---- coverage ----------------------------------------------------------------------------------


def test_activate_coverage(repo: Repository, engine: Engine) -> None:
    reference, token = sponsor_submits(repo)
    assert one(repo, SPONSOR, activate(reference, actor=SPONSOR)) == Refused("not_allowed")
    assert one(repo, None, activate("PR-NOPE22")) == Refused("unknown_reference")
    assert one(repo, None, activate(reference)) == Refused("wrong_state")  # waiting for worker
    worker_opens(repo, token)
    one(repo, WORKER, worker_consent(reference))
    before = outbox(engine)
    assert repo.coverage_check(reference, KPJ) == CoverageCheck("confirmed", False)
    assert one(repo, ADMIN, activate(reference, actor=ADMIN)) == Applied(reference)
    row = sponsorship(engine)
    assert (row["status"], row["kpj_masked"], row["activated_by_user_id"]) == (
        "active",
        "12*****8901",
        ADMIN,
    )
    assert SEALER.open(str(row["kpj_sealed"])) == KPJ
    assert row["coverage_start"] in (START, START.isoformat())
    added = outbox(engine)[len(before) :]
    assert added == [
        (f"coverage:{reference}:sponsor", SPONSOR),
        (f"coverage:{reference}:worker", WORKER),
    ]
    pending = messages(engine)
    # Activated on 10 March for a start on 1 May: told as registered, covered from 1 May.
    told = (PROGRAMME.catalog.benefits_text(), False)
    assert (
        notifications.coverage_active_for_sponsor(
            "Siti Aminah", KPJ, START, Raw("bpu-jkk-jkm"), *told
        )
        in pending[SPONSOR]
    )
    assert pending[WORKER] == [
        notifications.coverage_active_for_worker(
            "Budi Santoso", KPJ, START, Raw("bpu-jkk-jkm"), *told
        )
    ]
    # Again (a re-import, a double press): nothing changes, nothing is enqueued.
    snapshot = rows(engine, "SELECT * FROM outbox ORDER BY id")
    assert one(repo, None, activate(reference)) == Applied(reference)
    assert one(repo, ADMIN, activate(reference, actor=ADMIN)) == Applied(reference)
    assert rows(engine, "SELECT * FROM outbox ORDER BY id") == snapshot
    assert one(repo, None, activate(reference, kpj="99999999999")) == Refused("wrong_state")
    assert rows(engine, "SELECT * FROM outbox ORDER BY id") == snapshot
    assert repo.coverage_check(reference, KPJ) == CoverageCheck("active", True)
    assert repo.coverage_check(reference, "99999999999") == CoverageCheck("active", False)
    assert repo.coverage_check("PR-NOPE22", KPJ) is None
    [view] = repo.sponsorships_of(SPONSOR)
    assert (view.kpj_masked, view.coverage_start) == ("12*****8901", START)
    [worker_view] = repo.worker_sponsorships(WORKER)
    assert (worker_view.status, worker_view.kpj_masked, worker_view.coverage_start) == (
        "active",
        "12*****8901",
        START,
    )


def test_activation_after_in_person_consent_tells_only_the_sponsor(
    repo: Repository, engine: Engine
) -> None:
    reference, _token = sponsor_submits(repo)
    one(repo, SPONSOR, in_person(reference))
    assert one(repo, None, activate(reference)) == Applied(reference)
    assert outbox(engine) == [(f"coverage:{reference}:sponsor", SPONSOR)]


@SQLITE_ONLY
def test_kpj_must_be_digits(repo: Repository) -> None:
    reference = confirmed(repo)
    with pytest.raises(ValueError, match="KPJ"):
        apply(repo, None, activate(reference, kpj="1234-5678"))
    assert repo.sponsorships_of(SPONSOR)[0].status == "confirmed"


def test_dry_run_writes_nothing(repo: Repository, engine: Engine) -> None:
    reference = confirmed(repo)
    before = outbox(engine)
    outcomes = repo.apply(None, [activate(reference)], dry_run=True)
    assert outcomes == [Applied(reference)]
    assert sponsorship(engine)["status"] == "confirmed"
    assert outbox(engine) == before


# ---- reads -------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_reference_for_nik(repo: Repository) -> None:
    reference, _token = sponsor_submits(repo)
    assert repo.reference_for_nik(NIK) == reference
    assert repo.reference_for_nik("3205014501900009") is None
    assert repo.reference_for_nik("not a nik") is None


def test_personal_data(repo: Repository, engine: Engine) -> None:
    reference = confirmed(repo)
    one(repo, None, activate(reference))
    one(repo, SPONSOR, correction(None, SPONSOR, "sponsor"))
    sponsor = repo.personal_data(SPONSOR)
    assert sponsor.language == "id" and sponsor.known_since is not None
    assert sponsor.sponsor is not None and sponsor.sponsor.nip_masked == "1985***********001"
    assert [view.reference for view in sponsor.sponsorships] == [reference]
    assert sponsor.as_worker == []
    assert [(c.subject, c.kind, c.action, c.channel) for c in sponsor.consents] == [
        ("sponsor", "salary_deduction", "given", "telegram")
    ]
    assert [(r.subject, r.reference, r.details) for r in sponsor.open_requests] == [
        ("sponsor", None, None)
    ]
    worker = repo.personal_data(WORKER)
    assert (worker.sponsor, worker.sponsorships, worker.open_requests) == (None, [], [])
    [data] = worker.as_worker
    assert (data.worker_full_name, data.nik_masked, data.phone_masked) == (
        "Siti Aminah",
        "3205********0001",
        "+62857****2222",
    )
    assert (data.sponsor_name, data.kpj_masked, data.village_name) == (
        "Budi Santoso",
        "12*****8901",
        "Sukamentri",
    )
    [given] = worker.consents
    assert (given.reference, given.subject, given.kind, given.action, given.channel) == (
        reference,
        "worker",
        "worker_data",
        "given",
        "telegram",
    )
    assert (given.text_version, given.amount, given.recorded_at) == ("2026-03", 16800, T0)
    everything = repr(sponsor) + repr(worker)
    for secret in (NIK, WORKER_PHONE, KPJ, "198503152010011001"):
        assert secret not in everything
    stranger = repo.personal_data(STRANGER)
    assert (stranger.language, stranger.sponsor, stranger.consents) == (None, None, [])


# ---- outbox ------------------------------------------------------------------------------------


def test_outbox_delivery_bookkeeping(repo: Repository, engine: Engine, clock: MovableClock) -> None:
    def claim(limit: int = 50) -> list[Delivery]:
        return repo.delivery.claim(limit, timedelta(seconds=30))

    reference = confirmed(repo)
    repo.remember_chat(SPONSOR, 5001)
    [item] = claim()
    assert (item.recipient_user_id, item.chat_id, item.language) == (SPONSOR, 5001, "id")
    assert (item.kind, item.attempts, item.announcement_id) == ("notification", 0, None)
    assert item.message is not None
    assert from_json(item.message) == notifications.worker_confirmed("Siti Aminah", reference)
    # Sealed at rest: the name is not in the outbox row.
    [stored] = rows(engine, "SELECT message FROM outbox")
    assert "Siti" not in str(stored["message"])
    error = "Telegram said: chat 5001234567 not found"
    repo.delivery.mark([Mark(item.id, "transient", detail=error, attempts=item.attempts)])
    assert claim() == []  # the failure released the claim, to be retried after a backoff
    clock.advance(seconds=backoff(1).total_seconds())
    [again] = claim()
    assert (again.id, again.attempts) == (item.id, 1)
    [row] = rows(engine, "SELECT attempts, last_error, sent_at, gave_up_at FROM outbox")
    assert row["attempts"] == 1 and row["last_error"] == "Telegram said: chat # not found"
    assert row["sent_at"] is None and row["gave_up_at"] is None
    repo.delivery.mark([Mark(item.id, "sent", message_id=77)])
    clock.advance(hours=1)  # past any lease: sent is sent
    assert claim() == []
    [row] = rows(engine, "SELECT attempts, sent_at, outcome, telegram_message_id FROM outbox")
    assert row["attempts"] == 2 and row["sent_at"] is not None
    assert (row["outcome"], row["telegram_message_id"]) == ("sent", 77)
    # A recipient never seen has no chat: their row fails at the claim, never sent nor retried.
    one(repo, None, activate(reference))
    pending = claim(limit=1)
    assert len(pending) == 1 and pending[0].recipient_user_id == SPONSOR
    assert claim() == []  # the sponsor's is claimed already; the worker's failed
    [failed] = rows(
        engine,
        "SELECT attempts, outcome, last_error, gave_up_at, sent_at FROM outbox"
        " WHERE recipient_user_id = :worker",
        worker=WORKER,
    )
    assert (failed["outcome"], failed["last_error"], failed["attempts"]) == (
        "failed",
        "no chat with this user",
        0,
    )
    assert failed["gave_up_at"] is not None and failed["sent_at"] is None
    clock.advance(hours=1)  # the sponsor's lease ended unmarked: a notification goes again
    assert [i.id for i in claim()] == [pending[0].id]
    # Refused: given up at once, the error cut to 200 characters.
    repo.delivery.mark([Mark(pending[0].id, "refused", detail="x" * 1000)])
    clock.advance(hours=1)
    assert claim() == []
    [given_up] = rows(
        engine,
        "SELECT last_error, gave_up_at, outcome FROM outbox WHERE id = :id",
        id=pending[0].id,
    )
    assert given_up["last_error"] == "x" * 200 and given_up["gave_up_at"] is not None
    assert given_up["outcome"] == "failed"


# ---- erasure leaves no bytes behind (SQLite file) ----------------------------------------------


ERASED = (
    b"Siti Aminah",
    NIK.encode(),
    b"3205********0001",
    WORKER_PHONE.encode(),
    WORKER_PHONE.lstrip("+").encode(),
    b"+62857****2222",
    b"Sukamentri",
    KPJ.encode(),
    b"12*****8901",
)


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.mark.parametrize("how", ["decline", "withdraw"])
def test_erased_worker_is_gone_from_the_database_file(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # statements and parameters too
    path = tmp_path / "erase.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    engine = create_db_engine(f"sqlite:///{path}")
    repo = Repository(engine, SEALER, notify=notify, admin_ids=frozenset({ADMIN}))
    try:
        reference, token = sponsor_submits(repo)
        worker_opens(repo, token)
        assert b"Siti Aminah" in _file_bytes(path)  # the check reads real data
        if how == "decline":
            one(repo, WORKER, FailVerification(WORKER, reference))
            assert one(repo, WORKER, WorkerDeclines(WORKER, reference, 1, T0)) == Applied(reference)
        else:
            one(repo, WORKER, worker_consent(reference))
            one(repo, WORKER, correction(reference, WORKER, "worker"))
            one(repo, None, activate(reference))
            assert one(repo, WORKER, withdraw(reference, WORKER, "worker")) == Applied(reference)
        stored = _file_bytes(path)
        for secret in ERASED:
            assert secret not in stored, secret
        assert b"Budi Santoso" in stored  # the sponsor's data are not the worker's
        assert repo.open_requests() == []
        kept = consents(engine)
        assert len(kept) == (2 if how == "decline" else 3)
        assert {r["subject"] for r in kept} == {"sponsor", "worker"}
    finally:
        engine.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (NIK, WORKER_PHONE, KPJ, token):
        assert secret not in logged


def test_sponsor_reissues_a_link_and_only_the_newest_works(repo: Repository) -> None:
    from flows.commands import ReissueInvitation

    reference, old = sponsor_submits(repo)
    assert isinstance(worker_opens(repo, old), InvitationOpened)  # opened but undecided
    assert one(repo, STRANGER, ReissueInvitation(STRANGER, reference)) == Refused("not_allowed")
    assert one(repo, SPONSOR, ReissueInvitation(SPONSOR, "PR-NOPE22")) == Refused(
        "unknown_reference"
    )
    reissued = one(repo, SPONSOR, ReissueInvitation(SPONSOR, reference))
    assert isinstance(reissued, Applied) and reissued.invitation_token not in (None, old)
    assert worker_opens(repo, old) == Refused("invitation_expired")
    assert isinstance(worker_opens(repo, reissued.invitation_token or "", WORKER), InvitationOpened)
    assert one(repo, WORKER, worker_consent(reference)) == Applied(reference)
    assert one(repo, SPONSOR, ReissueInvitation(SPONSOR, reference)) == Refused("wrong_state")


# ---- the worker's language (issue 12) --------------------------------------------------------


def test_opening_an_invitation_gives_a_new_worker_the_language_chosen_for_them(
    repo: Repository,
) -> None:
    apply(repo, SPONSOR, SetLanguage(SPONSOR, "id"), register(SPONSOR))
    outcome = one(repo, SPONSOR, submit(SPONSOR, "draft-su", worker_language="su"))
    assert isinstance(outcome, Applied) and outcome.invitation_token is not None
    assert repo.sponsorships_of(SPONSOR)[0].worker_language == "su"

    repo.remember_chat(WORKER, WORKER)  # a first message: the account has no language yet
    opened = worker_opens(repo, outcome.invitation_token)
    assert isinstance(opened, InvitationOpened) and opened.details.language == "su"
    assert repo.user_record(WORKER).language == "su"

    # Someone who chose a language themselves keeps it: the sponsor's choice is a default.
    apply(repo, STRANGER, SetLanguage(STRANGER, "en"))
    opened = worker_opens(repo, outcome.invitation_token, STRANGER)
    assert isinstance(opened, InvitationOpened) and opened.details.language == "su"
    assert repo.user_record(STRANGER).language == "en"


def test_a_sponsorship_from_before_the_choice_reads_as_indonesian(
    repo: Repository, engine: Engine
) -> None:
    _, token = sponsor_submits(repo)
    with engine.begin() as connection:  # as migration 0010_lang leaves an older sponsorship
        connection.execute(sa.text("UPDATE sponsorships SET worker_language = NULL"))
    assert repo.sponsorships_of(SPONSOR)[0].worker_language == "id"
    repo.remember_chat(WORKER, WORKER)
    opened = worker_opens(repo, token)
    assert isinstance(opened, InvitationOpened) and opened.details.language == "id"
    assert repo.user_record(WORKER).language == "id"
