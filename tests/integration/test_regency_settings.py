"""Issue 12: in a deployment of two regencies (Garut, WIB, and Majene, WITA, deducting from TPP and
letting a sponsor sponsor two workers), what was still read from the first regency's settings is
read from the user's own regency: the database's sponsorship limit, a linked worker's time zone,
/rekap and its workbook, the reminders' quiet hours."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.app import Built, build_service
from bot.catalog import load_programme
from bot.settings import DEFAULT_PROGRAMME_FILE
from bot.storage.db import immediate
from bot.storage.reminders import ReminderStore, Zones
from flows.commands import Applied, InvitationOpened, OpenInvitation, Refused, WorkerConsents
from flows.inputs import CommandIssued
from flows.text import t
from tests.integration.exportkit import add_deductions, grant
from tests.integration.test_storage_repository import (
    SEALER,
    consent,
    register,
    submit,
    text_hash,
)
from tests.integration.turnkit import Chat, Recorder, settings, texts

DATA = DEFAULT_PROGRAMME_FILE.parent
# 16:30 UTC on 30 November: 23:30 in Garut (WIB), already 00:30 on 1 December in Majene (WITA).
NOW = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
GARUT_SPONSOR, MAJENE_SPONSOR, MAJENE_WORKER, TREASURER = 4101, 4102, 4103, 4104


class Documents(Recorder):
    """Keeps the files sent too."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[bytes] = []

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        self.files.append(data)
        return await super().send_document(chat_id, data, filename, caption)


def _copy(tmp_path: Path, name: str, agencies: str, **changes: str) -> str:
    text = (DATA / name).read_text(encoding="utf-8")
    changes[f'agencies_file = "{agencies}"'] = f'agencies_file = "{(DATA / agencies).as_posix()}"'
    for old, new in changes.items():
        assert text.count(old) == 1, (name, old)
        text = text.replace(old, new)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def two_regencies(tmp_path: Path) -> Path:
    """Garut first (the deployment's default), then Majene with its own limit and TPP."""
    garut = _copy(tmp_path, "programme.toml", "agencies_garut.csv")
    majene = _copy(
        tmp_path,
        "programme_majene.toml",
        "agencies_majene.csv",
        **{
            "max_sponsorships_per_sponsor = 1": "max_sponsorships_per_sponsor = 2",
            'deducted_from = "gaji"': 'deducted_from = "tpp"',
        },
    )
    path = tmp_path / "regencies.toml"
    path.write_text(f'regencies = ["{garut}", "{majene}"]\n', encoding="utf-8")
    return path


def test_the_deployment_is_what_the_tests_say(tmp_path: Path) -> None:
    programme = load_programme(two_regencies(tmp_path))
    garut, majene = programme.for_agency("dinkes"), programme.for_agency("mjn-dinkes")
    assert programme.catalog.max_sponsorships == 1 and programme.timezone.key == "Asia/Jakarta"
    assert (majene.catalog.max_sponsorships, majene.catalog.deducted_from) == (2, "tpp")
    assert (garut.catalog.max_sponsorships, garut.catalog.deducted_from) == (1, "gaji")
    assert majene.timezone.key == "Asia/Makassar"
    assert programme.for_agencies(["mjn-dinkes", "mjn-disdikpora"]) is majene
    assert programme.for_agencies(["mjn-dinkes", "dinkes"]) is programme
    assert programme.for_agencies(None) is programme
    assert programme.zone_of("mjn-dinkes").key == "Asia/Makassar"
    assert programme.zone_of("dinkes").key == "Asia/Jakarta"


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[Built]:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    path = two_regencies(tmp_path)
    made = build_service(
        settings(database, tmp_path, programme_file=path, admin_ids=str(9999)),
        clock=lambda: NOW,
    )
    try:
        yield made
    finally:
        await made.aclose()


def _apply(built: Built, user_id: int, command: object) -> object:
    [outcome] = built.service.repository.apply(
        user_id,
        [command],  # type: ignore[list-item]
        consent_text_hash=text_hash,
    )
    return outcome


def _sponsor(built: Built, user_id: int, agency: str) -> None:
    nip = f"19850315201001{user_id % 10000:04d}"
    assert _apply(built, user_id, register(user_id, nip, agency_code=agency)) == Applied()


def _submit(built: Built, user_id: int, n: int) -> object:
    nik = f"76050145019{10000 + n}"
    return _apply(built, user_id, submit(user_id, f"draft-{user_id}-{n}", nik=nik))


async def test_the_sponsorship_limit_is_the_sponsors_regencys(built: Built) -> None:
    """Majene lets a sponsor sponsor two at a time, Garut one: the database holds each."""
    _sponsor(built, GARUT_SPONSOR, "dinkes")
    _sponsor(built, MAJENE_SPONSOR, "mjn-dinkes")
    assert isinstance(_submit(built, GARUT_SPONSOR, 1), Applied)
    assert _submit(built, GARUT_SPONSOR, 2) == Refused("limit_reached")
    assert isinstance(_submit(built, MAJENE_SPONSOR, 3), Applied)
    assert isinstance(_submit(built, MAJENE_SPONSOR, 4), Applied)
    assert _submit(built, MAJENE_SPONSOR, 5) == Refused("limit_reached")


def _linked_worker(built: Built) -> str:
    """A Majene sponsor's worker who agreed in their own chat (the worker's Telegram user)."""
    _sponsor(built, MAJENE_SPONSOR, "mjn-dinkes")
    outcome = _submit(built, MAJENE_SPONSOR, 1)
    assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
    opened = _apply(built, MAJENE_WORKER, OpenInvitation(MAJENE_WORKER, outcome.invitation_token))
    assert isinstance(opened, InvitationOpened)
    statement = t("worker.consent_statement")
    agreed = WorkerConsents(MAJENE_WORKER, outcome.reference, statement, "2026-12-1", 2, NOW)
    assert isinstance(_apply(built, MAJENE_WORKER, agreed), Applied)
    return outcome.reference


async def test_a_linked_worker_reads_times_in_their_sponsors_regency(built: Built) -> None:
    """The worker's own chat: their consent's time in WITA, and a withdrawal takes effect from
    the month after Majene's date (1 December there: January), not Garut's (still November)."""
    reference = _linked_worker(built)
    record = built.service.repository.user_record(MAJENE_WORKER)
    assert record.sponsor is None and record.worker_agency == "mjn-dinkes"
    worker = Chat(built.service, MAJENE_WORKER)
    personal = await worker.say("/data_saya")
    assert "00:30 WITA" in personal and "WIB" not in personal, personal
    status = await worker.say("/status")
    assert reference in status
    await worker.press(f"⏹️ {reference}: tarik persetujuan")
    assert "ditarik" in await worker.press("⏹️ Ya, tarik persetujuan saya")
    sponsor = await Chat(built.service, MAJENE_SPONSOR, first_update=100).say("/status")
    assert "berhenti mulai Januari 2027" in sponsor, sponsor


async def test_the_recap_is_the_treasurers_regencys(built: Built) -> None:
    """A Majene treasurer's /rekap: deductions from TPP, consent dates in WITA."""
    _sponsor(built, MAJENE_SPONSOR, "mjn-dinkes")
    agreed = replace(consent(), given_at=NOW)
    command = submit(MAJENE_SPONSOR, "draft", nik="7605014501910001", consent=agreed)
    outcome = _apply(built, MAJENE_SPONSOR, command)
    assert isinstance(outcome, Applied) and outcome.reference
    add_deductions(built.engine, [outcome.reference], month=date(2026, 12, 1))
    grant(built.engine, TREASURER, "treasurer", "mjn-dinkes")
    treasurer = Chat(built.service, TREASURER)
    treasurer.transport = documents = Documents()
    rekap = treasurer.incoming(CommandIssued("rekap", "2026-12"))
    shown = texts(await treasurer.handle(rekap))
    assert "Rekap potongan Tambahan Penghasilan Pegawai (TPP) 2026-12" in shown, shown
    assert "gaji" not in shown
    book = openpyxl.load_workbook(io.BytesIO(documents.files[-1]))
    sheet = book["mjn-dinkes"]
    assert "potongan Tambahan Penghasilan Pegawai (TPP)" in str(sheet["A1"].value)
    # Agreed at 16:30 UTC on 30 November: 1 December in Majene.
    assert sheet["F4"].value == datetime(2026, 12, 1)


def test_the_reminders_keep_each_regencys_quiet_hours(built: Built) -> None:
    """At 12:00 UTC it is 19:00 in Garut and 20:00 (quiet hours) in Majene: the Majene sponsor's
    reminder waits for the morning there."""
    programme = built.programme
    zones = Zones.of(programme.catalog, programme.timezone)
    assert zones.zone("mjn-dinkes") == ZoneInfo("Asia/Makassar")
    assert zones.zone("dinkes") == ZoneInfo("Asia/Jakarta")
    _sponsor(built, GARUT_SPONSOR, "dinkes")
    _sponsor(built, MAJENE_SPONSOR, "mjn-dinkes")
    assert isinstance(_submit(built, GARUT_SPONSOR, 1), Applied)
    assert isinstance(_submit(built, MAJENE_SPONSOR, 2), Applied)
    store = ReminderStore(immediate(built.engine), SEALER, zones)
    day2 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    planned, _facts = store.upcoming(day2 - timedelta(hours=1), 2)
    by_person = {r.recipient_user_id: r.not_before for r in planned}
    assert by_person[GARUT_SPONSOR] is not None and by_person[MAJENE_SPONSOR] is not None
    assert by_person[MAJENE_SPONSOR].astimezone(ZoneInfo("Asia/Makassar")).hour < 20


async def test_statistics_of_a_regency_are_of_its_own_month(built: Built) -> None:
    """At 00:30 on 1 December in Majene (23:30 on 30 November in Garut): /statistik 76.05 shows
    Majene's December, the whole deployment the first regency's November."""
    _sponsor(built, MAJENE_SPONSOR, "mjn-dinkes")
    admin = Chat(built.service, 9999)
    majene = texts(await admin.handle(admin.incoming(CommandIssued("statistik", "76.05"))))
    assert "Bulan Desember 2026" in majene, majene
    everyone = texts(await admin.handle(admin.incoming(CommandIssued("statistik"))))
    assert "Bulan November 2026" in everyone, everyone
