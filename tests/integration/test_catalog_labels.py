"""Operator data is read from the catalog, never rebuilt from a naming convention: a job, a
relationship and a programme whose label keys are not "job.<code>" / "programme.<code>" show
their configured labels in the sponsor's flow, the worker's flow, /status and /data_saya; the
programme's amount and what it covers come from the configuration too."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Built, build_service
from bot.catalog import load_programme
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows.inputs import CommandIssued
from tests.e2e.harness import NOW
from tests.integration.turnkit import Chat, settings, texts

SPONSOR, WORKER = 3101, 3102
# Keys that exist in locales/, deliberately not named after the codes below.
CATEGORY_KEY, CATEGORY_TEXT = "job.ojek", "Ojek / ojol"
RELATIONSHIP_KEY, RELATIONSHIP_TEXT = "relationship.tetangga", "Tetangga"
PROGRAMME_KEY, PROGRAMME_TEXT = "programme.jkk_jkm_jht", "JKK + JKM + JHT"
COVERS_KEY, COVERS_TEXT = "covers.jkk_jkm_jht", "tabungan hari tua"


def programme_file(tmp_path: Path, amount: int = 21500, notice_version: str = "2030-01-1") -> Path:
    """The shipped programme with one relationship "warga", one job "pengemudi" and one
    programme "paket_dasar",
    labelled by keys that are not derived from their codes, at `amount` rupiah a month."""
    shipped = DEFAULT_PROGRAMME_FILE.read_text(encoding="utf-8")
    head = shipped[: shipped.index("\n[[relationships]]") + 1]
    tail = shipped[shipped.index("[[payment_methods]]") :]
    agencies = (DEFAULT_PROGRAMME_FILE.parent / "agencies_garut.csv").as_posix()
    head = re.sub(r'(?m)^agencies_file = ".*"$', f'agencies_file = "{agencies}"', head)
    version = f'privacy_notice_version = "{notice_version}"'
    head, found = re.subn(r'(?m)^privacy_notice_version = ".*"$', version, head)
    assert found == 1
    path = tmp_path / "programme.toml"
    path.write_text(
        head
        + f"""
[[relationships]]
code = "warga"
label = "{RELATIONSHIP_KEY}"

[[jobs]]
code = "pengemudi"
label = "{CATEGORY_KEY}"

[[programmes]]
code = "paket_dasar"
label = "{PROGRAMME_KEY}"
covers = "{COVERS_KEY}"
monthly_amount = {amount}

"""
        + tail,
        encoding="utf-8",
    )
    return path


def test_the_test_programme_file_is_what_the_tests_say(tmp_path: Path) -> None:
    catalog = load_programme(programme_file(tmp_path)).catalog
    [category] = catalog.jobs
    [relationship] = catalog.relationships
    assert (relationship.code, relationship.label.key) == ("warga", RELATIONSHIP_KEY)
    [programme] = catalog.programmes
    assert (category.code, category.label.key) == ("pengemudi", CATEGORY_KEY)
    assert (programme.code, programme.label.key, programme.monthly_amount) == (
        "paket_dasar",
        PROGRAMME_KEY,
        21500,
    )
    assert catalog.privacy_notice_version == "2030-01-1"


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[Built]:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    built = build_service(
        settings(database, tmp_path, programme_file=programme_file(tmp_path)), clock=lambda: NOW
    )
    try:
        yield built
    finally:
        await built.aclose()


async def test_configured_labels_show_in_both_flows_status_and_personal_data(
    built: Built,
) -> None:
    sponsor = Chat(built.service, SPONSOR)
    welcome = await sponsor.say("/start")
    assert f"{PROGRAMME_TEXT} Rp21.500 per bulan" in welcome
    await sponsor.press("🇮🇩 Bahasa Indonesia")
    await sponsor.say("198503152010011001")
    await sponsor.press("✅ Ya, benar")
    await sponsor.say("Dra. Siti Aminah")
    await sponsor.say("kesehatan")
    await sponsor.press("Dinas Kesehatan")
    await sponsor.share_contact("+6281234567890")
    await sponsor.press(RELATIONSHIP_TEXT)  # the buttons: their labels read from the catalog
    await sponsor.press(CATEGORY_TEXT)
    assert "Ketik NIK" in await sponsor.say("Ujang Suryana")
    assert "menunjukkan" in await sponsor.say("3205014501900001")
    await sponsor.press("✅ Ya, benar")
    await sponsor.press("⏭️ Lewati")
    await sponsor.press("🇮🇩 Bahasa Indonesia")
    await sponsor.say("garut kota")
    await sponsor.press("Garut Kota")
    await sponsor.press("Kota Kulon")
    await sponsor.press(f"{PROGRAMME_TEXT} — Rp21.500/bulan")
    await sponsor.press("Potong gaji lewat bendahara")
    summary = await sponsor.press("✅ Setuju")
    assert CATEGORY_TEXT in summary and PROGRAMME_TEXT in summary
    assert f"Hubungan: {RELATIONSHIP_TEXT}" in summary
    saved = await sponsor.press("💾 Simpan")
    [token] = re.findall(r"start=w_([A-Za-z0-9_-]+)", saved)

    status = await sponsor.say("/status")
    assert f"{PROGRAMME_TEXT} (" in status and COVERS_TEXT in status and "Rp21.500" in status

    worker = Chat(built.service, WORKER, first_update=1000)  # update ids are global
    opened = texts(await worker.handle(worker.incoming(CommandIssued("start", "w_" + token))))
    assert PROGRAMME_TEXT in opened and COVERS_TEXT in opened and "Rp21.500" in opened
    notice = await worker.say("05-01-1990")
    assert CATEGORY_TEXT in notice and PROGRAMME_TEXT in notice
    await worker.press("✅ Setuju")
    [consent] = built.service.repository.personal_data(WORKER).consents
    assert consent.text_version == "2030-01-1"  # the notice's version from the programme file

    worker_status = await worker.say("/status")
    assert PROGRAMME_TEXT in worker_status and COVERS_TEXT in worker_status
    personal = await worker.say("/data_saya")
    assert CATEGORY_TEXT in personal
    sponsor_data = await sponsor.say("/data_saya")
    assert PROGRAMME_TEXT in sponsor_data and "Rp21.500" in sponsor_data


async def test_the_welcome_shows_the_configured_amount(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    path = programme_file(tmp_path, amount=18250)
    built = build_service(settings(database, tmp_path, programme_file=path), clock=lambda: NOW)
    try:
        welcome = await Chat(built.service, SPONSOR).say("/start")
        assert "Rp18.250 per bulan" in welcome and "16.800" not in welcome
    finally:
        await built.aclose()
