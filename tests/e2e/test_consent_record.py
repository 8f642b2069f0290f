"""Issue 6 item 1 end to end: the consent record's hash is of the statement the sponsor received,
and a statement changed after the consent is consented to again before anything is saved.

"The text" hashed is the consent statement (locales consent.<method>) rendered as the Telegram HTML
the bot sends: the consent message is that statement followed by the line asking to press
Setuju (sponsorship.ask_consent). Here it is rebuilt from what the user's chat holds (the plain
text and its entities, as Telegram stores a message), so a hash of anything else (the message key,
the whole message, a statement the user never saw) fails.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
import sqlite3
from pathlib import Path
from typing import Any

from bot.i18n import Renderer
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from flows.text import t
from tests.e2e.harness import BotUnderTest, register_worker, settings_for, sign_up, sqlite_url

LINK = re.compile(r"https://t\.me/emulated_test_bot\?start=(w_[A-Za-z0-9_-]+)")
TAGS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "code": "code"}


def as_html(text: str, entities: list[dict[str, Any]]) -> str:
    """A received message back into Telegram HTML (entity offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"]))
    cuts = sorted(
        {0, len(units) // 2}
        | {e["offset"] for e in ordered}
        | {e["offset"] + e["length"] for e in ordered}
    )
    out: list[str] = []
    open_: list[dict[str, Any]] = []
    for start, end in itertools.pairwise(cuts):
        for entity in reversed(list(open_)):
            if entity["offset"] + entity["length"] == start:
                out.append(f"</{TAGS[entity['type']]}>")
                open_.remove(entity)
        for entity in ordered:
            if entity["offset"] == start:
                out.append(f"<{TAGS[entity['type']]}>")
                open_.append(entity)
        out.append(html.escape(units[2 * start : 2 * end].decode("utf-16-le"), quote=False))
    out.extend(f"</{TAGS[entity['type']]}>" for entity in reversed(open_))
    return "".join(out)


def statement_received(
    turn: list[Any], marker: str = "PERNYATAAN", question_key: str = "sponsorship.ask_consent"
) -> str:
    """The consent statement in the message the user received, as the HTML the bot sent."""
    (message,) = [m for m in turn if m.event == "sent" and marker in (m.text or "")]
    assert all(e["type"] in TAGS for e in message.entities), message.entities
    received = as_html(message.text, message.entities)
    parameter = "statement" if question_key == "sponsorship.ask_consent" else "notice"
    question = Renderer("id")(t(question_key, **{parameter: ""}))
    assert received.endswith(question), received
    return received[: -len(question)]


def salary_consent_hashes(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT text_hash FROM consents WHERE kind = 'salary_deduction' ORDER BY id"
        ).fetchall()
    return [row[0] for row in rows]


def worker_consent_hashes(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT text_hash FROM consents WHERE subject = 'worker' AND action = 'given'"
        ).fetchall()
    return [row[0] for row in rows]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def consent_statement_of_register(user: FakeUser) -> str:
    """register_worker, keeping the consent message the user received."""
    turns: list[list[Any]] = []
    original = user.choose

    async def choose(label: str, **kwargs: Any) -> list[Any]:
        turn = await original(label, **kwargs)
        turns.append(turn)
        return turn

    user.choose = choose  # type: ignore[method-assign]
    try:
        await register_worker(user)
    finally:
        del user.choose
    (consent_turn,) = [
        turn
        for turn in turns
        if any(m.event == "sent" and "PERNYATAAN" in (m.text or "") for m in turn)
    ]
    return statement_received(consent_turn)


async def test_stored_consent_hash_is_of_the_statement_received_even_after_an_edit(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        user = emulator.user(7301, first_name="Siti", phone_number="+6281234567890")
        await sign_up(user)
        first = await consent_statement_of_register(user)
        assert "Ujang Suryana" in first and "3205********0001" in first

        # Editing the worker's name from the summary changes the statement: asked again.
        await user.choose("✏️ Nama")
        again = await user.say("Asep Sunandar")
        shown = "\n".join(m.text or "" for m in again)
        assert "tidak berlaku lagi" in shown and "💾 Simpan" not in again[-1].button_labels
        second = statement_received(again)
        assert "Asep Sunandar" in second and "Ujang Suryana" not in second
        summary = await user.choose("✅ Setuju")
        assert "💾 Simpan" in summary[-1].button_labels
        saved = await user.choose("💾 Simpan", min_count=3)
        shown = "\n".join(m.text or "" for m in saved)
        assert "Tersimpan" in shown
        link = LINK.search(shown)
        assert link, shown

        # The worker's own consent: the data held and the privacy notice they read.
        worker = emulator.user(7302, first_name="Asep")
        mark = worker.mark()
        await worker.send_command("start", link.group(1))
        assert "Asep Sunandar" in (await worker.replies_since(mark))[-1].text
        notice = statement_received(
            await worker.say("05-01-1990"), "Pemberitahuan privasi", "worker.ask_decision"
        )
        assert "Asep Sunandar" in notice
        await worker.choose("✅ Setuju")
    finally:
        await bot.stop()

    (stored,) = salary_consent_hashes(tmp_path / "peduli.sqlite3")
    assert stored == sha256(second)
    assert stored != sha256(first)
    assert worker_consent_hashes(tmp_path / "peduli.sqlite3") == [sha256(notice)]
    assert emulator.rejections == []
