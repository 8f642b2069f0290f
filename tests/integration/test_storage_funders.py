"""Sponsors without a NIP (issue 12), on SQLite and PostgreSQL: a village, BAZNAS, a company, a
non-ASN honorer sign up with no NIP (a NIP stays unique among ASN), each funder type holds at
most its own number of open sponsorships (checked in storage, not only in the flow), only an
ASN pays by salary deduction, the treasurer's deduction list holds salary deductions only, and
the statistics count sponsors per funder type."""

from __future__ import annotations

import base64
import csv
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.cli import main as cli
from bot.storage import audit
from bot.storage.exports import deduction_rows
from bot.storage.models import Deduction, Sponsor, Sponsorship
from bot.storage.repository import Repository
from bot.storage.statistics import FunderStatistics, read_statistics
from flows.commands import Applied, MarkMonthDeducted, Refused, RegisterSponsor
from tests.integration.exportkit import MONTH, add_deductions, grant
from tests.integration.test_storage_repository import SEALER, apply, register, submit
from tests.notify import notify

LIMITS = {"asn": 1, "desa": 3, "perusahaan": 2}


def village(user_id: int, **changes: object) -> RegisterSponsor:
    command = RegisterSponsor(
        user_id=user_id,
        nip=None,
        nip_kind=None,
        full_name="Asep Saepudin",
        agency_code="dpmd",
        phone_e164="+6281234567891",
        funder_type="desa",
        organisation_name="Wanaraja",
        organisation_code="32.05.03.2001",
        position="Kepala Desa",
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def niks(count: int, start: int = 11) -> list[str]:
    """Distinct valid NIKs of Garut Kota (women born 1990-01-05..)."""
    return [f"32050145019000{n:02d}" for n in range(start, start + count)]


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine, SEALER, notify=notify, max_sponsorships_by_funder=LIMITS)


def test_a_village_signs_up_without_a_nip(repo: Repository) -> None:
    assert apply(repo, 1, village(1)) == [Applied()]
    sponsor = repo.user_record(1).sponsor
    assert sponsor is not None
    assert (sponsor.funder_type, sponsor.organisation_name, sponsor.position) == (
        "desa",
        "Wanaraja",
        "Kepala Desa",
    )
    assert sponsor.nip_masked is None and sponsor.nip_kind is None


def test_many_sponsors_without_a_nip_while_a_nip_stays_unique_among_asn(
    repo: Repository, engine: Engine
) -> None:
    assert apply(repo, 1, village(1)) == [Applied()]
    assert apply(repo, 2, village(2, organisation_name="Wanamekar")) == [Applied()]
    company = village(3, funder_type="perusahaan", organisation_name="PT Sumber Rejeki")
    assert apply(repo, 3, replace(company, organisation_code=None)) == [Applied()]
    assert apply(repo, 4, register(4)) == [Applied()]
    assert apply(repo, 5, register(5)) == [Refused("nip_taken")]
    with Session(engine) as session:
        assert session.query(Sponsor).count() == 4


def test_a_nip_is_given_by_an_asn_and_nobody_else(repo: Repository) -> None:
    with pytest.raises(ValueError, match="NIP"):
        apply(repo, 1, village(1, nip="198503152010011001", nip_kind="PNS"))
    with pytest.raises(ValueError, match="NIP"):
        apply(repo, 1, register(1, nip=None, nip_kind=None))
    with pytest.raises(ValueError, match="funder type"):
        apply(repo, 1, village(1, funder_type="koperasi"))
    assert repo.user_record(1).sponsor is None


def test_the_table_keeps_the_nip_to_asn(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, village(1))
    apply(repo, 2, register(2))
    with Session(engine) as session:
        asn = session.query(Sponsor).filter_by(user_id=2).one()
        desa = session.query(Sponsor).filter_by(user_id=1).one()
        assert asn.nip_sealed is not None
        desa.nip_sealed, desa.nip_index = asn.nip_sealed, "another-index"
        desa.nip_masked, desa.nip_kind = asn.nip_masked, "PNS"
        with pytest.raises(IntegrityError, match="funder_nip"):
            session.flush()
        session.rollback()
        asn = session.query(Sponsor).filter_by(user_id=2).one()
        asn.funder_type = "honorer"  # an honorer with a NIP: refused
        with pytest.raises(IntegrityError, match="funder_nip"):
            session.flush()


def test_each_funder_type_its_own_limit(repo: Repository) -> None:
    apply(repo, 1, village(1))
    apply(repo, 2, register(2))
    first, second, third, fourth, fifth = niks(5)
    paid = {"payment_method": "village_budget"}
    for key, nik in (("a", first), ("b", second), ("c", third)):
        [outcome] = apply(repo, 1, submit(1, key, nik=nik, **paid))
        assert isinstance(outcome, Applied), outcome
    # The village's fourth: over its 3.
    assert apply(repo, 1, submit(1, "d", nik=fourth, **paid)) == [Refused("limit_reached")]
    # An ASN holds 1, however many a village may.
    assert isinstance(apply(repo, 2, submit(2, "e", nik=fifth))[0], Applied)
    assert apply(repo, 2, submit(2, "f", nik=fourth)) == [Refused("limit_reached")]


def test_a_funder_type_without_a_limit_sponsors_nobody(repo: Repository) -> None:
    # BAZNAS is not in LIMITS (the programme does not offer it): storage refuses its first.
    apply(repo, 1, village(1, funder_type="baznas", organisation_name=None))
    [outcome] = apply(repo, 1, submit(1, "a", nik=niks(1)[0], payment_method="zakat"))
    assert outcome == Refused("limit_reached")


def test_only_an_asn_pays_by_salary_deduction(repo: Repository) -> None:
    apply(repo, 1, village(1))
    [outcome] = apply(repo, 1, submit(1, "a", nik=niks(1)[0]))  # salary_deduction
    assert outcome == Refused("payment_not_allowed")


def test_the_treasurers_list_holds_the_asn_salary_deductions_and_self_payments(
    repo: Repository, engine: Engine
) -> None:
    """As before issue 12: the agency's ASN, also those paying directly ("Saya bayar langsung"),
    whose months the treasurer marks too; a village's transfer is not the treasurer's."""
    apply(repo, 1, register(1))
    apply(repo, 2, register(2, nip="199001012015032002"))
    apply(repo, 3, village(3))
    cut, direct, village_paid = niks(3)
    references = []
    for user_id, nik, method in (
        (1, cut, "salary_deduction"),
        (2, direct, "self_payment"),
        (3, village_paid, "village_budget"),
    ):
        [outcome] = apply(
            repo, user_id, submit(user_id, f"k{user_id}", nik=nik, payment_method=method)
        )
        assert isinstance(outcome, Applied) and outcome.reference
        references.append(outcome.reference)
    add_deductions(engine, references)  # the ledger owes all three this month
    with Session(engine) as session:
        rows = list(deduction_rows(session, SEALER, MONTH, None))
    assert sorted(row.reference for row in rows) == sorted(references[:2])
    assert {row.nip for row in rows} == {"198503152010011001", "199001012015032002"}


def test_statistics_count_sponsors_per_funder_type(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1, agency_code="dpmd"))
    apply(repo, 2, village(2))
    apply(repo, 3, village(3, organisation_name="Wanamekar"))
    paid = {"payment_method": "village_budget"}
    first, second = niks(2)
    apply(repo, 2, submit(2, "a", nik=first, **paid))
    apply(repo, 2, submit(2, "b", nik=second, **paid))
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    with Session(engine) as session:
        stats = read_statistics(session, None, now=now, catalog_codes=["dpmd"])
        other = read_statistics(session, frozenset({"dinkes"}), now=now, catalog_codes=[])
    assert stats.funders == (FunderStatistics("asn", 1, 0), FunderStatistics("desa", 2, 2))
    assert other.funders == ()  # within the reader's agencies only
    assert stats.month == date(2026, 12, 1)


@pytest.fixture
def cli_database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # the default output file lands here
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    return database_url


def test_the_transfers_list_holds_what_is_paid_otherwise(
    cli_database: str, repo: Repository, engine: Engine, tmp_path: Path
) -> None:
    apply(repo, 1, register(1))
    apply(repo, 2, register(2, nip="199001012015032002"))
    apply(repo, 3, village(3))
    cut, direct, village_paid = niks(3)
    references = []
    for user_id, nik, method in (
        (1, cut, "salary_deduction"),
        (2, direct, "self_payment"),  # an ASN paying directly: the treasurer's, not a transfer
        (3, village_paid, "village_budget"),
    ):
        [outcome] = apply(
            repo, user_id, submit(user_id, f"k{user_id}", nik=nik, payment_method=method)
        )
        assert isinstance(outcome, Applied) and outcome.reference
        references.append(outcome.reference)
    add_deductions(engine, references)
    assert cli(["export", "transfers", "--month", "2026-12"]) == 0
    with (tmp_path / "transfer-2026-12.csv").open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["reference"] for row in rows] == [references[2]]  # not the ASN's
    assert rows[0]["lembaga"] == "Pemerintah Desa Wanaraja"
    assert rows[0]["jabatan"] == "Kepala Desa" and rows[0]["iuran"] == "16800"
    assert rows[0]["cara_bayar"] == "Transfer dari APBDes"
    assert rows[0]["nik_pekerja"] == "3205********0013"  # masked: no full NIK in this list
    with Session(engine) as session:
        logged = [(e.action, e.row_count) for e in audit.entries(session)]
    assert logged == [("export.transfers", 1)]


def test_the_treasurers_mark_leaves_the_transfers_alone(repo: Repository, engine: Engine) -> None:
    """/rekap lists the ASN's rows (salary deductions and self-payments) and marks what it lists:
    a village's transfer of the same agency stays unmarked, until the transfers are marked."""
    apply(repo, 1, register(1, agency_code="dpmd"))
    apply(repo, 2, register(2, nip="199001012015032002", agency_code="dpmd"))
    apply(repo, 3, village(3))
    cut, direct, village_paid = niks(3)
    references = []
    for user_id, nik, method in (
        (1, cut, "salary_deduction"),
        (2, direct, "self_payment"),
        (3, village_paid, "village_budget"),
    ):
        [outcome] = apply(
            repo, user_id, submit(user_id, f"k{user_id}", nik=nik, payment_method=method)
        )
        assert isinstance(outcome, Applied) and outcome.reference
        references.append(outcome.reference)
    add_deductions(engine, references)
    grant(engine, 800, "treasurer", "dpmd")
    [outcome] = repo.apply(800, [MarkMonthDeducted(800, MONTH)])
    assert outcome == Applied(row_count=2)
    assert marked_references(engine) == {
        references[0]: True,
        references[1]: True,
        references[2]: False,
    }
    [outcome] = repo.apply(800, [MarkMonthDeducted(800, MONTH, transfers=True)])
    assert outcome == Applied(row_count=1)
    assert set(marked_references(engine).values()) == {True}


def test_marking_the_transfers_leaves_the_asn_rows_alone(repo: Repository, engine: Engine) -> None:
    apply(repo, 1, register(1, agency_code="dpmd"))
    apply(repo, 3, village(3))
    cut, village_paid = niks(2)
    references = []
    for user_id, nik, method in ((1, cut, "salary_deduction"), (3, village_paid, "village_budget")):
        [outcome] = apply(
            repo, user_id, submit(user_id, f"k{user_id}", nik=nik, payment_method=method)
        )
        assert isinstance(outcome, Applied) and outcome.reference
        references.append(outcome.reference)
    add_deductions(engine, references)
    grant(engine, 800, "treasurer", "dpmd")
    [outcome] = repo.apply(800, [MarkMonthDeducted(800, MONTH, transfers=True)])
    assert outcome == Applied(row_count=1)
    assert marked_references(engine) == {references[0]: False, references[1]: True}


def marked_references(engine: Engine) -> dict[str, bool]:
    with Session(engine) as session:
        return {
            reference: deducted_at is not None
            for reference, deducted_at in session.execute(
                select(col(Sponsorship.reference), col(Deduction.deducted_at)).join(
                    Deduction, col(Deduction.sponsorship_id) == col(Sponsorship.id)
                )
            )
        }
