"""PostgreSQL at scale: `python -m bench.scale generate|measure|drop|all` (`make bench-scale`).

generate: a database of its own (``--database``, created from ``--postgres-url``; refused if it
exists unless ``--replace``), migrated by the bot's own migrations, filled with ``--sponsorships``
N sponsorships by COPY in batches, with progress: one Telegram user and one sponsor per ASN (a
valid NIP, sealed, its blind index, masked; a sealed phone), and per sponsorship a valid NIK
sealed with the bot's Sealer (bot.security.crypto.sealer_for) with its blind index in
nik_index/active_nik_index exactly as bot.storage.handlers.sponsorship writes them, the sponsor's
salary-deduction consent and, once the worker consented, the worker's. The data key is recorded
in the database (bot.storage.keys.record_key), so the bot and `peduli` with the same DATA_KEY
accept it. About one ASN in eleven has two sponsorships: an earlier one closed (declined and
erased, withdrawn or lapsed), then an open one. Agencies are the catalog's, skewed (the largest
holds about a fifth of the ASN), the workers' kecamatan and desa the catalog's regency's.

The secondary indexes and unique/foreign-key constraints of the tables filled are dropped before
the load and rebuilt after it from their own definitions (pg_get_indexdef/constraintdef): one
sorted build instead of millions of random B-tree inserts, and the schema afterwards is the
migrated one (tests/bench/test_scale.py checks it). Then the statistics' kept counts are
filled from the rows (bot.storage.counts.rebuild, the backfill of migration 0015_stats): the
bot writes them with every change, the COPY did not.

measure: p50/p99 over many calls of what the bot does, through the bot's own Repository:
- the duplicate-NIK check when a worker is registered: the NIK's blind index looked up among the
  open sponsorships (``Repository.reference_for_nik``: the query of the refused submission's
  ``_taken`` check, whose unique index ``active_nik_index`` is the rule itself), for a taken NIK
  and for a new one;
- /status of a sponsor: ``Repository.sponsorships_of`` (what the bot's /status lists), and the
  whole read of ``ConversationService._status`` (``Repository.status_of``: the record, the
  sponsorships as sponsor and as worker, on one connection);
- per-agency statistics: ``Repository.statistics`` for one agency (what `/statistik` of an
  operator and `peduli stats --agency` read, the audit entry included), for the largest agency
  and a middle one; every agency at once (a superadmin) is printed beside, not a goal.
Then EXPLAIN (ANALYZE, BUFFERS) of every SQL statement those calls issued (captured from the
engine), the plan's gist printed and the whole plans written to ``--plans``.
Goals (issue 13): the duplicate check and /status p99 under 2 ms, per-agency statistics under
1 s. Prints figures; asserts nothing on time (tests never do).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

from bench.load import nik_for

#: The data key of generated databases (a benchmark's, never a real one): measure reopens them.
BENCH_KEY = base64.b64encode(bytes(range(32))).decode()
DEFAULT_DATABASE = "bench_scale"
SPONSOR_USER_BASE = 5_000_000_000
WORKER_USER_BASE = 6_000_000_000
#: The moment the data is generated at (created_at spread over the 90 days before it).
GENERATED_AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
#: One ASN in this many has a closed sponsorship before their open one.
SECOND_EVERY = 11
TABLES = ("telegram_users", "sponsors", "sponsorships", "consents", "deductions")
#: The month of the ledger rows (GENERATED_AT's, in the programme's time zone).
LEDGER_MONTH = date(2026, 11, 1)
GOAL_LOOKUP_MS = 2.0
GOAL_STATISTICS_MS = 1000.0


# ----------------------------------------------------------------------------- the rows


def nip_at(index: int) -> str:
    """A valid PNS NIP, unique per index below about 999 * 2 * 12 * 10 * 9000: serial, sex,
    start month and year (2010-2019) of service, then the birth date (from 1965) vary."""
    serial = index % 999 + 1
    rest = index // 999
    sex = 1 + rest % 2
    month = 1 + (rest // 2) % 12
    year = 2010 + (rest // 24) % 10
    born = date(1965, 1, 1) + timedelta(days=rest // 240)
    return f"{born:%Y%m%d}{year}{month:02d}{sex}{serial:03d}"


def reference_at(index: int) -> str:
    """A unique reference of the bot's alphabet (PR- and six of its characters)."""
    from bot.storage.lookups import REFERENCE_ALPHABET

    base = len(REFERENCE_ALPHABET)
    chars = []
    for _ in range(6):
        index, digit = divmod(index, base)
        chars.append(REFERENCE_ALPHABET[digit])
    return "PR-" + "".join(reversed(chars))


@dataclass(frozen=True)
class Plan:
    """What the generator writes for N sponsorships, decided by index alone (measure and the
    tests recompute it): sponsorship i belongs to ASN i when i < sponsors, else to ASN
    i - sponsors, whose first sponsorship (index i - sponsors) is then a closed one."""

    sponsorships: int

    @property
    def sponsors(self) -> int:
        return self.sponsorships - self.seconds

    @property
    def seconds(self) -> int:
        return self.sponsorships // SECOND_EVERY

    def sponsor_of(self, index: int) -> int:
        return index if index < self.sponsors else index - self.sponsors

    def status(self, index: int) -> str:
        if index < self.seconds:  # followed by a second one: closed
            return ("declined", "withdrawn", "lapsed")[index % 3]
        draw = (index * 7919) % 100
        return "active" if draw < 55 else "confirmed" if draw < 75 else "waiting_worker"

    def is_open(self, index: int) -> bool:
        return self.status(index) in ("waiting_worker", "confirmed", "active")

    def erased(self, index: int) -> bool:
        return self.status(index) == "declined"

    @staticmethod
    def sponsor_user_id(sponsor: int) -> int:
        return SPONSOR_USER_BASE + sponsor

    @staticmethod
    def worker_user_id(index: int) -> int:
        return WORKER_USER_BASE + index


def agency_weights(count: int) -> list[float]:
    """Cumulative weights of `count` agencies: a few large ones (teachers, health), many small."""
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(count)]
    total = sum(weights)
    running, cumulative = 0.0, []
    for weight in weights:
        running += weight / total
        cumulative.append(running)
    return cumulative


def agency_index(sponsor: int, cumulative: Sequence[float]) -> int:
    draw = ((sponsor * 2654435761) % 2**32) / 2**32
    return min(bisect.bisect_right(cumulative, draw), len(cumulative) - 1)


@dataclass
class Catalog:
    agencies: list[str]
    areas: list[tuple[str, str, str, str]]  # district code, name, village code, name
    programmes: list[tuple[str, int]]
    relationships: list[str]
    jobs: list[str]
    timezone: Any = UTC

    @classmethod
    def load(cls) -> Catalog:
        from bot.catalog import load_programme
        from bot.settings import DEFAULT_PROGRAMME_FILE

        programme = load_programme(DEFAULT_PROGRAMME_FILE)
        catalog = programme.catalog
        areas = []
        for district in catalog.regions.children(catalog.home_regency.code):
            for village in catalog.regions.children(district.code):
                areas.append((district.code, district.name, village.code, village.name))
        return cls(
            agencies=[a.code for a in catalog.agencies],
            areas=areas,
            programmes=[(p.code, p.monthly_amount) for p in catalog.programmes],
            relationships=[r.code for r in catalog.relationships],
            jobs=[j.code for j in catalog.jobs if not j.needs_description],
            timezone=programme.timezone,
        )


class Rows:
    """The COPY rows of each table, sealed and indexed with the bot's own functions."""

    def __init__(self, plan: Plan, key: bytes, catalog: Catalog) -> None:
        from bot.security.crypto import sealer_for

        self.plan = plan
        self.sealer = sealer_for(key)
        self.catalog = catalog
        self.cumulative = agency_weights(len(catalog.agencies))
        self.statement_hash = "0" * 64

    def created(self, index: int) -> datetime:
        return GENERATED_AT - timedelta(seconds=(index * 104_729) % (90 * 86_400))

    def agency(self, sponsor: int) -> str:
        return self.catalog.agencies[agency_index(sponsor, self.cumulative)]

    def sponsor(self, sponsor: int) -> dict[str, list[tuple[Any, ...]]]:
        """The telegram_users and sponsors rows of ASN `sponsor`."""
        from flows.validators.masking import mask_nip, mask_phone

        seal, index = self.sealer.seal, self.sealer.blind_index
        user_id = self.plan.sponsor_user_id(sponsor)
        at = self.created(sponsor)
        nip = nip_at(sponsor)
        phone = f"+62812{sponsor % 10**8:08d}"
        user = (user_id, user_id, "id", at, at)
        row = (
            sponsor + 1,
            user_id,
            seal(nip),
            index(nip, "nip"),
            mask_nip(nip),
            "PNS",
            f"ASN Nomor {sponsor}",
            self.agency(sponsor),
            seal(phone),
            mask_phone(phone),
            at,
            at,
        )
        return {"telegram_users": [user], "sponsors": [row]}

    def sponsorship(self, index: int) -> dict[str, list[tuple[Any, ...]]]:
        """The sponsorships row of sponsorship `index`, its consents and, when active, its
        ledger row of the month (deducted in four cases out of five)."""
        from bot.storage.lookups import mask_kpj
        from flows.validators.masking import mask_nik

        plan, seal = self.plan, self.sealer.seal
        status = plan.status(index)
        sponsor = plan.sponsor_of(index)
        at = self.created(index)
        district, district_name, village, village_name = self.catalog.areas[
            (index * 31) % len(self.catalog.areas)
        ]
        programme, amount = self.catalog.programmes[index % len(self.catalog.programmes)]
        relationship = self.catalog.relationships[index % len(self.catalog.relationships)]
        job = self.catalog.jobs[index % len(self.catalog.jobs)]
        nik = nik_for(index)
        nik_index = self.sealer.blind_index(nik, "nik")
        linked = status in ("confirmed", "active", "withdrawn", "lapsed")
        worker_user = plan.worker_user_id(index) if linked else None
        active = status == "active"
        kpj = f"{26_000_000_000 + index:011d}"
        erased = plan.erased(index)
        row = (
            index + 1,
            reference_at(index),
            f"bench-scale-{index}",
            sponsor + 1,
            status,
            None if erased else f"Pekerja Nomor {index}",
            relationship,
            job,
            None,
            None if erased else seal(nik),
            None if erased else nik_index,
            None if erased else mask_nik(nik),
            nik_index if plan.is_open(index) else None,
            district,
            district_name,
            village if not erased else None,
            None if erased else village_name,
            programme,
            amount,
            "salary_deduction",
            worker_user,
            seal(kpj) if active else None,
            mask_kpj(kpj) if active else None,
            date(2026, 10, 1) if active else None,
            at + timedelta(days=3) if active else None,
            at + timedelta(days=20) if status == "withdrawn" else None,
            "sponsor" if status == "withdrawn" else None,
            at + timedelta(days=5) if erased else None,
            at,
            at,
            "id",
        )
        sponsor_user = plan.sponsor_user_id(sponsor)
        consents: list[tuple[Any, ...]] = [
            (
                index + 1,
                "sponsor",
                sponsor_user,
                "salary_deduction",
                "given",
                "consent.salary_deduction",
                "2026-11-1",
                self.statement_hash,
                amount,
                date(2026, 12, 1),
                at,
                "telegram",
                sponsor_user,
            )
        ]
        if worker_user is not None:
            consents.append(
                (
                    index + 1,
                    "worker",
                    worker_user,
                    "worker_data",
                    "given",
                    "consent.worker_data",
                    "2026-11-1",
                    self.statement_hash,
                    amount,
                    None,
                    at + timedelta(days=1),
                    "telegram",
                    worker_user,
                )
            )
        deductions = []
        if active:
            deducted = at + timedelta(days=10) if index % 5 else None
            deductions.append(
                (
                    index + 1,
                    LEDGER_MONTH,
                    self.agency(sponsor),
                    amount,
                    at,
                    deducted,
                    None if deducted is None else 1,
                )
            )
        return {"sponsorships": [row], "consents": consents, "deductions": deductions}


COLUMNS = {
    "telegram_users": ("user_id", "chat_id", "language", "created_at", "updated_at"),
    "sponsors": (
        "id",
        "user_id",
        "nip_sealed",
        "nip_index",
        "nip_masked",
        "nip_kind",
        "full_name",
        "agency_code",
        "phone_sealed",
        "phone_masked",
        "created_at",
        "updated_at",
    ),
    "sponsorships": (
        "id",
        "reference",
        "idempotency_key",
        "sponsor_id",
        "status",
        "worker_full_name",
        "worker_relationship",
        "worker_job",
        "worker_job_other",
        "nik_sealed",
        "nik_index",
        "nik_masked",
        "active_nik_index",
        "district_code",
        "district_name",
        "village_code",
        "village_name",
        "programme_code",
        "monthly_amount",
        "payment_method",
        "worker_user_id",
        "kpj_sealed",
        "kpj_masked",
        "coverage_start",
        "activated_at",
        "withdrawn_at",
        "withdrawn_by",
        "erased_at",
        "created_at",
        "updated_at",
        "worker_language",
    ),
    "consents": (
        "sponsorship_id",
        "subject",
        "subject_user_id",
        "kind",
        "action",
        "text_key",
        "text_version",
        "text_hash",
        "amount",
        "first_month",
        "recorded_at",
        "channel",
        "recorded_by_user_id",
    ),
    "deductions": (
        "sponsorship_id",
        "month",
        "agency_code",
        "amount",
        "created_at",
        "deducted_at",
        "deducted_by_user_id",
    ),
}


# ------------------------------------------------------------------------------- loading


@dataclass
class Deferred:
    """The secondary indexes and unique/foreign-key constraints of some tables, as SQL."""

    drops: list[str] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)


def deferred(connection: Connection, tables: Sequence[str]) -> Deferred:
    """What to drop before a bulk load and recreate after it: every index but the primary
    keys, and the unique and foreign-key constraints (check constraints stay: they check the
    rows as they come)."""
    found = Deferred()
    names = list(tables)
    constraints = connection.execute(
        text(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.conrelid = ANY(CAST(:tables AS regclass[])) "
            "AND c.contype IN ('u', 'f') ORDER BY c.contype DESC, c.conname"
        ),
        {"tables": names},
    ).all()
    indexes = connection.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(CAST(:tables AS regclass[])) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
            "AND c.conrelid = i.indrelid) ORDER BY 1"
        ),
        {"tables": names},
    ).all()
    for table, name, _definition in constraints:
        found.drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, definition in indexes:
        found.drops.append(f"DROP INDEX {name}")
        found.creates.append(str(definition))
    # Uniques first (foreign keys of other tables may need them), then foreign keys.
    for table, name, definition in sorted(constraints, key=lambda c: "FOREIGN" in c[2]):
        found.creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return found


def generate(
    url: str,
    sponsorships: int,
    *,
    key: bytes,
    batch: int = 20_000,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Migrate the database at `url` and fill it with `sponsorships` sponsorships (see the
    module docstring). The tables filled must be empty."""
    from bot.storage.db import create_db_engine, upgrade_database
    from bot.storage.keys import record_key

    say = progress or (lambda line: None)
    plan = Plan(sponsorships)
    upgrade_database(url)
    rows = Rows(plan, key, Catalog.load())
    engine = create_db_engine(url)
    started = time.monotonic()
    try:
        with engine.begin() as connection:
            record_key(connection, key)
            later = deferred(connection, TABLES)
            for statement in later.drops:
                connection.exec_driver_sql(statement)
        for table, count, make in (
            ("sponsors", plan.sponsors, rows.sponsor),
            ("sponsorships", plan.sponsorships, rows.sponsorship),
        ):
            for start in range(0, count, batch):
                stop = min(count, start + batch)
                _copy_batch(engine, make, start, stop)
                rate = stop / max(time.monotonic() - started, 1e-9)
                if table == "sponsorships":
                    rate = (plan.sponsors + stop) / max(time.monotonic() - started, 1e-9)
                say(f"{table}: {stop:,}/{count:,} ({rate:,.0f} rows/s)")
        say(f"loaded in {time.monotonic() - started:.0f} s; building indexes and constraints")
        rebuild(engine, later.creates, progress=say)
        begun = time.monotonic()
        fill_counts(engine)
        say(f"  {time.monotonic() - begun:6.1f} s the statistics' kept counts (counts.rebuild)")
        say(f"done in {time.monotonic() - started:.0f} s")
    finally:
        engine.dispose()
    return plan


def rebuild(
    engine: Engine, creates: Sequence[str], progress: Callable[[str], None] | None = None
) -> None:
    """Create the deferred indexes and constraints, then VACUUM ANALYZE the tables and move
    the id sequences past the ids the COPY gave. Without the bot's statement time limit
    (bot.storage.db sets one on every connection): an index over millions of rows takes
    minutes."""
    say = progress or (lambda line: None)
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for statement in creates:
            begun = time.monotonic()
            connection.exec_driver_sql(statement)
            say(f"  {time.monotonic() - begun:6.1f} s {statement[:110]}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET statement_timeout = 0")
        for table in TABLES:
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        # The sequences behind the ids the COPY gave: the bot's next rows follow them.
        for table in ("sponsors", "sponsorships", "consents", "deductions"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )


def fill_counts(engine: Engine) -> None:
    """The statistics' kept counts of the rows loaded (the COPY bypassed the bot, which writes
    them with every change): bot.storage.counts.rebuild, the backfill of migration 0015_stats,
    without the bot's statement time limit."""
    from bot.storage import counts

    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        counts.rebuild(connection)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE stats_totals")


def _copy_batch(engine: Engine, make: Callable[[int], Any], start: int, stop: int) -> None:
    """One transaction: the rows `make` gives for indexes start..stop, table by table (in the
    order of TABLES: referenced rows first) by COPY."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for index in range(start, stop):
        for table, made in make(index).items():
            rows.setdefault(table, []).extend(made)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET LOCAL synchronous_commit = off")
        for name in TABLES:
            if not rows.get(name):
                continue
            columns = ", ".join(COLUMNS[name])
            with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                for value in rows[name]:
                    copy.write_row(value)
        raw.commit()
    finally:
        raw.close()


# ----------------------------------------------------------------------------- databases


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str, *, replace: bool) -> str:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists and not replace:
                raise SystemExit(f"database {name} exists: --replace to generate it again")
            if exists:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- measuring


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figure:
    name: str
    goal_ms: float | None
    times_ms: list[float]
    statements: list[tuple[str, Any]] = field(default_factory=list)
    #: Why the calls failed (the bot's statement time limit, say), if they did.
    error: str | None = None

    @property
    def p50(self) -> float:
        return percentile(self.times_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.times_ms, 0.99)

    def line(self) -> str:
        if self.error is not None:
            return f"{self.name:<58} FAILED: {self.error}"
        goal = ""
        if self.goal_ms is not None:
            met = "met" if self.p99 < self.goal_ms else "NOT met"
            goal = f"  goal p99 < {self.goal_ms:g} ms: {met}"
        return (
            f"{self.name:<58} n={len(self.times_ms):<5} p50 {self.p50:9.3f} ms"
            f"  p99 {self.p99:9.3f} ms{goal}"
        )


class Capture:
    """The SQL statements (and parameters) an engine runs while `active`."""

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self.statements.append((statement, parameters))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, Any]]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


def timed(call: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        begun = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - begun))
    return times


def measure(
    url: str, *, key: bytes, samples: int, statistics_runs: int, seed: int = 13
) -> tuple[list[Figure], Plan]:
    from bot.security.crypto import sealer_for
    from bot.storage import audit
    from bot.storage.db import create_db_engine
    from bot.storage.repository import Repository
    from flows.access import Scope

    engine = create_db_engine(url)
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM sponsorships")).scalar_one())
        by_agency = connection.execute(
            text("SELECT agency_code, count(*) FROM sponsors GROUP BY 1 ORDER BY 2 DESC")
        ).all()
    plan = Plan(count)
    repository = Repository(engine, sealer_for(key), notify=lambda _event: ())
    capture = Capture(engine)
    pick = random.Random(seed)
    catalog = Catalog.load()
    figures: list[Figure] = []

    def figure(name: str, goal: float | None, calls: list[Callable[[], Any]]) -> None:
        times: list[float] = []
        with capture.recording() as statements:
            try:
                calls[0]()  # its statements, for EXPLAIN (the connection is warm after)
            except Exception as error:  # e.g. the bot's statement time limit: a figure too
                first = str(error).splitlines()[0]
                figures.append(Figure(name, goal, times, list(statements), first[:160]))
                return
        for call in calls:
            begun = time.perf_counter()
            try:
                call()
            except Exception as error:  # a later call over the time limit: the figure fails
                first = str(error).splitlines()[0]
                figures.append(Figure(name, goal, times, list(statements), first[:160]))
                return
            times.append(1000 * (time.perf_counter() - begun))
        figures.append(Figure(name, goal, times, list(statements)))

    taken = [i for i in (pick.randrange(count) for _ in range(samples * 3)) if plan.is_open(i)]
    taken = taken[:samples]
    for i in taken[:20]:
        found = repository.reference_for_nik(nik_for(i))
        if found != reference_at(i):
            raise SystemExit(f"the bot does not find generated NIK {i}: {found!r}")
    figure(
        "duplicate-NIK check, a NIK taken (reference_for_nik)",
        GOAL_LOOKUP_MS,
        [partial(repository.reference_for_nik, nik_for(i)) for i in taken],
    )
    fresh = [count + pick.randrange(10**6) for _ in range(samples)]
    figure(
        "duplicate-NIK check, a new NIK (reference_for_nik)",
        GOAL_LOOKUP_MS,
        [partial(repository.reference_for_nik, nik_for(i)) for i in fresh],
    )
    sponsors = [plan.sponsor_user_id(pick.randrange(plan.sponsors)) for _ in range(samples)]
    figure(
        "/status list of a sponsor (sponsorships_of)",
        GOAL_LOOKUP_MS,
        [partial(repository.sponsorships_of, u) for u in sponsors],
    )

    figure(
        "/status whole read (status_of: record, as sponsor, as worker)",
        GOAL_LOOKUP_MS,
        [partial(repository.status_of, u) for u in sponsors],
    )
    codes = [code for code, _ in by_agency]
    middle = codes[len(codes) // 2]
    now = GENERATED_AT.astimezone(catalog.timezone)
    listed = catalog.agencies
    for code, label in ((codes[0], "largest"), (middle, "middle")):
        size = int(dict(by_agency)[code])
        actor = audit.Actor(Scope.of("operator", [code]), 1)
        one = partial(
            repository.statistics, actor, frozenset({code}), now=now, catalog_codes=listed
        )
        figure(
            f"statistics of one agency, {label} ({code}, {size:,} ASN)",
            GOAL_STATISTICS_MS,
            [one] * statistics_runs,
        )
    superadmin = audit.Actor.cli()
    figure(
        "statistics of every agency (superadmin; not a goal)",
        None,
        [lambda: repository.statistics(superadmin, None, now=now, catalog_codes=listed)]
        * max(1, statistics_runs // 3),
    )
    engine.dispose()
    return figures, plan


def explain(url: str, figures: Sequence[Figure]) -> list[tuple[str, str, float, list[str]]]:
    """(figure, statement, execution ms, plan lines) of each captured statement."""
    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as connection:
            for figure in figures:
                for statement, parameters in figure.statements:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    lines = [str(row[0]) for row in cursor.fetchall()]
                    executed = next(
                        (float(x.split()[2]) for x in lines if x.startswith("Execution Time")),
                        0.0,
                    )
                    found.append((figure.name, statement, executed, lines))
            connection.rollback()
    finally:
        engine.dispose()
    return found


def gist(lines: Sequence[str], depth: int = 6) -> str:
    """The plan's nodes (no detail lines), the first `depth` of them."""
    nodes = [line.strip().removeprefix("->").strip() for line in lines if "(cost=" in line]
    short = [node.split("  (cost=")[0] for node in nodes[:depth]]
    return " / ".join(short)


# -------------------------------------------------------------------------------- command


def _key(text_key: str) -> bytes:
    from bot.security.crypto import decode_data_key

    return decode_data_key(text_key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("command", choices=("generate", "measure", "drop", "all"))
    parser.add_argument("--sponsorships", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test"
        ),
        help="a database of the server to connect to first (the generated one is made beside)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--replace", action="store_true", help="generate over an existing one")
    parser.add_argument("--keep", action="store_true", help="all: keep the database after")
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=2000, help="calls per look-up figure")
    parser.add_argument("--statistics-runs", type=int, default=10)
    parser.add_argument("--plans", type=Path, default=None, help="write the EXPLAIN plans there")
    parser.add_argument("--data-key", default=BENCH_KEY, help="the DATA_KEY the rows are under")
    args = parser.parse_args(argv)
    key = _key(args.data_key)
    url = database_url(args.postgres_url, args.database)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.command == "drop":
        drop_database(args.postgres_url, args.database)
        return 0
    if args.command in ("generate", "all"):
        url = create_database(args.postgres_url, args.database, replace=args.replace)
        say(f"generating {args.sponsorships:,} sponsorships into database {args.database}")
        generate(url, args.sponsorships, key=key, batch=args.batch, progress=say)
    try:
        if args.command in ("measure", "all"):
            report(url, key, args.samples, args.statistics_runs, args.plans)
    finally:
        if args.command == "all" and not args.keep:
            drop_database(args.postgres_url, args.database)
    return 0


def report(url: str, key: bytes, samples: int, statistics_runs: int, plans: Path | None) -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        sizes = connection.execute(
            text(
                "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) "
                "FROM pg_stat_user_tables WHERE relname = ANY(:t) ORDER BY relname"
            ),
            {"t": list(TABLES)},
        ).all()
    engine.dispose()
    figures, plan = measure(url, key=key, samples=samples, statistics_runs=statistics_runs)
    print(f"database: {plan.sponsorships:,} sponsorships, {plan.sponsors:,} sponsors")
    for name, rows, size in sizes:
        print(f"  {name}: ~{rows:,} rows, {size} with indexes")
    for figure in figures:
        print(figure.line())
    explained = explain(url, figures)
    print("EXPLAIN ANALYZE of each statement (execution time, plan gist):")
    for name, statement, executed, lines in explained:
        first = " ".join(statement.split())[:90]
        print(f"  [{name[:40]}] {executed:8.3f} ms  {gist(lines)}\n      {first}")
    if plans is not None:
        with plans.open("w") as out:
            for name, statement, _executed, lines in explained:
                out.write(f"-- {name}\n{statement}\n" + "\n".join(lines) + "\n\n")
        print(f"plans: {plans}")
    print(f"machine: {len(os.sched_getaffinity(0))} CPU(s), shared; load {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
