"""The scale generator (bench/scale.py) at CI size: its rows are what the bot reads and enforces
(NIKs and NIPs open with the bot's key, the duplicate-NIK check finds a generated NIK and refuses
it, /status and the statistics read them), and the schema after its bulk load (indexes and
constraints dropped, then rebuilt) is the migrated one. Nothing here asserts on time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.load import nik_for
from bench.scale import (
    GENERATED_AT,
    TABLES,
    Catalog,
    Plan,
    agency_index,
    agency_weights,
    deferred,
    generate,
    nip_at,
    reference_at,
)
from bot.security.crypto import key_id_for, sealer_for
from bot.storage import audit
from bot.storage.db import create_db_engine, upgrade_database
from bot.storage.keys import read_recorded
from bot.storage.models import STATS_TOTALS
from bot.storage.repository import Repository
from bot.storage.statistics import read_statistics
from flows.commands import Applied, Refused
from flows.validators.nik import check_nik
from flows.validators.nip import check_nip
from tests import rowcount
from tests.integration.test_storage_repository import register, submit, text_hash
from tests.notify import notify

KEY = bytes(range(100, 132))
COUNT = 500
TODAY = date(2026, 11, 30)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url)
    yield engine
    engine.dispose()


def _schema(engine: Engine) -> tuple[list[str], list[str]]:
    with engine.connect() as connection:
        found = deferred(connection, TABLES)
    return sorted(found.drops), sorted(found.creates)


def test_generated_rows_are_what_the_bot_reads(postgres_url: str, engine: Engine) -> None:
    upgrade_database(postgres_url)
    migrated = _schema(engine)
    assert any("active_nik_index" in create for create in migrated[1])
    plan = generate(postgres_url, COUNT, key=KEY, batch=120)
    assert _schema(engine) == migrated  # every index and constraint is back, as migrated
    with engine.connect() as connection:
        recorded = read_recorded(connection)
    assert recorded is not None and recorded.key_id == key_id_for(KEY)

    repository = Repository(engine, sealer_for(KEY), notify=notify)
    opened = [i for i in range(COUNT) if plan.is_open(i)]
    closed = [i for i in range(COUNT) if not plan.is_open(i)]
    assert opened and closed and plan.seconds > 0
    for i in opened[:25]:
        # The duplicate-NIK look-up finds it, and the sealed NIK opens to it.
        assert repository.reference_for_nik(nik_for(i)) == reference_at(i)
        assert repository.reveal_nik(reference_at(i)) == nik_for(i)
    for i in closed[:10]:
        assert repository.reference_for_nik(nik_for(i)) is None
    erased = [i for i in closed if plan.erased(i)]
    assert erased and repository.reveal_nik(reference_at(erased[0])) is None

    # /status of an ASN with a closed and an open sponsorship: both, newest first.
    sponsor = plan.sponsor_of(plan.sponsors)  # the first ASN with a second sponsorship
    listed = repository.sponsorships_of(plan.sponsor_user_id(sponsor))
    assert {item.reference for item in listed} == {
        reference_at(sponsor),
        reference_at(plan.sponsors),
    }
    record = repository.user_record(plan.sponsor_user_id(sponsor))
    assert record.sponsor is not None and record.open_sponsorships == 1

    # The statistics count every generated sponsorship and ASN.
    catalog = Catalog.load()
    stats = repository.statistics(
        audit.Actor.cli(),
        None,
        now=GENERATED_AT.astimezone(catalog.timezone),
        catalog_codes=catalog.agencies,
    )
    assert stats.total.sponsorships == COUNT
    assert stats.signed_up == plan.sponsors
    assert stats.total.deducted > 0
    # ... from the kept counts the generator filled after its COPY (bot.storage.counts): the
    # same figures as counting the rows, for every agency and each one.
    _same_as_the_rows(engine, catalog)

    # The bot's own duplicate check on submission: a generated open NIK is refused, the NIK of
    # a lapsed (closed) one may be sponsored again.
    applied = repository.apply(1, [register(1, nip=nip_at(COUNT + 1))], consent_text_hash=text_hash)
    assert list(applied) == [Applied()]
    taken = repository.apply(
        1, [submit(1, "scale-taken", nik=nik_for(opened[0]))], consent_text_hash=text_hash
    )
    assert list(taken) == [Refused("nik_taken")]
    lapsed = next(i for i in closed if plan.status(i) == "lapsed")
    again = list(
        repository.apply(
            1, [submit(1, "scale-again", nik=nik_for(lapsed))], consent_text_hash=text_hash
        )
    )
    assert isinstance(again[0], Applied) and again[0].reference
    _same_as_the_rows(engine, catalog)  # the bot's own changes kept in the counts too


def _same_as_the_rows(engine: Engine, catalog: Catalog) -> None:
    now = GENERATED_AT.astimezone(catalog.timezone)
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(STATS_TOTALS))
    with Session(engine) as session:
        for scope in (None, *(frozenset({code}) for code in catalog.agencies[:5])):
            kept = read_statistics(session, scope, now=now, catalog_codes=catalog.agencies)
            counted = rowcount.read_statistics(
                session, scope, now=now, catalog_codes=catalog.agencies
            )
            assert kept == counted, scope


def test_generated_identities_are_valid_and_distinct() -> None:
    count = 5000
    nips = [nip_at(i) for i in range(0, 6_000_000, 6_000_000 // count)]
    assert len(set(nips)) == len(nips)
    assert all(check_nip(nip, TODAY).valid for nip in nips[::50])
    assert len({nip_at(i) for i in range(count)}) == count
    assert len({reference_at(i) for i in range(count)}) == count
    assert all(check_nik(nik_for(i), TODAY).valid for i in range(0, 6_000_000, 99_991))


def test_the_plan_gives_one_open_sponsorship_per_asn() -> None:
    plan = Plan(1100)
    open_per_sponsor: dict[int, int] = {}
    for i in range(plan.sponsorships):
        if plan.is_open(i):
            open_per_sponsor[plan.sponsor_of(i)] = open_per_sponsor.get(plan.sponsor_of(i), 0) + 1
    # The bot's default allows one open sponsorship per ASN: every ASN has exactly one.
    assert set(open_per_sponsor.values()) == {1}
    assert len(open_per_sponsor) == plan.sponsors
    weights = agency_weights(40)
    largest = sum(agency_index(s, weights) == 0 for s in range(10_000))
    assert 1000 < largest < 3000  # the largest agency holds about a fifth of the ASN


def test_the_statistics_indexes_carry_what_they_count(postgres_url: str, engine: Engine) -> None:
    # Migration 0014_scale: one agency's statistics read only these two indexes on PostgreSQL.
    upgrade_database(postgres_url)
    with engine.connect() as connection:
        creates = deferred(connection, TABLES).creates
    (agency,) = [c for c in creates if "ix_sponsors_agency_code " in c]
    assert agency.endswith("(agency_code) INCLUDE (id)")
    (sponsor,) = [c for c in creates if "ix_sponsorships_sponsor_id " in c]
    assert sponsor.endswith(
        "(sponsor_id) INCLUDE (status, coverage_start, district_code, village_code,"
        " district_name, village_name)"
    )
