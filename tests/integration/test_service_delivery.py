"""A turn whose answer could not be sent is still saved: a redelivered update must not apply the
same answer again (to the next question), but it gets the answer that was not sent."""

from __future__ import annotations

import base64
from pathlib import Path

from bot.app import build_service
from bot.service import Incoming
from bot.settings import Settings
from flows.inputs import ChoicePicked, CommandIssued, TextReceived
from tests.e2e.harness import NOW
from tests.integration.test_service_shared_redis import RecordingTransport


class FailingOnce(RecordingTransport):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    async def send(self, chat_id: int, message: object) -> int | None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("network down")
        return await super().send(chat_id, message)  # type: ignore[arg-type]


async def test_a_failed_send_keeps_the_turn_and_the_redelivery_gets_the_stored_answer(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123456:TEST",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        data_key=base64.b64encode(b"k" * 32).decode(),
        data_key_file=tmp_path / "unused",
    )
    built = build_service(settings, clock=lambda: NOW)
    service, transport = built.service, FailingOnce()
    try:
        await service.handle(Incoming(1, 7, 7, CommandIssued("start")), transport)
        document = await built.state.sessions.load(7)
        assert document is not None
        await service.handle(Incoming(2, 7, 7, ChoicePicked(document["seq"], "lang:id")), transport)
        document = await built.state.sessions.load(7)
        assert document is not None and document["step"] == "nip"

        transport.fail_next = True  # the answer to the NIP cannot be sent
        nip = Incoming(3, 7, 7, TextReceived("198503152010011001"))
        await service.handle(nip, transport)
        after = await built.state.sessions.load(7)
        assert after is not None and after["step"] == "nip_confirm"  # the turn was kept

        sent = len(transport.sent)
        await service.handle(nip, transport)  # Telegram delivers the same update again
        again = await built.state.sessions.load(7)
        assert again == after  # not applied twice (it would answer the next question)
        assert len(transport.sent) == sent + 1 and "Apakah ini benar?" in transport.sent[-1][1]

        await service.handle(nip, transport)  # answered now: a third delivery does nothing
        assert await built.state.sessions.load(7) == after and len(transport.sent) == sent + 1
    finally:
        await built.aclose()


async def test_redis_failing_after_the_commit_answers_and_the_next_turn_has_the_session(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """The turn committed, then Redis failed to take its session: the user gets the answer (not
    "busy": the message was processed), and the next turn starts from the committed session."""
    from tests.integration.turnkit import Chat, settings

    built = build_service(
        settings(postgres_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix),
        clock=lambda: NOW,
    )
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError

        from bot.storage.state import RedisUserLocks

        chat = Chat(built.service, 8)
        await chat.say("/start")
        locks = built.state.locks
        assert isinstance(locks, RedisUserLocks)
        close_turn = locks._close_turn  # the script that writes the session after the sends

        async def redis_fails(*args: object, **kwargs: object) -> object:
            raise RedisConnectionError("Redis is down")

        locks._close_turn = redis_fails  # type: ignore[assignment]
        shown = await chat.press("🇮🇩 Bahasa Indonesia")
        assert "Ketik NIP" in shown and "sibuk" not in shown
        stale = await built.state.sessions.load(8)
        assert stale is not None and stale["step"] != "nip"  # Redis did not get it

        locks._close_turn = close_turn
        assert "NIP ini menunjukkan" in await chat.say("198503152010011001")
    finally:
        await built.aclose()
