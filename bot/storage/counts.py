"""Kept counts for the statistics (issue 13): `/statistik` and `peduli stats` read a few hundred
rows of counts instead of counting millions of sponsorships on every view.

Two tables (bot.storage.models): stats_deltas, append-only +/- rows written in the transaction
of every change, and stats_totals, one row per key, into which `fold` (the running bot's
upkeep, every minute) adds the deltas and deletes them. A read is totals + the unfolded deltas,
grouped, in ONE statement (one snapshot: a fold committing meanwhile is seen whole or not at
all). Writers only insert delta rows: an ASN's Simpan never waits on a counter row that the
other ASN of the agency update too.

What is counted, per key (agency_code, kind, k1..k4, day), in the value columns COUNT_VALUES:
- kind "a", k1 = the sponsor's funder type: n = sponsors, drafts = sponsors without any
  sponsorship, and the states below;
- kind "d" (k1 district), "v" (k1 district, k2 village), "j" (k1 job), "r" (k1 relationship),
  k3/k4 the district/village names the rows hold (the statistics show the greatest, as MAX did):
  the states; and in a row of that kind with no names and no day, n = the distinct sponsors
  with a sponsorship there;
- the states: waiting, confirmed, active, withdrawn, lapsed (the groups of
  bot.storage.statistics; declined counts as withdrawn) count sponsorships; an active one whose
  coverage started on a date carries that date in `day` and counts in `started`, so covered
  on any day = started where day <= that day (a fold merges days long past into day "");
- kind "x", agency_code the ledger row's agency, k1/k2 the sponsorship's district/village,
  day the month: deducted = rupiah marked deducted.
A NULL key (no village, no job) is kept as "".

Exact by construction: the delta of a change is the sponsor's footprint (everything above that
one sponsor, their sponsorships and their marked ledger rows contribute) after the change minus
before it, read from the database around the flush that writes it (`listen`: every ORM flush
of a Sponsor, Sponsorship or Deduction, wherever it happens), around the ledger's lapse (a Core
UPDATE: `changing`) and for the marks (`deducted_marked`). On PostgreSQL the sponsor's row is
locked first (FOR UPDATE), so two transactions changing one sponsor's footprint take turns and
each reads the other's committed rows; lock order: a sponsorship, then its sponsor, then its
ledger rows. Bulk loads that bypass the bot (bench/scale.py's COPY, tests' inserts) call
`rebuild`, the backfill of migration 0015_stats.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.storage.models import (
    COUNT_KEY,
    COUNT_VALUES,
    STATS_DELTAS,
    STATS_TOTALS,
    Deduction,
    Sponsor,
    Sponsorship,
)

Key = tuple[str, str, str, str, str, str, str]
"""(agency_code, kind, k1, k2, k3, k4, day): COUNT_KEY."""
Values = list[int]

WIDTH: Final = len(COUNT_VALUES)
N, DRAFTS, STARTED, DEDUCTED = (
    COUNT_VALUES.index(name) for name in ("n", "drafts", "started", "deducted")
)
STATE_OF_STATUS: Final[Mapping[str, str]] = {
    "waiting_worker": "waiting",
    "confirmed": "confirmed",
    "active": "active",
    "declined": "withdrawn",
    "withdrawn": "withdrawn",
    "lapsed": "lapsed",
}
"""The value column each sponsorship status counts in (the statistics' state groups)."""
STATES: Final[tuple[str, ...]] = ("waiting", "confirmed", "active", "withdrawn", "lapsed")
AREA_KINDS: Final = ("a", "d", "v", "j", "r")
FOLD_BATCH: Final = 20_000
PAST_DAYS: Final = 2
"""A fold merges coverage start days this many days before its clock's UTC date into day ""
(started long ago): every reader's local date is later, whatever its time zone."""
FOLD_LOCK: Final = 0x5EED_5747
"""pg_try_advisory_xact_lock key: one fold at a time across processes."""
_INFO: Final = "peduli_counts"
_SPONSORSHIP_FIELDS: Final = (
    "sponsor_id",
    "status",
    "coverage_start",
    "district_code",
    "district_name",
    "village_code",
    "village_name",
    "worker_job",
    "worker_relationship",
)
_AREA_FIELDS: Final = ("district_code", "village_code")
_SPONSOR_FIELDS: Final = ("agency_code", "funder_type")


# ---- a sponsor's footprint ---------------------------------------------------------------


def _text(value: str | None) -> str:
    return "" if value is None else value


def _day(status: str, start: date | str | None) -> str:
    if status != "active" or start is None:
        return ""
    return start if isinstance(start, str) else start.isoformat()


def footprint(
    sponsors: Iterable[Sequence[Any]],
    sponsorships: Iterable[Sequence[Any]],
    deducted: Iterable[Sequence[Any]] = (),
) -> dict[Key, Values]:
    """What these sponsors add to the counts.

    sponsors: (id, agency_code, funder_type); sponsorships: (sponsor_id, status, coverage_start,
    district_code, district_name, village_code, village_name, worker_job, worker_relationship);
    deducted: (agency_code, district_code, village_code, month, amount) of marked ledger rows.
    Migration 0015_stats's backfill (and `rebuild`) computes the same sums in SQL."""
    found: dict[Key, Values] = defaultdict(lambda: [0] * WIDTH)
    agency_of: dict[int, tuple[str, str]] = {}
    for sponsor_id, agency, funder in sponsors:
        agency_of[int(sponsor_id)] = (str(agency), str(funder))
    has_any: set[int] = set()
    distinct: set[Key] = set()
    for row in sponsorships:
        sponsor_id, status, start = int(row[0]), str(row[1]), row[2]
        district, district_name, village, village_name, job, relationship = (
            _text(value) for value in row[3:9]
        )
        agency, funder = agency_of[sponsor_id]
        has_any.add(sponsor_id)
        day = _day(status, start)
        state = COUNT_VALUES.index(STATE_OF_STATUS[status])
        keyed: tuple[Key, ...] = (
            (agency, "a", funder, "", "", "", day),
            (agency, "d", district, "", district_name, "", day),
            (agency, "v", district, village, district_name, village_name, day),
            (agency, "j", job, "", "", "", day),
            (agency, "r", relationship, "", "", "", day),
        )
        for key in keyed:
            found[key][state] += 1
            if day:
                found[key][STARTED] += 1
        for kind, k1, k2 in (("d", district, ""), ("v", district, village)):
            distinct.add((agency, kind, k1, k2, "", "", str(sponsor_id)))
        distinct.add((agency, "j", job, "", "", "", str(sponsor_id)))
        distinct.add((agency, "r", relationship, "", "", "", str(sponsor_id)))
    for agency, kind, k1, k2, _k3, _k4, _sponsor in distinct:
        found[(agency, kind, k1, k2, "", "", "")][N] += 1
    for sponsor_id, (agency, funder) in agency_of.items():
        key = (agency, "a", funder, "", "", "", "")
        found[key][N] += 1
        if sponsor_id not in has_any:
            found[key][DRAFTS] += 1
    for agency, district, village, month, amount in deducted:
        month_day = month if isinstance(month, str) else month.isoformat()
        key = (str(agency), "x", str(district), _text(village), "", "", month_day)
        found[key][DEDUCTED] += int(amount)
    return dict(found)


def difference(after: Mapping[Key, Values], before: Mapping[Key, Values]) -> dict[Key, Values]:
    """after - before, keys whose values did not change left out."""
    changed: dict[Key, Values] = {}
    for key in after.keys() | before.keys():
        new, old = after.get(key), before.get(key)
        values = [(new[i] if new else 0) - (old[i] if old else 0) for i in range(WIDTH)]
        if any(values):
            changed[key] = values
    return changed


def _sponsor_rows(ids: list[int]) -> Select[Any]:
    s, p = Sponsor.__table__.c, Sponsorship.__table__.c  # type: ignore[attr-defined]
    return (
        select(
            s.id,
            s.agency_code,
            s.funder_type,
            p.sponsor_id,
            p.status,
            p.coverage_start,
            p.district_code,
            p.district_name,
            p.village_code,
            p.village_name,
            p.worker_job,
            p.worker_relationship,
        )
        .select_from(Sponsor.__table__.outerjoin(Sponsorship.__table__, p.sponsor_id == s.id))  # type: ignore[attr-defined]
        .where(s.id.in_(ids))
    )


def _deducted_rows(ids: list[int]) -> Select[Any]:
    d, p = Deduction.__table__.c, Sponsorship.__table__.c  # type: ignore[attr-defined]
    return (
        select(d.agency_code, p.district_code, p.village_code, d.month, d.amount)
        .select_from(Deduction.__table__.join(Sponsorship.__table__, p.id == d.sponsorship_id))  # type: ignore[attr-defined]
        .where(p.sponsor_id.in_(ids), d.deducted_at.is_not(None))
    )


def read_footprint(
    connection: Connection, sponsor_ids: Collection[int], *, deducted: bool
) -> dict[Key, Values]:
    """The footprint of these sponsors as the connection's transaction sees them now; their
    marked ledger rows only when `deducted` (a change that can move them: a sponsorship's
    district or village)."""
    ids = sorted(set(sponsor_ids))
    if not ids:
        return {}
    sponsors: dict[int, tuple[Any, Any, Any]] = {}
    sponsorships = []
    for row in connection.execute(_sponsor_rows(ids)):
        sponsors[int(row[0])] = (row[0], row[1], row[2])
        if row[3] is not None:
            sponsorships.append(row[3:])
    ledger = list(connection.execute(_deducted_rows(ids))) if deducted else []
    return footprint(sponsors.values(), sponsorships, ledger)


def write(connection: Connection, deltas: Mapping[Key, Values]) -> None:
    """Insert these deltas (one statement)."""
    if not deltas:
        return
    rows = [
        {**dict(zip(COUNT_KEY, key, strict=True)), **dict(zip(COUNT_VALUES, values, strict=True))}
        for key, values in sorted(deltas.items())
    ]
    connection.execute(insert(STATS_DELTAS), rows)


def _lock(connection: Connection, sponsor_ids: list[int], sponsorship_ids: list[int]) -> None:
    """PostgreSQL: the sponsors' rows, then the ledger rows of sponsorships whose area changes,
    locked for the rest of the transaction (see the module docstring). SQLite's writers are
    serialized already."""
    if connection.dialect.name != "postgresql":
        return
    if sponsor_ids:
        s = Sponsor.__table__.c  # type: ignore[attr-defined]
        connection.execute(
            select(s.id).where(s.id.in_(sponsor_ids)).order_by(s.id).with_for_update()
        ).all()
    if sponsorship_ids:
        d = Deduction.__table__.c  # type: ignore[attr-defined]
        connection.execute(
            select(d.id)
            .where(d.sponsorship_id.in_(sponsorship_ids))
            .order_by(d.id)
            .with_for_update()
        ).all()


@contextmanager
def changing(
    session: Session, sponsor_ids: Collection[int], *, deducted: bool = False
) -> Iterator[None]:
    """Around a change the flush listener does not see (a Core UPDATE): the sponsors locked,
    their footprint read before and after, the difference written."""
    connection = session.connection()
    ids = sorted(set(sponsor_ids))
    _lock(connection, ids, [])
    before = read_footprint(connection, ids, deducted=deducted)
    yield
    write(connection, difference(read_footprint(connection, ids, deducted=deducted), before))


def deducted_marked(connection: Connection, deduction_ids: Sequence[int]) -> None:
    """The deltas of ledger rows just marked deducted (bot.storage.ledger_marks), read after the
    UPDATE: their sponsorships' district and village as committed now (an erasure moving them
    waits on the rows' locks, or has committed)."""
    d, p = Deduction.__table__.c, Sponsorship.__table__.c  # type: ignore[attr-defined]
    ids = sorted(set(deduction_ids))
    for start in range(0, len(ids), 5000):
        rows = connection.execute(
            select(d.agency_code, p.district_code, p.village_code, d.month, func.sum(d.amount))
            .select_from(Deduction.__table__.join(Sponsorship.__table__, p.id == d.sponsorship_id))  # type: ignore[attr-defined]
            .where(d.id.in_(ids[start : start + 5000]))
            .group_by(d.agency_code, p.district_code, p.village_code, d.month)
        ).all()
        write(connection, footprint((), (), rows))


# ---- the flush listener ------------------------------------------------------------------


def _changed(obj: object, fields: Sequence[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    session.info.pop(_INFO, None)
    sponsors: set[int] = set()
    new_sponsors: list[Sponsor] = []
    area_changed: set[int] = set()  # sponsorships whose district or village changes
    ledger_of: set[int] = set()  # sponsorships whose ledger rows change
    deducted = False
    for obj in session.new:
        if isinstance(obj, Sponsorship):
            sponsors.add(obj.sponsor_id)
        elif isinstance(obj, Sponsor):
            new_sponsors.append(obj)
        elif isinstance(obj, Deduction):
            ledger_of.add(obj.sponsorship_id)
    for obj in [*session.dirty, *session.deleted]:
        if isinstance(obj, Sponsorship):
            deleted = obj in session.deleted
            if deleted or _changed(obj, _SPONSORSHIP_FIELDS):
                history = inspect(obj).attrs.sponsor_id.history
                sponsors.update(int(i) for i in (*history.deleted, obj.sponsor_id) if i)
                if deleted or _changed(obj, _AREA_FIELDS):
                    deducted = True
                    if obj.id is not None:
                        area_changed.add(obj.id)
        elif isinstance(obj, Sponsor):
            if (obj in session.deleted or _changed(obj, _SPONSOR_FIELDS)) and obj.id:
                sponsors.add(obj.id)
        elif isinstance(obj, Deduction):
            ledger_of.add(obj.sponsorship_id)
            history = inspect(obj).attrs.sponsorship_id.history
            ledger_of.update(int(i) for i in history.deleted if i)
    if not sponsors and not new_sponsors and not ledger_of:
        return
    connection = session.connection()
    if ledger_of:
        deducted = True
        p = Sponsorship.__table__.c  # type: ignore[attr-defined]
        found = connection.execute(select(p.sponsor_id).where(p.id.in_(sorted(ledger_of))))
        sponsors.update(int(i) for (i,) in found)
    ids = sorted(sponsors)
    _lock(connection, ids, sorted(area_changed))
    before = read_footprint(connection, ids, deducted=deducted)
    session.info[_INFO] = (ids, new_sponsors, deducted, before)


def _after_flush(session: Session, _context: Any) -> None:
    pending = session.info.pop(_INFO, None)
    if pending is None:
        return
    ids, new_sponsors, deducted, before = pending
    ids = [*ids, *(s.id for s in new_sponsors if s.id is not None)]
    connection = session.connection()
    deltas = difference(read_footprint(connection, ids, deducted=deducted), before)
    write(connection, deltas)
    if deducted:  # a district or village changed: an erasure, maybe
        settle(connection, deltas)


def settle(connection: Connection, deltas: Mapping[Key, Values]) -> None:
    """A worker's village leaves the counts with their erasure (bot.storage.lookups.
    erase_worker): the deltas and totals of every village these deltas take something from
    are folded at once and the rows left at zero deleted, so no row of the counts names the
    village of an erased worker unless other sponsorships still count there (as the
    sponsorships table would). Only erasures come here: the hot path only appends."""
    villages = sorted(
        {key[:4] for key, values in deltas.items() if key[1] in ("v", "x") and key[3]}
    )
    for agency, kind, k1, k2 in villages:
        where = (
            STATS_DELTAS.c.agency_code == agency,
            STATS_DELTAS.c.kind == kind,
            STATS_DELTAS.c.k1 == k1,
            STATS_DELTAS.c.k2 == k2,
        )
        rows = connection.execute(
            delete(STATS_DELTAS).where(*where).returning(*_columns(STATS_DELTAS))
        ).all()
        _upsert(connection, _summed(rows, lambda key: key))
        connection.execute(
            delete(STATS_TOTALS).where(
                STATS_TOTALS.c.agency_code == agency,
                STATS_TOTALS.c.kind == kind,
                STATS_TOTALS.c.k1 == k1,
                STATS_TOTALS.c.k2 == k2,
                *(STATS_TOTALS.c[name] == 0 for name in COUNT_VALUES),
            )
        )


def _summed(rows: Iterable[Sequence[Any]], keyed: Any) -> dict[Key, Values]:
    sums: dict[Key, Values] = defaultdict(lambda: [0] * WIDTH)
    for row in rows:
        values = sums[keyed(tuple(row[: len(COUNT_KEY)]))]
        for i, value in enumerate(row[len(COUNT_KEY) :]):
            values[i] += int(value)
    return dict(sums)


_listening = threading.Lock()
_listened: list[bool] = []


def listen() -> None:
    """Follow every Session's flushes (once per process: on import)."""
    with _listening:
        if not _listened:
            event.listen(Session, "before_flush", _before_flush)
            event.listen(Session, "after_flush", _after_flush)
            _listened.append(True)


# ---- reading -----------------------------------------------------------------------------


def _columns(table: Any) -> list[Any]:
    return [table.c[name] for name in (*COUNT_KEY, *COUNT_VALUES)]


def _scoped(table: Any, agencies: frozenset[str] | None, month: str) -> Select[Any]:
    conditions = [or_(table.c.kind != "x", table.c.day == month)]
    if agencies is not None:
        conditions.append(table.c.agency_code.in_(sorted(agencies)))
    return select(*_columns(table)).where(and_(*conditions))


def read(
    connection: Connection | Session, agencies: frozenset[str] | None, month: date
) -> list[Sequence[Any]]:
    """The counts of these agencies (None: all), totals and unfolded deltas summed per key, in
    one statement; the ledger's only for `month`. Keys whose figures are all 0 are left out."""
    if agencies is not None and not agencies:
        return []
    both = union_all(
        _scoped(STATS_TOTALS, agencies, month.isoformat()),
        _scoped(STATS_DELTAS, agencies, month.isoformat()),
    ).subquery()
    keys = [both.c[name] for name in COUNT_KEY]
    # SUM of a BIGINT is a NUMERIC on PostgreSQL: cast back, Python gets ints, not Decimals.
    sums = [cast(func.sum(both.c[name]), BigInteger).label(name) for name in COUNT_VALUES]
    statement = select(*keys, *sums).group_by(*keys)
    width = len(COUNT_KEY)
    return [row for row in connection.execute(statement).all() if any(row[width:])]


# ---- folding -----------------------------------------------------------------------------


def _upsert(connection: Connection, sums: Mapping[Key, Values]) -> None:
    if not sums:
        return
    rows = [
        {**dict(zip(COUNT_KEY, key, strict=True)), **dict(zip(COUNT_VALUES, values, strict=True))}
        for key, values in sorted(sums.items())
    ]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), 1000):
        statement = dialect.insert(STATS_TOTALS).values(rows[start : start + 1000])
        statement = statement.on_conflict_do_update(
            index_elements=list(COUNT_KEY),
            set_={name: STATS_TOTALS.c[name] + statement.excluded[name] for name in COUNT_VALUES},
        )
        connection.execute(statement)


def fold(connection: Connection, now: datetime, batch: int = FOLD_BATCH) -> int:
    """Add the deltas into the totals and delete them, in the caller's transaction; the number
    of delta rows folded. Coverage start days before now's UTC date - PAST_DAYS are merged into
    day "". PostgreSQL: skipped (0) while another process folds; each delta row is folded by
    exactly the fold that deleted it (DELETE ... RETURNING)."""
    if connection.dialect.name == "postgresql":
        locked = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK}
        ).scalar_one()
        if not locked:
            return 0
    cutoff = (now.date() - timedelta(days=PAST_DAYS)).isoformat()

    def merged(key: Key) -> Key:
        if key[1] != "x" and key[6] and key[6] <= cutoff:
            return (*key[:6], "")
        return key

    folded = 0
    while True:
        chosen = select(STATS_DELTAS.c.id).order_by(STATS_DELTAS.c.id).limit(batch)
        rows = connection.execute(
            delete(STATS_DELTAS)
            .where(STATS_DELTAS.c.id.in_(chosen.scalar_subquery()))
            .returning(*_columns(STATS_DELTAS))
        ).all()
        if not rows:
            break
        folded += len(rows)
        _upsert(connection, _summed(rows, merged))
        if len(rows) < batch:
            break
    # Days that passed since they were folded: merged the same way.
    days = STATS_TOTALS.c.day
    old = connection.execute(
        delete(STATS_TOTALS)
        .where(STATS_TOTALS.c.kind != "x", days != "", days <= cutoff)
        .returning(*_columns(STATS_TOTALS))
    ).all()
    if old:
        _upsert(connection, _summed(old, merged))
    if folded or old:
        connection.execute(
            delete(STATS_TOTALS).where(*(STATS_TOTALS.c[name] == 0 for name in COUNT_VALUES))
        )
    return folded


# ---- the backfill ------------------------------------------------------------------------


def backfill_sql(dialect: str) -> str:
    """INSERT INTO stats_totals the counts of every row, in one statement (one GROUP BY over
    the parts): the same sums as `footprint` over every sponsor. Migration 0015_stats runs a
    frozen copy of it (tests/integration/test_counts.py checks the two agree)."""
    if dialect == "postgresql":

        def day(column: str) -> str:
            return f"to_char({column}, 'YYYY-MM-DD')"
    else:

        def day(column: str) -> str:
            return column

    started = "(p.status = 'active' AND p.coverage_start IS NOT NULL)"
    coverage_day = f"CASE WHEN {started} THEN {day('p.coverage_start')} ELSE '' END"
    states = ", ".join(
        "SUM(CASE WHEN p.status IN ("
        + ", ".join(f"'{s}'" for s, g in STATE_OF_STATUS.items() if g == state)
        + f")  THEN 1 ELSE 0 END) AS {state}"
        for state in STATES
    )
    zero_states = ", ".join(f"0 AS {state}" for state in STATES)
    kinds = {
        "a": ("s.funder_type", "''", "''", "''"),
        "d": ("p.district_code", "''", "p.district_name", "''"),
        "v": (
            "p.district_code",
            "COALESCE(p.village_code, '')",
            "p.district_name",
            "COALESCE(p.village_name, '')",
        ),
        "j": ("COALESCE(p.worker_job, '')", "''", "''", "''"),
        "r": ("COALESCE(p.worker_relationship, '')", "''", "''", "''"),
    }
    joined = "sponsorships p JOIN sponsors s ON s.id = p.sponsor_id"
    parts = [
        "SELECT s.agency_code, 'a' AS kind, s.funder_type AS k1, '' AS k2, '' AS k3, '' AS k4,"
        " '' AS day, COUNT(*) AS n, SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM sponsorships p"
        " WHERE p.sponsor_id = s.id) THEN 1 ELSE 0 END) AS drafts, "
        f"{zero_states}, 0 AS started, 0 AS deducted FROM sponsors s"
        " GROUP BY s.agency_code, s.funder_type"
    ]

    def grouped(*columns: str) -> str:
        return ", ".join(c for c in ("s.agency_code", *columns) if c != "''")

    for kind, (k1, k2, k3, k4) in kinds.items():
        parts.append(
            f"SELECT s.agency_code, '{kind}', {k1}, {k2}, {k3}, {k4}, {coverage_day}, 0, 0,"
            f" {states}, SUM(CASE WHEN {started} THEN 1 ELSE 0 END), 0 FROM {joined}"
            f" GROUP BY {grouped(k1, k2, k3, k4, coverage_day)}"
        )
        if kind != "a":
            parts.append(
                f"SELECT s.agency_code, '{kind}', {k1}, {k2}, '', '', '',"
                f" COUNT(DISTINCT p.sponsor_id), 0, {zero_states}, 0, 0 FROM {joined}"
                f" GROUP BY {grouped(k1, k2)}"
            )
    parts.append(
        "SELECT d.agency_code, 'x', p.district_code, COALESCE(p.village_code, ''), '', '',"
        f" {day('d.month')}, 0, 0, {zero_states}, 0, SUM(d.amount)"
        " FROM deductions d JOIN sponsorships p ON p.id = d.sponsorship_id"
        " WHERE d.deducted_at IS NOT NULL"
        f" GROUP BY d.agency_code, p.district_code, COALESCE(p.village_code, ''), {day('d.month')}"
    )
    keys = ", ".join(COUNT_KEY)
    values = ", ".join(COUNT_VALUES)
    sums = ", ".join(f"SUM({name})" for name in COUNT_VALUES)
    union = "\nUNION ALL\n".join(parts)
    return (
        f"INSERT INTO stats_totals ({keys}, {values})\n"
        f"SELECT {keys}, {sums} FROM (\n{union}\n) counted\nGROUP BY {keys}"
    )


def rebuild(connection: Connection) -> None:
    """Count everything again from the rows (after a bulk load that bypassed the bot): the
    deltas and totals deleted, the totals backfilled. In the caller's transaction; nothing may
    write sponsors, sponsorships or ledger rows meanwhile."""
    connection.execute(delete(STATS_DELTAS))
    connection.execute(delete(STATS_TOTALS))
    connection.exec_driver_sql(backfill_sql(connection.dialect.name))


listen()  # bot.storage.models imports this module: every process that writes the tables

__all__ = [
    "COUNT_KEY",
    "COUNT_VALUES",
    "STATES",
    "Key",
    "backfill_sql",
    "changing",
    "deducted_marked",
    "difference",
    "fold",
    "footprint",
    "listen",
    "read",
    "read_footprint",
    "rebuild",
    "write",
]
