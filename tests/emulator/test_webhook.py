"""Webhook mode: secret header, retries on non-2xx, replies inside the webhook response, and
redelivery of an update (the reason bots must handle updates idempotently)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from emulator import BotApiEmulator
from tests.emulator.conftest import RawClient

Reply = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]


class Receiver:
    """A webhook endpoint on loopback that records what it gets and answers as told."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.reply: dict[str, Any] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        self.received.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return web.Response(status=status, text="boom")
        if self.reply is not None:
            return web.json_response(self.reply)
        return web.json_response({})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


async def test_delivery_carries_the_secret_and_retries_on_500(
    emulator: BotApiEmulator, client: RawClient, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    await client.ok("setWebhook", url=receiver.url, secret_token="s3cr3t_-X")
    update = await emulator.user(1001).send_text("halo")
    await emulator.wait_until(lambda: len(receiver.received) == 2, 5, "two deliveries")
    assert [u for u, _ in receiver.received] == [update, update]  # the same update twice
    assert {secret for _, secret in receiver.received} == {"s3cr3t_-X"}
    assert [(d.attempt, d.status) for d in emulator.webhook_deliveries] == [(1, 500), (2, 200)]
    info = await client.ok("getWebhookInfo")
    assert info["url"] == receiver.url and info["pending_update_count"] == 0
    assert "500" in info["last_error_message"]


async def test_gives_up_after_the_last_retry(
    emulator: BotApiEmulator, client: RawClient, receiver: Receiver
) -> None:
    receiver.statuses = [502, 502, 502, 502]
    await client.ok("setWebhook", url=receiver.url)
    await emulator.user(1001).send_text("halo")
    attempts = 1 + len(emulator.webhook_retry_delays)
    await emulator.wait_until(
        lambda: len(emulator.webhook_deliveries) == attempts and emulator.pending_update_count == 0,
        5,
        "every attempt",
    )
    assert all(d.status == 502 for d in emulator.webhook_deliveries)


async def test_reply_in_webhook_response_is_executed(
    emulator: BotApiEmulator, client: RawClient, receiver: Receiver
) -> None:
    receiver.reply = {"method": "sendMessage", "chat_id": 1001, "text": "Balasan cepat"}
    await client.ok("setWebhook", url=receiver.url)
    user = emulator.user(1001)
    replies = await user.say("halo")
    assert [m.text for m in replies] == ["Balasan cepat"]
    assert emulator.calls[-1].source == "webhook-response"
    # A refused reply-in-response is recorded like any other refusal.
    receiver.reply = {"method": "sendMessage", "chat_id": 1001}
    await user.send_text("lagi")
    await emulator.wait_until(lambda: bool(emulator.rejections), 5, "a rejection")
    assert emulator.rejections[0].description == "Bad Request: message text is empty"


async def test_pending_updates_move_between_polling_and_webhook(
    emulator: BotApiEmulator, client: RawClient, receiver: Receiver
) -> None:
    first = await emulator.user(1001).send_text("sebelum webhook")
    await client.ok("setWebhook", url=receiver.url)
    await emulator.wait_until(lambda: len(receiver.received) == 1, 5, "the queued update")
    assert receiver.received[0][0] == first
    await client.ok("deleteWebhook")
    second = await emulator.user(1001).send_text("sesudah")
    assert await client.ok("getUpdates") == [second]
    await client.ok("setWebhook", url=receiver.url, drop_pending_updates=True)
    await asyncio.sleep(0.05)
    assert len(receiver.received) == 1  # the pending one was dropped


async def test_redeliver_in_webhook_mode(
    emulator: BotApiEmulator, client: RawClient, receiver: Receiver
) -> None:
    await client.ok("setWebhook", url=receiver.url)
    update = await emulator.user(1001).send_text("sekali")
    await emulator.wait_until(lambda: len(receiver.received) == 1, 5, "delivery")
    await emulator.redeliver(update["update_id"])
    await emulator.wait_until(lambda: len(receiver.received) == 2, 5, "redelivery")
    assert receiver.received[1][0] == update


async def test_redeliver_in_polling_mode(emulator: BotApiEmulator, client: RawClient) -> None:
    update = await emulator.user(1001).send_text("sekali")
    assert await client.ok("getUpdates") == [update]
    confirmed = await client.ok("getUpdates", offset=update["update_id"] + 1)
    assert confirmed == []
    await emulator.redeliver(update["update_id"])
    assert await client.ok("getUpdates", offset=update["update_id"] + 1) == [update]
    assert await client.ok("getUpdates", offset=update["update_id"] + 1) == []
