"""Two bot processes sharing PostgreSQL and Redis: an update is handled once, and one user's
updates are handled one at a time, whichever process receives them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from sqlalchemy import text

from bot.app import Built, build_service
from bot.service import Incoming
from bot.settings import Settings
from bot.storage.state import _encode
from bot.transport import Outgoing
from flows.inputs import ChoicePicked, CommandIssued, TextReceived
from tests.e2e.harness import NOW


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        await asyncio.sleep(0.01)  # a network round trip, so handlers really overlap
        self.sent.append((chat_id, message.text))
        return len(self.sent)

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        self.sent.append((chat_id, message.text))

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        return None

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        return None

    async def delete(self, chat_id: int, message_id: int) -> None:
        return None

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        self.sent.append((chat_id, caption))
        return len(self.sent)

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        self.sent.append((chat_id, caption))
        return len(self.sent)


def process(postgres_url: str, redis_url: str, prefix: str, tmp_path: Path) -> Built:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123456:TEST",
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        data_key=base64.b64encode(b"k" * 32).decode(),
        data_key_file=tmp_path / "unused",
    )
    return build_service(settings, clock=lambda: NOW)


async def test_processes_sharing_redis_handle_each_update_once_and_in_turn(
    postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    first = process(postgres_url, redis_url, redis_prefix, tmp_path)
    second = process(postgres_url, redis_url, redis_prefix, tmp_path)
    transport = RecordingTransport()
    try:
        start = Incoming(update_id=1, user_id=42, chat_id=42, input=CommandIssued("start"))
        await asyncio.gather(
            first.service.handle(start, transport), second.service.handle(start, transport)
        )
        assert len(transport.sent) == 1  # the same update, delivered to both: handled once

        document = await first.state.sessions.load(42)
        assert document is not None
        language = ChoicePicked(document["seq"], "lang:id", 1)
        await second.service.handle(Incoming(2, 42, 42, language, "cb-1", 1), transport)
        document = await first.state.sessions.load(42)
        assert document is not None and document["step"] == "nip"

        # Ten wrong NIPs of one user, spread over both processes at once: each turn must see
        # the session the previous one saved (the lock), or failures would be lost.
        sent_before = len(transport.sent)
        texts = [
            Incoming(update_id=100 + n, user_id=42, chat_id=42, input=TextReceived(f"x{n}"))
            for n in range(10)
        ]
        await asyncio.gather(
            *(
                (first if n % 2 else second).service.handle(incoming, transport)
                for n, incoming in enumerate(texts)
            )
        )
        document = await first.state.sessions.load(42)
        assert document is not None
        assert document["failures"] == 10, "a concurrent turn overwrote another's session"
        assert len(transport.sent) - sent_before == 10
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_older_session_copy_left_in_the_journal_does_not_send_a_user_back(
    postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """A process clears the session copies of the answers it delivered in whichever of its
    transactions takes their marks, and those commit in any order: a user's newer copy can be
    gone (its session is in Redis) while an older one is still there. The other process must
    not take that older copy for "the journal ahead of Redis": the user would get the question
    before the last one again (two processes under load lost conversations so)."""
    first = process(postgres_url, redis_url, redis_prefix, tmp_path)
    second = process(postgres_url, redis_url, redis_prefix, tmp_path)
    transport = RecordingTransport()
    try:
        await first.service.handle(Incoming(1, 42, 42, CommandIssued("start")), transport)
        older = await first.state.sessions.load(42)
        assert older is not None and older["step"] is None  # the language asked first
        language = ChoicePicked(older["seq"], "lang:id", 1)
        await first.service.handle(Incoming(2, 42, 42, language, "cb-1", 1), transport)
        # Update 2's copy cleared, update 1's left (its clearing transaction not committed).
        sealer = first.service.journal._sealer
        with first.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE processed_updates SET answer = NULL, session = :copy"
                    " WHERE update_id = 1"
                ),
                {"copy": _encode(older, sealer)},
            )
            connection.execute(
                text(
                    "UPDATE processed_updates SET answer = NULL, session = NULL WHERE update_id = 2"
                )
            )
        sent = len(transport.sent)
        nip = TextReceived("198503152010011001")
        await second.service.handle(Incoming(3, 42, 42, nip), transport)
        replies = " ".join(text for _, text in transport.sent[sent:])
        assert "NIP ini menunjukkan" in replies, replies
        document = await first.state.sessions.load(42)
        assert document is not None and document["step"] not in (None, "nip")
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_answer_whose_session_missed_redis_is_not_marked_there(
    postgres_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The newest update the Redis marks name bounds the session Redis holds: an answer whose
    session did not reach Redis is not marked there (its copy stays for the next turn)."""
    built = process(postgres_url, redis_url, redis_prefix, tmp_path)
    try:
        journal = built.service.journal
        await journal.mark_delivered(42, {5: True, 6: False}, flush=False)
        _, delivered = await journal.sessions.load_with_delivered(42)  # type: ignore[attr-defined]
        assert delivered == frozenset({5})
    finally:
        await built.aclose()
