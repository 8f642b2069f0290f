"""The sample data set of the playground: `peduli demo`, and `make run` without a token.

A newcomer's playground should not start empty: /status, /statistik, the exports and the
announcement audiences need people and sponsorships. This module writes them into the
playground's database through the product's own code paths (the roster parser and store, the
unit of work's domain commands, the ledger), so every row is valid as the product sees it: NIPs
and NIKs pass the validators and are sealed with the data key, consents carry the hash of the
statement the flows word, statuses move along the transition table.

What is loaded (times relative to now, in the programme's time zone):
- the roster: ASN of several agencies of the programme's catalog, some never signed up;
- sponsors (signed-up ASN), among them the persona ASN (emulator.personas.ASN);
- sponsorships in every status: waiting for the worker (one link fresh, one opened), confirmed
  (the persona worker agreed in their chat; another worker in person), active with a KPJ number
  and coverage, lapsed (two months without a deduction), withdrawn (by the sponsor, by the worker),
  declined; with their consent records;
- the deduction ledger: the months since coverage began, marked deducted except the lapsed one's;
- staff: the persona treasurer for the persona ASN's agency, an operator; the persona admin is a
  superadmin (ADMIN_IDS of the playground); a campaign deadline; a correction request.
The notifications these events would send are not queued: the sample data are history.

Idempotent: a database where the persona ASN has signed up is left as it is. `reset` drops every
table (migrations down to nothing) and loads afresh: the playground holds test data only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from bot.catalog import ProgrammeSettings, load_programme
from bot.i18n import Renderer, text_hash
from bot.security.crypto import Sealer
from bot.settings import Settings
from bot.storage import census
from bot.storage.audit import Actor
from bot.storage.db import (
    Database,
    create_db_engine,
    downgrade_database,
    shown_url,
    upgrade_database,
)
from bot.storage.keys import verified_sealer
from bot.storage.lookups import ConsentStatement
from bot.storage.repository import Repository
from bot.storage.roster import store_roster
from emulator.personas import ADMIN, ASN, TREASURER, WORKER, Persona, mobile_number
from flows.catalog import Region
from flows.commands import (
    ActivateCoverage,
    Applied,
    Command,
    ConsentGiven,
    GrantStaffRole,
    InvitationOpened,
    MarkMonthDeducted,
    OpenInvitation,
    Outcome,
    RecordInPersonConsent,
    RegisterSponsor,
    RequestCorrection,
    SetCampaign,
    SubmitSponsorship,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
    WorkerDetails,
)
from flows.context import Context, UserFacts
from flows.events import Event, Notice
from flows.ledger import add_months, month_of
from flows.rights import in_person_statement
from flows.roster import parse_roster
from flows.sponsorship import consent_statement
from flows.validators.masking import mask_nip
from flows.validators.nik import check_nik
from flows.validators.nip import check_nip
from flows.worker import answers_from
from flows.worker import statement as worker_statement

PROGRAMME: Final = "jkk_jkm"
OPERATOR_ID: Final = 9003  # an operator of two agencies (not a persona of the page)
PAYMENT: Final = "salary_deduction"


class DemoError(RuntimeError):
    """The sample data do not fit this database (e.g. a NIP signed up by someone else)."""


@dataclass(frozen=True)
class Person:
    """An ASN of the sample roster. user_id None: on the roster, never signed up."""

    name: str
    agency: str
    user_id: int | None = None
    kind: Literal["PNS", "PPPK"] = "PNS"


@dataclass(frozen=True)
class Worker:
    name: str
    job: str  # a job of bot/data/programme.toml
    female: bool
    user_id: int | None = None  # the worker's Telegram id, when they have Telegram
    relationship: str = "tidak_ada"  # who the worker is to the sponsor


# The roster, agencies of bot/data/agencies_garut.csv. Sponsors' Telegram ids from 2001; the
# persona ASN first. Names of West Java (the catalog's regency is Garut).
ROSTER: Final[tuple[Person, ...]] = (
    Person("Siti Rahmawati", "dinkes", ASN.user_id),
    Person("Asep Saepudin", "disdik", 2001),
    Person("Euis Komariah", "dinsos", 2002),
    Person("Dadang Hermawan", "bappeda", 2003),
    Person("Yayan Sopyan", "dishub", 2004),
    Person("Neneng Hasanah", "disdik", 2005, "PPPK"),
    Person("Cecep Gunawan", "dinkes", 2006),
    Person("Iis Sumiati", "setda", 2007),
    Person("Ujang Rahmat", "dinsos", 2008),
    Person("Lilis Suryani", "bpkad", 2009),
    Person("Agus Setiawan", "disdik", 2010),
    Person("Rina Kurniasih", "dinkes", 2011, "PPPK"),
    Person("Deden Kusnadi", "setda", 2012),
    Person("Yuyun Yuningsih", "bappeda", 2013),
    Person("Hendra Wijaya", "dinkes"),
    Person("Wawan Ridwan", "disdik"),
    Person("Nining Nurhayati", "disdik"),
    Person("Engkus Kusnadi", "dinsos"),
    Person("Tati Rostiati", "setda"),
    Person("Budi Hartono", "dishub"),
    Person("Entin Kartini", "bpkad"),
    Person("Jajang Nurjaman", "bappeda"),
    Person("Popon Rohaeni", "dinkes"),
    Person("Ade Supriadi", "dishub"),
)

SponsorshipPlan = Literal[
    "waiting", "opened", "confirmed", "in_person", "active", "lapsed", "declined", "withdrawn_w"
]


@dataclass(frozen=True)
class Plan:
    """One sponsorship: whose, of which worker, and how far it goes."""

    sponsor: int  # the sponsor's Telegram id
    worker: Worker
    plan: SponsorshipPlan


PLANS: Final[tuple[Plan, ...]] = (
    # The persona ASN: an older sponsorship she withdrew, then the persona worker's, confirmed.
    Plan(ASN.user_id, Worker("Enok Hartini", "art", True, None, "rumah_tangga"), "in_person"),
    Plan(
        ASN.user_id,
        Worker(WORKER.full_name, "ojek", False, WORKER.user_id, "tetangga"),
        "confirmed",
    ),
    Plan(2001, Worker("Ade Sunarya", "petani", False, 3001, "keluarga"), "active"),
    Plan(2002, Worker("Imas Masitoh", "guru_ngaji", True, 3002, "tetangga"), "active"),
    Plan(2003, Worker("Oman Abdurahman", "sopir", False, None, "rumah_tangga"), "active"),
    Plan(2005, Worker("Cucu Sumarni", "guru_honorer", True, 3005), "active"),
    Plan(2004, Worker("Endang Suhendar", "buruh_bangunan", False, 3004), "lapsed"),
    Plan(2006, Worker("Aceng Kurnia", "marbot", False, 3006, "tetangga"), "opened"),
    Plan(2007, Worker("Dede Rosita", "art", True, None, "rumah_tangga"), "waiting"),
    Plan(2008, Worker("Maman Suherman", "pedagang", False, None, "keluarga"), "in_person"),
    Plan(2009, Worker("Onih Suhaenih", "buruh_harian", True, 3009, "tetangga"), "declined"),
    Plan(2010, Worker("Tatang Sutisna", "rt_rw_desa", False, 3010, "keluarga"), "withdrawn_w"),
)


@dataclass
class DemoReport:
    """What `peduli demo` did, for its output."""

    database: str  # the URL, password masked
    loaded: bool  # False: the data were there already
    statuses: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    personas: tuple[Persona, ...] = (ASN, WORKER, ADMIN, TREASURER)
    reset: bool = False

    def render(self) -> str:
        lines = []
        if self.reset:
            lines.append(f"Emptied {self.database}.")
        if self.loaded:
            lines.append(f"Loaded the sample data into {self.database}:")
        else:
            lines.append(
                f"The sample data are in {self.database} already: nothing added"
                " (`peduli demo --reset` starts afresh)."
            )
        counts = self.counts
        lines.append(
            f"  {counts.get('roster', 0)} ASN on the roster, {counts.get('sponsors', 0)} signed up;"
            f" {counts.get('staff', 0)} staff roles; {counts.get('requests', 0)} open request"
        )
        shown = ", ".join(f"{count} {status}" for status, count in sorted(self.statuses.items()))
        lines.append(f"  {counts.get('sponsorships', 0)} sponsorships: {shown}")
        lines.append(
            f"  {counts.get('consents', 0)} consent records,"
            f" {counts.get('deductions', 0)} deduction ledger rows"
        )
        lines.append("Personas (Telegram user ids) in the playground's chat page:")
        for persona in self.personas:
            lines.append(
                f"  {persona.user_id:>5}  {persona.role:<9} {persona.full_name}"
                f" ({persona.description}), phone {persona.phone_number}"
            )
        return "\n".join(lines) + "\n"


def demo_chat_ids() -> list[int]:
    """The Telegram users of the sample data but the personas: people who started the bot
    before, whom the bot may message (reminders, notifications). The playground opens their
    chats in its emulator, which otherwise refuses a message to a chat never started ("chat not
    found"); the personas' chats are the chat page's own."""
    ids = {person.user_id for person in ROSTER if person.user_id is not None}
    ids |= {plan.worker.user_id for plan in PLANS if plan.worker.user_id is not None}
    return sorted(ids - {persona.user_id for persona in (ASN, WORKER, ADMIN, TREASURER)})


def playground_admin_ids(settings: Settings) -> str:
    """ADMIN_IDS of the playground: the configured ones and the persona admin."""
    ids = sorted(settings.admin_id_set | {ADMIN.user_id})
    return ",".join(str(user_id) for user_id in ids)


def load_demo(
    settings: Settings,
    *,
    reset: bool = False,
    only_if_empty: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> DemoReport:
    """Load the sample data into settings.database_url (migrated first). only_if_empty: load
    only into a database nobody has used (the playground's start); reset: empty it first."""
    shown = shown_url(settings.database_url)
    programme = load_programme(settings.programme_file)
    zone = programme.timezone
    now = (clock() if clock is not None else datetime.now(UTC)).astimezone(zone)
    if reset:
        downgrade_database(settings.database_url, "base")
    upgrade_database(settings.database_url)
    engine = create_db_engine(settings.database_url)
    try:
        sealer = verified_sealer(settings, engine)
        report = DemoReport(shown, loaded=False, reset=reset)
        loader = _Loader(engine, sealer, settings, programme, now)
        # The persona ASN signed up: loaded before (or the database has other data for 1001).
        loaded_already = loader.repository.user_record(ASN.user_id).sponsor is not None
        if not loaded_already and (not only_if_empty or census.is_empty(engine)):
            loader.load()
            report.loaded = True
        report.statuses = census.sponsorship_statuses(engine)
        report.counts = census.row_counts(engine)
        return report
    finally:
        engine.dispose()


def _no_notices(_event: Event) -> Iterable[Notice]:
    return ()


class _Clock:
    """The repository's clock, moved along the sample data's history."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


class _Loader:
    def __init__(
        self,
        engine: Database,
        sealer: Sealer,
        settings: Settings,
        programme: ProgrammeSettings,
        now: datetime,
    ) -> None:
        self.engine = engine
        self.sealer = sealer
        self.programme = programme
        self.catalog = programme.catalog
        self.zone = programme.timezone
        self.now = now
        self.month = month_of(now.date())
        self.clock = _Clock(now)
        self.repository = Repository(
            engine,
            sealer,
            notify=_no_notices,
            max_sponsorships_per_sponsor=self.catalog.max_sponsorships,
            max_sponsorships_by_funder=self.catalog.limits_by_funder(),
            max_sponsorships_by_agency=programme.max_sponsorships_by_agency(),
            clock=self.clock,
            invitation_ttl=timedelta(days=settings.invitation_days),
            admin_ids=frozenset({ADMIN.user_id}),
            agency_codes=frozenset(agency.code for agency in self.catalog.agencies),
        )
        self.renderer = Renderer("id")
        self.nips = _nips(self.today)
        self.niks = _niks(self.today, self.catalog.regions.children(self.catalog.home_regency.code))
        self.references: dict[int, str] = {}  # plan index -> reference
        self.tokens: dict[int, str] = {}

    @property
    def today(self) -> date:
        return self.now.date()

    def at(self, months_back: int, day: int, hour: int = 9) -> datetime:
        """A moment in the history: `months_back` months before this one (never after now)."""
        month = add_months(self.month, -months_back)
        moment = datetime.combine(month.replace(day=day), time(hour), tzinfo=self.zone)
        return min(moment, self.now - timedelta(minutes=5))

    def apply(self, user_id: int | None, *commands: Command) -> list[Outcome]:
        def consent_hash(consent: ConsentStatement) -> str:
            return text_hash(self.renderer(consent.statement))

        outcomes = self.repository.apply(user_id, list(commands), consent_text_hash=consent_hash)
        for command, outcome in zip(commands, outcomes, strict=True):
            if not isinstance(outcome, Applied | InvitationOpened):
                raise DemoError(
                    f"{type(command).__name__} was refused ({outcome}): the database holds other"
                    " data; `peduli demo --reset` empties it first"
                )
        return outcomes

    # ---- the steps, oldest first ------------------------------------------------------------

    def load(self) -> None:
        self.clock.at = self.at(5, 2)
        self._roster()
        self._sponsors()
        self._staff()
        self._sponsorships()
        self._ledger()
        self.clock.at = self.now - timedelta(minutes=1)
        self.apply(
            ADMIN.user_id,
            SetCampaign(ADMIN.user_id, add_months(self.month, 2) - timedelta(days=1), (14, 7, 1)),
        )

    def _roster(self) -> None:
        lines = ["nip,nama,instansi"]
        lines += [f"{self.nips[i]},{p.name},{p.agency}" for i, p in enumerate(ROSTER)]
        codes = [agency.code for agency in self.catalog.agencies]
        parsed = parse_roster("\n".join(lines) + "\n", codes, self.today)
        if parsed.problems:
            raise DemoError(f"the sample roster has problems: {parsed.problems}")
        store_roster(
            self.engine,
            self.sealer,
            parsed.rows,
            now=self.clock(),
            actor=Actor.cli(),
            dry_run=False,
        )

    def _sponsors(self) -> None:
        for index, person in enumerate(ROSTER):
            if person.user_id is None:
                continue
            self.clock.at = self.at(5, 3 + index % 20, 8 + index % 8)
            # They wrote to the bot (a private chat's id is the user's): announcements reach them.
            self.repository.remember_chat(person.user_id, person.user_id)
            self.apply(
                person.user_id,
                RegisterSponsor(
                    user_id=person.user_id,
                    nip=self.nips[index],
                    nip_kind=person.kind,
                    full_name=person.name,
                    agency_code=person.agency,
                    phone_e164=mobile_number(person.user_id),
                ),
            )

    def _staff(self) -> None:
        self.clock.at = self.at(5, 25)
        for user_id in (ADMIN.user_id, TREASURER.user_id, OPERATOR_ID):
            self.repository.remember_chat(user_id, user_id)
        self.apply(
            ADMIN.user_id,
            GrantStaffRole(ADMIN.user_id, TREASURER.user_id, "treasurer", ("dinkes",)),
            GrantStaffRole(ADMIN.user_id, OPERATOR_ID, "operator", ("disdik", "dinsos")),
        )

    def _person(self, user_id: int) -> Person:
        return next(person for person in ROSTER if person.user_id == user_id)

    def _submit(self, index: int, plan: Plan, at: datetime) -> None:
        """The sponsor's sponsorship flow's command, as flows.sponsorship words it."""
        self.clock.at = at
        person = self._person(plan.sponsor)
        agency = self.catalog.agency(person.agency)
        facts = UserFacts(
            user_id=plan.sponsor,
            language="id",
            registered=True,
            sponsor_name=person.name,
            agency_name=agency.name if agency else person.agency,
            sponsor_nip=mask_nip(self.nips[ROSTER.index(person)]),
        )
        context = Context(facts, self.catalog, at, lambda: f"demo-{index}")
        nik, district = self.niks[index % len(self.niks)]
        villages = self.catalog.regions.children(district.code)
        village = villages[index % len(villages)]
        answers = {"programme": PROGRAMME, "payment": PAYMENT, "worker_name": plan.worker.name}
        answers["nik"] = nik
        first_month = add_months(month_of(at.date()), 1)
        programme = self.catalog.programme(PROGRAMME)
        method = self.catalog.payment_method(PAYMENT)
        assert programme is not None and method is not None
        worker = plan.worker
        phone = mobile_number(worker.user_id) if worker.user_id is not None else None
        outcome = self.apply(
            plan.sponsor,
            SubmitSponsorship(
                idempotency_key=f"demo-{index}",
                sponsor_user_id=plan.sponsor,
                worker=WorkerDetails(
                    relationship=worker.relationship,
                    job=worker.job,
                    job_other=None,
                    full_name=worker.name,
                    nik=nik,
                    nik_disagreement=None,
                    phone_e164=phone,
                    district_code=district.code,
                    district_name=district.name,
                    village_code=village.code,
                    village_name=village.name,
                ),
                programme_code=programme.code,
                monthly_amount=programme.monthly_amount,
                payment_method=method.code,
                consent=ConsentGiven(
                    statement=consent_statement(answers, context, first_month),
                    text_version=method.consent_version,
                    amount=programme.monthly_amount,
                    first_month=first_month,
                    message_id=None,
                    given_at=at,
                ),
            ),
        )[0]
        assert isinstance(outcome, Applied)
        assert outcome.reference is not None and outcome.invitation_token is not None
        self.references[index] = outcome.reference
        self.tokens[index] = outcome.invitation_token

    def _open(self, index: int, worker_id: int, at: datetime) -> dict[str, object]:
        """The worker opens the deep link: what the worker flow starts from."""
        self.clock.at = at
        self.repository.remember_chat(worker_id, worker_id)
        outcome = self.apply(worker_id, OpenInvitation(worker_id, self.tokens[index]))[0]
        assert isinstance(outcome, InvitationOpened)
        sponsor = self._person(outcome.details.sponsor_user_id)
        agency = self.catalog.agency(sponsor.agency)
        return answers_from(outcome.details, agency.name if agency else sponsor.agency)

    def _worker_agrees(self, index: int, worker_id: int, at: datetime) -> None:
        answers = self._open(index, worker_id, at)
        self.clock.at = at + timedelta(minutes=4)
        self.apply(
            worker_id,
            WorkerConsents(
                user_id=worker_id,
                reference=self.references[index],
                statement=worker_statement(answers, self.catalog),
                text_version=self.catalog.privacy_notice_version,
                message_id=None,
                given_at=self.clock.at,
            ),
        )

    def _in_person(self, index: int, sponsor_id: int, at: datetime) -> None:
        self.clock.at = at
        reference = self.references[index]
        self.apply(
            sponsor_id,
            RecordInPersonConsent(
                user_id=sponsor_id,
                reference=reference,
                statement=in_person_statement({"reference": reference}),
                text_version=self.catalog.privacy_notice_version,
                message_id=None,
                given_at=at,
            ),
        )

    def _activate(self, index: int, at: datetime, start: date) -> None:
        self.clock.at = at
        kpj = f"2{index:02d}{(index * 7_919_333 + 12_345) % 10**8:08d}"
        self.apply(
            ADMIN.user_id,
            ActivateCoverage(self.references[index], kpj, start, ADMIN.user_id),
        )

    def _withdraw(
        self, index: int, user_id: int, subject: Literal["worker", "sponsor"], at: datetime
    ) -> None:
        self.clock.at = at
        self.apply(
            user_id,
            WithdrawConsent(
                user_id=user_id,
                reference=self.references[index],
                subject=subject,
                message_id=None,
                at=at,
                effective_month=add_months(month_of(at.date()), 1),
            ),
        )

    def _sponsorships(self) -> None:
        for index, plan in enumerate(PLANS):
            self._one(index, plan)
        # An ASN asks for a correction of their own sign-up data: the admin queue (/antrian).
        self.clock.at = self.now - timedelta(hours=3)
        self.apply(
            2012,
            RequestCorrection(
                user_id=2012,
                reference=None,
                subject="sponsor",
                details="Nama saya tertulis Deden Kusnadi, seharusnya Deden Kusnadi Saputra.",
                at=self.clock.at,
            ),
        )

    def _one(self, index: int, plan: Plan) -> None:
        worker_id = plan.worker.user_id
        if plan.plan in ("active", "lapsed"):
            back = 4 if plan.plan == "lapsed" else 3
            self._submit(index, plan, self.at(back, 3 + index))
            if worker_id is not None:
                self._worker_agrees(index, worker_id, self.at(back, 5 + index, 19))
            else:
                self._in_person(index, plan.sponsor, self.at(back, 6 + index))
            # Coverage from the month the deduction starts (the consent's first month).
            start = add_months(self.month, -back + 1)
            self._activate(index, self.at(back, 20 + index % 5, 10), start)
        elif plan.plan == "in_person" and plan.sponsor == ASN.user_id:
            # The persona ASN's first sponsorship: agreed in person, then she withdrew it.
            self._submit(index, plan, self.at(4, 2))
            self._in_person(index, plan.sponsor, self.at(4, 4))
            self._withdraw(index, plan.sponsor, "sponsor", self.at(4, 18, 20))
        elif plan.plan == "in_person":
            self._submit(index, plan, self.at(1, 8))
            self._in_person(index, plan.sponsor, self.at(1, 12))
        elif plan.plan == "confirmed":
            assert worker_id is not None
            self._submit(index, plan, self.at(1, 5))
            self._worker_agrees(index, worker_id, self.at(1, 6, 20))
        elif plan.plan == "declined":
            assert worker_id is not None
            self._submit(index, plan, self.at(2, 10))
            answers = self._open(index, worker_id, self.at(2, 11, 19))
            del answers
            self.clock.at = self.at(2, 11, 20)
            reference = self.references[index]
            self.apply(worker_id, WorkerDeclines(worker_id, reference, None, self.clock.at))
        elif plan.plan == "withdrawn_w":
            assert worker_id is not None
            self._submit(index, plan, self.at(3, 14))
            self._worker_agrees(index, worker_id, self.at(3, 15, 19))
            self._withdraw(index, worker_id, "worker", self.at(2, 2, 21))
        elif plan.plan == "opened":
            assert worker_id is not None
            self._submit(index, plan, self.now - timedelta(days=2))
            self._open(index, worker_id, self.now - timedelta(days=1))
        else:  # waiting: the link is fresh
            self._submit(index, plan, self.now - timedelta(hours=20))

    def _ledger(self) -> None:
        """Each month since coverage began: its rows opened, then marked deducted by the
        treasurers, except the lapsing sponsorship's last two (its agency's treasurer stopped);
        then the lapse rule runs now, as the running bot's ledger keeper does."""
        lapsing = {self._person(plan.sponsor).agency for plan in PLANS if plan.plan == "lapsed"}
        active_agencies = sorted(
            {self._person(plan.sponsor).agency for plan in PLANS if plan.plan == "active"}
        )
        if lapsing & set(active_agencies):
            raise DemoError("the lapsing sponsorship must be alone in its agency")
        for back in (3, 2, 1):
            month = add_months(self.month, -back)
            self.clock.at = self.at(back, 1, 7)
            self.repository.ledger.open_month(month)
            self.clock.at = self.at(back, 26, 10)
            agencies: Sequence[str] = (
                active_agencies
                if back < 3
                else [
                    *active_agencies,
                    *sorted(lapsing),
                ]
            )
            for agency in agencies:
                marker = TREASURER.user_id if agency == "dinkes" else ADMIN.user_id
                self.apply(marker, MarkMonthDeducted(marker, month, agency))
        self.clock.at = self.now - timedelta(minutes=2)
        self.repository.ledger.lapse_overdue(self.zone)
        self.repository.ledger.open_month(self.month)


def _nips(today: date) -> list[str]:
    """A valid NIP for each ASN of the roster (flows.validators.nip): PNS born 1970-1994,
    appointed at 25; PPPK appointed in 2023 (digits 13-14: 21)."""
    nips = []
    for index, person in enumerate(ROSTER):
        born = date(1970 + index % 25, 1 + index % 12, 1 + (index * 7) % 28)
        female = person.name.split()[0] in _FEMALE_FIRST_NAMES
        sex = "2" if female else "1"
        serial = f"{index + 1:03d}"
        service = f"{born.year + 25}{1 + index % 12:02d}" if person.kind == "PNS" else "202321"
        nip = f"{born:%Y%m%d}{service}{sex}{serial}"
        check = check_nip(nip, today)
        if not check.valid or check.kind != person.kind:
            raise DemoError(f"sample NIP {index} is not valid: {check.errors}")
        nips.append(nip)
    return nips


_FEMALE_FIRST_NAMES: Final = frozenset(
    {"Siti", "Euis", "Neneng", "Iis", "Lilis", "Rina", "Yuyun", "Nining", "Tati", "Entin", "Popon"}
)


def _niks(today: date, districts: Sequence[Region]) -> list[tuple[str, Region]]:
    """A valid NIK for each sample worker (flows.validators.nik), issued in a district of the
    programme's regency: women's birth day plus 40, serials from 0001."""
    found = []
    for index, plan in enumerate(PLANS):
        district = districts[(index * 5) % len(districts)]
        born = date(1965 + (index * 3) % 35, 1 + (index * 5) % 12, 1 + (index * 11) % 28)
        day = born.day + (40 if plan.worker.female else 0)
        region = district.code.replace(".", "")
        nik = f"{region}{day:02d}{born:%m%y}{index + 1:04d}"
        check = check_nik(nik, today)
        if not check.valid:
            raise DemoError(f"sample NIK {index} is not valid: {check.errors}")
        found.append((nik, district))
    return found
