"""Conversations begun before issue 12 split the category: a sponsor's draft of the sponsorship
flow version 1 starts over (its answers have no relationship nor job), a worker's review begun
with the old "category" answer still shows the job it held."""

from __future__ import annotations

from bot.i18n import Renderer
from flows import worker
from flows.session import Session
from flows.sponsorship import FLOW
from tests.unit.flowkit import PROGRAMME, signed_up

WORKER_ANSWERS = {
    "worker_name": "Ujang Suryana",
    "nik_masked": "3205********0001",
    "birth_date": "1990-01-05",
    "phone_masked": None,
    "village": "Kota Kulon",
    "district": "Garut Kota",
    "sponsor_name": "Dra. Siti Aminah",
    "programme": "jkk_jkm",
    "amount": 16800,
}


def test_a_sponsorship_draft_of_version_1_starts_over() -> None:
    assert FLOW.version == 2 and FLOW.first == "relationship"
    chat = signed_up()
    chat.session = Session(
        flow="sponsorship",
        version=1,
        step="worker_name",
        answers={"category": "art"},
        seq=chat.session.seq,
    )
    chat.type("Ujang Suryana")
    assert chat.message_keys() == ["menu.with_text"]
    assert not chat.session.active


def test_the_workers_notice_reads_the_job_of_an_older_session() -> None:
    render = Renderer("id")
    older = render(worker.statement({**WORKER_ANSWERS, "category": "ojek"}, PROGRAMME.catalog))
    assert "Pekerjaan: Ojek / ojol" in older
    described = {**WORKER_ANSWERS, "category": "lainnya", "category_other": "Tukang becak"}
    assert "Pekerjaan: Tukang becak" in render(worker.statement(described, PROGRAMME.catalog))
    current = {**WORKER_ANSWERS, "job": "marbot", "job_other": None}
    assert "Pekerjaan: Marbot / penjaga masjid" in render(
        worker.statement(current, PROGRAMME.catalog)
    )
    # Registered before the job was asked (a neighbour): said so, not left blank.
    unknown = {**WORKER_ANSWERS, "job": None, "job_other": None}
    assert "Pekerjaan: belum dicatat" in render(worker.statement(unknown, PROGRAMME.catalog))
