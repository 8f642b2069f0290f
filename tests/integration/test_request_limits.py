"""One person cannot flood the admins: at most MAX_OPEN_REQUESTS open correction requests each,
and the admins get one "requests waiting" notice per hour, not one per request."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine

from bot import notifications
from bot.i18n import LANGUAGES, Renderer
from bot.storage.repository import MAX_OPEN_REQUESTS, Repository
from flows.commands import Applied, Refused, ResolveRequest, SetLanguage
from flows.rights import REFUSALS
from flows.text import t
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER
from tests.integration.test_storage_worker import (
    ADMIN,
    SPONSOR,
    T0,
    WORKER,
    apply,
    confirmed,
    correction,
    messages,
    one,
    outbox,
    register,
)
from tests.notify import notify

OTHER_ADMIN = 901


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def repo(engine: Engine, clock: MovableClock) -> Repository:
    return Repository(
        engine, SEALER, notify=notify, clock=clock, admin_ids=frozenset({ADMIN, OTHER_ADMIN})
    )


def test_a_person_may_have_at_most_three_open_correction_requests(repo: Repository) -> None:
    assert MAX_OPEN_REQUESTS == 3
    apply(repo, SPONSOR, SetLanguage(SPONSOR, "id"), register(SPONSOR))
    for _ in range(MAX_OPEN_REQUESTS):
        assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Applied(None)
    assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Refused("too_many_requests")
    assert len(repo.open_requests()) == MAX_OPEN_REQUESTS
    # Someone else is not held back by it.
    reference = confirmed(repo)
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Applied(reference)
    # Once an admin handles one, the sponsor may ask again.
    first = repo.open_requests()[0]
    assert one(repo, ADMIN, ResolveRequest(ADMIN, first.id, T0)) == Applied(None)
    assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Applied(None)
    assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Refused("too_many_requests")


def test_the_refusal_says_how_many_and_what_to_do_in_every_language() -> None:
    assert "too_many_requests" in REFUSALS  # shown as such, not as "something went wrong"
    for language in LANGUAGES:
        text = Renderer(language)(t("refusal.too_many_requests"))
        assert str(MAX_OPEN_REQUESTS) in text and "/data_saya" in text


def test_admins_get_one_requests_waiting_notice_per_hour(
    repo: Repository, engine: Engine, clock: MovableClock
) -> None:
    """Three requests within an hour: one notice per admin. The next hour's request: another."""
    apply(repo, SPONSOR, SetLanguage(SPONSOR, "id"), register(SPONSOR))
    reference = confirmed(repo)
    assert one(repo, SPONSOR, correction(None, SPONSOR, "sponsor")) == Applied(None)
    later = replace(correction(reference, SPONSOR, "sponsor"), at=T0.replace(minute=59))
    assert one(repo, SPONSOR, later) == Applied(reference)
    assert one(repo, WORKER, correction(reference, WORKER, "worker")) == Applied(reference)
    notices = [key for key, _recipient in outbox(engine) if key.startswith("requests-waiting")]
    assert notices == [
        f"requests-waiting:2026-03-10T02:admin:{ADMIN}",
        f"requests-waiting:2026-03-10T02:admin:{OTHER_ADMIN}",
    ]
    waiting = notifications.requests_waiting()
    assert messages(engine)[ADMIN] == [waiting] and messages(engine)[OTHER_ADMIN] == [waiting]
    next_hour = replace(correction(None, WORKER, "sponsor"), at=T0.replace(hour=3))
    apply(repo, WORKER, register(WORKER, nip="199001012015011002"))
    assert one(repo, WORKER, next_hour) == Applied(None)
    assert messages(engine)[ADMIN] == [waiting, waiting]
    assert messages(engine)[OTHER_ADMIN] == [waiting, waiting]
