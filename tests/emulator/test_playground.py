"""The playground's routes behind the chat page: callback answers kept per chat, documents as
downloads, personas (new, clear, reset), the long poll, the inspector protocol, the static
files."""

from __future__ import annotations

import asyncio
from typing import Any

from emulator import BotApiEmulator
from emulator.models import UploadedFile
from tests.emulator.conftest import RawClient

INLINE = {"inline_keyboard": [[{"text": "Ya", "callback_data": "yes"}]]}


async def get(client: RawClient, path: str) -> Any:
    async with client.session.get(f"{client.base_url}/_emulator{path}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def post(client: RawClient, path: str, body: dict[str, Any] | None = None) -> Any:
    async with client.session.post(f"{client.base_url}/_emulator{path}", json=body or {}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_callback_answers_are_kept_per_chat_for_the_page(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    await post(client, "/users/1001/text", {"text": "/start"})
    await post(client, "/users/1002/text", {"text": "/start"})
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=1001, text="Pilih", reply_markup=INLINE)
    for text, alert in (("Tombol lama", False), ("Peringatan", True)):
        await post(client, "/users/1001/press", {"label": "Ya"})
        updates = await client.ok("getUpdates", offset=-1)
        query = updates[-1]["callback_query"]["id"]
        await client.ok("answerCallbackQuery", callback_query_id=query, text=text, show_alert=alert)
    shown = (await get(client, "/users/1001/messages?history=1"))["callback_answers"]
    assert [(a["number"], a["text"], a["show_alert"]) for a in shown] == [
        (1, "Tombol lama", False),
        (2, "Peringatan", True),
    ]
    assert shown[0]["message_id"] == 2
    assert (await get(client, "/users/1002/messages"))["callback_answers"] == []


async def test_a_document_the_bot_sent_downloads_under_its_name(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    await post(client, "/users/1001/text", {"text": "/rekap"})
    sent = await emulator.call(
        "sendDocument",
        {"chat_id": 1001},
        files={"document": UploadedFile(b"a;b\n1;2\n", "rekap 2026-11.csv", "text/csv")},
    )
    listed = (await get(client, "/users/1001/messages"))["messages"][-1]
    assert listed["document"] == {
        "file_name": "rekap 2026-11.csv",
        "mime_type": "text/csv",
        "file_size": 8,
        "downloadable": True,
    }
    url = f"{client.base_url}/_emulator/users/1001/documents/{sent['message_id']}"
    async with client.session.get(url) as response:
        assert response.status == 200
        assert await response.read() == b"a;b\n1;2\n"
        disposition = response.headers["Content-Disposition"]
        assert disposition == 'attachment; filename="rekap 2026-11.csv"'
    async with client.session.get(url.replace("/documents/2", "/documents/1")) as response:
        assert response.status == 404


async def test_personas_new_clear_and_reset(emulator: BotApiEmulator, client: RawClient) -> None:
    shown = await get(client, "/playground")
    assert [(p["role"], p["user_id"]) for p in shown["personas"]] == [
        ("asn", 1001),
        ("worker", 1002),
        ("admin", 9001),
        ("treasurer", 9002),
    ]
    assert shown["bot"]["username"] == emulator.bot_user["username"]
    assert shown["inspector"] is False
    added = await post(client, "/personas", {})
    assert added["role"] == "person" and added["user_id"] == 9003 and added["first_name"]

    await post(client, "/users/1001/text", {"text": "/start"})
    await client.ok("getUpdates")
    await client.ok("sendMessage", chat_id=1001, text="Halo")
    cleared = await post(client, "/users/1001/clear")
    assert cleared["hidden_before"] == 2  # the page shows messages after the second

    reset = await post(client, "/reset")
    ids = {p["role"]: p["user_id"] for p in reset["personas"]}
    # The staff's ids are what give them their roles.
    assert ids["admin"] == 9001 and ids["treasurer"] == 9002
    assert ids["asn"] not in (1001, 1002, 9001, 9002) and ids["worker"] not in (1001, 1002)
    assert len({ids["asn"], ids["worker"], 9003}) == 3
    assert emulator.user(ids["asn"]).first_name == "Siti"
    async with client.session.post(f"{client.base_url}/_emulator/users/4242/clear") as response:
        assert response.status == 404  # not a persona


async def test_the_long_poll_answers_on_a_change_or_when_its_wait_is_over(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    token = (await get(client, "/playground"))["token"]
    quiet = await get(client, f"/playground?since={token}&wait=0.2")
    assert quiet["token"] == token

    waiting = asyncio.create_task(get(client, f"/playground?since={token}&wait=20"))
    await asyncio.sleep(0.05)  # the poll is waiting (a test of a wait, not of the bot)
    assert not waiting.done()
    await post(client, "/users/1002/text", {"text": "/start"})
    changed = await asyncio.wait_for(waiting, 5)
    assert changed["token"] != token
    worker = next(p for p in changed["personas"] if p["role"] == "worker")
    assert worker["version"] != "0.0"


async def test_the_inspector_a_host_registers_answers_for_a_user(
    emulator: BotApiEmulator, client: RawClient
) -> None:
    assert await get(client, "/users/1001/inspect") == {"available": False}

    async def inspector(user_id: int) -> dict[str, Any]:
        return {"user_id": user_id, "step": "nik"}

    emulator.playground.inspector = inspector
    assert (await get(client, "/playground"))["inspector"] is True
    assert await get(client, "/users/1001/inspect") == {
        "available": True,
        "user_id": 1001,
        "step": "nik",
    }


async def test_the_page_its_files_and_a_favicon_are_served(client: RawClient) -> None:
    base = client.base_url
    for path, kind in (
        ("/_emulator/", "text/html"),
        ("/_emulator/static/app.js", "text/javascript"),
        ("/_emulator/static/style.css", "text/css"),
        ("/_emulator/static/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ):
        async with client.session.get(base + path) as response:
            assert response.status == 200, path
            assert response.content_type == kind
            assert await response.read()
    for missing in ("/_emulator/static/server.py", "/_emulator/static/..%2fserver.py"):
        async with client.session.get(base + missing) as response:
            assert response.status == 404
