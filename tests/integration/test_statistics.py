"""Statistics read queries (bot.storage.statistics) on a small known dataset, SQLite and
PostgreSQL: every figure, the scope filter, the audit entry, and that the work stays in SQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.security.crypto import Sealer, sealer_for
from bot.storage import audit
from bot.storage.keys import rotate, verified_sealer
from bot.storage.statistics import (
    GROUP_OF_STATUS,
    STATE_GROUPS,
    Statistics,
    read_statistics,
    view_statistics,
)
from flows.access import Scope
from flows.statuses import SponsorshipStatus
from tests.integration.test_storage_repository import SEALER
from tests.statskit import (
    Worker,
    add_deductions,
    add_roster,
    add_sponsors,
    add_sponsorships,
    nip_of,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 12, 10, 9, 0, tzinfo=JAKARTA)
DECEMBER, NOVEMBER = date(2026, 12, 1), date(2026, 11, 1)
CATALOG = ("setda", "dinkes", "disdik", "bpbd")
GARUT_KOTA = ("32.05.01", "Garut Kota")
TAROGONG = ("32.05.02", "Tarogong Kidul")
SUKAMENTRI = ("32.05.01.1001", "Sukamentri")
KOTA_KULON = ("32.05.01.1002", "Kota Kulon")


def known_dataset(engine: Engine) -> None:
    """dinkes: 4 ASN (one without a worker: a draft), 2 active (one covered since 29 November,
    one from January), 1 waiting; disdik: 4 ASN, confirmed, withdrawn, declined, lapsed; setda:
    nobody. Ledger: December marked for one worker of each agency, one unmarked, November
    marked (another month). Roster: dinkes 5 (3 signed up), disdik 4 (1), setda 1 (0)."""
    ids = add_sponsors(
        engine,
        SEALER,
        [
            (1, "dinkes", 1),
            (2, "dinkes", 2),
            (3, "dinkes", 3),
            (4, "dinkes", 4),
            (10, "disdik", 10),
            (11, "disdik", 11),
            (12, "disdik", 12),
            (13, "disdik", 13),
        ],
    )
    covered, later, _waiting, confirmed, *_closed = add_sponsorships(
        engine,
        [
            (ids[1], Worker("active", GARUT_KOTA, SUKAMENTRI, date(2026, 11, 29))),
            (ids[4], Worker("active", GARUT_KOTA, SUKAMENTRI, date(2027, 1, 1))),
            (ids[2], Worker("waiting_worker", TAROGONG, ("32.05.02.2001", "Haurpanggung"))),
            (ids[10], Worker("confirmed", GARUT_KOTA, KOTA_KULON)),
            (ids[11], Worker("withdrawn", GARUT_KOTA, SUKAMENTRI)),
            (ids[12], Worker("declined", GARUT_KOTA, SUKAMENTRI)),
            (ids[13], Worker("lapsed", GARUT_KOTA, SUKAMENTRI)),
        ],
    )
    add_deductions(
        engine,
        [
            (covered, DECEMBER, "dinkes", 16800, True),
            (covered, NOVEMBER, "dinkes", 16800, True),  # another month
            (later, DECEMBER, "dinkes", 16800, False),  # not marked yet
            (confirmed, DECEMBER, "disdik", 16800, True),
        ],
    )
    add_roster(
        engine,
        SEALER,
        [
            *[(n, "dinkes") for n in (1, 2, 3, 5, 6)],
            *[(n, "disdik") for n in (10, 20, 21, 22)],
            (30, "setda"),
        ],
    )


def read(engine: Engine, agencies: frozenset[str] | None = None) -> Statistics:
    with Session(engine) as session:
        return read_statistics(session, agencies, now=NOW, catalog_codes=CATALOG)


def states(**given: int) -> dict[str, int]:
    return {group: given.get(group, 0) for group in STATE_GROUPS}


def test_every_status_counts_in_one_of_the_six_groups() -> None:
    assert set(GROUP_OF_STATUS) == set(SponsorshipStatus)
    assert set(GROUP_OF_STATUS.values()) <= set(STATE_GROUPS)


def test_figures_per_agency_on_a_known_dataset(engine: Engine) -> None:
    known_dataset(engine)
    stats = read(engine)
    assert stats.month == DECEMBER
    by_code = {a.agency_code: a for a in stats.agencies}
    assert [a.agency_code for a in stats.agencies] == list(CATALOG)  # catalog order, all listed
    dinkes, disdik, setda = by_code["dinkes"], by_code["disdik"], by_code["setda"]
    assert dinkes.counts.signed_up == 4
    assert dict(dinkes.counts.states) == states(draft=1, waiting=1, active=2)
    assert dinkes.counts.covered == 1  # the other's coverage starts in January
    assert dinkes.counts.deducted == 16800  # December, marked; not November, not unmarked
    assert (dinkes.roster, dinkes.roster_signed_up, dinkes.participation) == (5, 3, 0.6)
    assert disdik.counts.signed_up == 4
    assert dict(disdik.counts.states) == states(confirmed=1, withdrawn=2, lapsed=1)
    assert (disdik.counts.covered, disdik.counts.deducted) == (0, 16800)
    assert (disdik.roster, disdik.roster_signed_up) == (4, 1)
    assert setda.counts.signed_up == 0 and (setda.roster, setda.roster_signed_up) == (1, 0)
    assert by_code["bpbd"].participation is None  # no roster: no percentage
    # The regency's figures: "2 dari 4 dinas", 4 of 10 rostered ASN = 40 %.
    assert (stats.agencies_taking_part, stats.catalog_agencies) == (2, 4)
    assert (stats.roster_signed_up, stats.roster, stats.participation) == (4, 10, 0.4)
    assert stats.total.signed_up == 8 and stats.total.deducted == 33600
    assert dict(stats.total.states) == states(
        draft=1, waiting=1, confirmed=1, active=2, withdrawn=2, lapsed=1
    )


def test_figures_per_kecamatan_and_desa(engine: Engine) -> None:
    known_dataset(engine)
    stats = read(engine)
    districts = {(a.agency_code, a.district_name): a.counts for a in stats.districts}
    assert set(districts) == {
        ("dinkes", "Garut Kota"),
        ("dinkes", "Tarogong Kidul"),
        ("disdik", "Garut Kota"),
    }
    garut = districts[("dinkes", "Garut Kota")]
    assert (garut.signed_up, garut.covered, garut.deducted) == (2, 1, 16800)
    assert dict(garut.states) == states(active=2)
    assert dict(districts[("dinkes", "Tarogong Kidul")].states) == states(waiting=1)
    disdik = districts[("disdik", "Garut Kota")]
    assert disdik.signed_up == 4 and disdik.deducted == 16800
    assert dict(disdik.states) == states(confirmed=1, withdrawn=2, lapsed=1)
    villages = {(a.agency_code, a.village_name): a.counts for a in stats.villages}
    assert dict(villages[("disdik", "Kota Kulon")].states) == states(confirmed=1)
    assert villages[("disdik", "Kota Kulon")].deducted == 16800
    assert dict(villages[("disdik", "Sukamentri")].states) == states(lapsed=1)
    # Erased workers keep their kecamatan but not their desa: counted under no desa.
    assert dict(villages[("disdik", None)].states) == states(withdrawn=2)


def test_a_scope_reads_only_its_agencies(engine: Engine) -> None:
    known_dataset(engine)
    operator = Scope.of("operator", ["disdik"])
    stats = read(engine, operator.restrict(None))
    assert [a.agency_code for a in stats.agencies] == ["disdik"]
    assert {a.agency_code for a in stats.districts + stats.villages} == {"disdik"}
    assert (stats.catalog_agencies, stats.roster, stats.total.deducted) == (1, 4, 16800)
    # Asking for another agency gives the empty set: nothing at all, not everything.
    nothing = read(engine, operator.restrict(["dinkes"]))
    assert nothing.agencies == () and nothing.districts == () and nothing.total.signed_up == 0


def test_a_view_is_in_the_audit_log_with_its_row_count(engine: Engine) -> None:
    known_dataset(engine)
    actor = audit.Actor(Scope.of("operator", ["dinkes"]), user_id=77)
    stats = view_statistics(engine, actor, None, now=NOW, catalog_codes=CATALOG)
    assert [a.agency_code for a in stats.agencies] == ["dinkes"]
    with Session(engine) as session:
        [entry] = audit.entries(session, action="stats.view")
    assert (entry.actor_user_id, entry.scope, entry.row_count) == (77, "dinkes", stats.row_count)
    assert entry.detail == "agencies=dinkes"


def test_many_sponsorships_are_counted_in_a_fixed_number_of_statements(engine: Engine) -> None:
    """20,000 generated sponsorships: the figures are right and the number of SQL statements
    is the same as for a handful (the work is GROUP BY in SQL, no query per row)."""
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def measured() -> Statistics:
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            return read(engine)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)

    ids = add_sponsors(engine, SEALER, [(100 + n, CATALOG[n % 4], 1000 + n) for n in range(4)])
    add_sponsorships(engine, [(ids[100 + n], Worker("confirmed")) for n in range(4)])
    measured()
    few = len(statements)
    total = 20_000
    more = add_sponsors(
        engine, SEALER, [(1000 + n, CATALOG[n % 4], 5000 + n) for n in range(total)]
    )
    plan = [
        Worker(
            ("waiting_worker", "confirmed", "active", "withdrawn")[n % 4],
            village=(f"v{n % 7}", f"Desa {n % 7}"),
        )
        for n in range(total)
    ]
    add_sponsorships(engine, [(more[1000 + n], plan[n]) for n in range(total)], start=100)
    stats = measured()
    assert len(statements) == few
    assert stats.total.sponsorships == total + 4
    assert stats.total.signed_up == total + 4
    assert stats.total.states["withdrawn"] == total // 4
    assert len(stats.villages) <= 4 * 8  # a few groups, never a row per sponsorship


def test_a_key_rotation_keeps_the_roster_matched_to_the_sign_ups(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """`peduli keys rotate` re-seals the roster's NIPs and recomputes their blind index, like
    the sponsors': participation is the same under the new key."""
    from tests.integration.test_data_keys import KEY_A, KEY_B, make_settings

    old = Sealer(KEY_A)
    verified_sealer(make_settings(database_url, tmp_path, KEY_A), engine)  # records KEY_A
    add_sponsors(engine, old, [(1, "dinkes", 1), (2, "dinkes", 2)])
    add_roster(engine, old, [(1, "dinkes"), (2, "dinkes"), (3, "dinkes")])
    assert read(engine).roster_signed_up == 2
    report = rotate(make_settings(database_url, tmp_path, KEY_B, old=KEY_A), engine)
    assert report.reindexed["roster.nip_index"] == 3
    assert report.resealed["roster.nip_sealed"] == 3
    stats = read(engine)
    assert (stats.roster, stats.roster_signed_up) == (3, 2)
    new = sealer_for(KEY_B)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT nip_index, nip_sealed FROM roster")).all()
    assert {index for index, _ in rows} == {new.blind_index(nip_of(n), "nip") for n in (1, 2, 3)}
    assert all(new.is_current(token) for _, token in rows)
