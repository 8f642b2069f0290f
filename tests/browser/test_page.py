"""The chat page against the emulator alone, the test playing the bot (emulator.call): what a
phone shows of what a bot sends (formatting, never raw HTML, photos, documents, edits, deletions,
toasts and alerts), that it follows new messages, and the personas' buttons."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from emulator.models import UploadedFile
from emulator.server import BotApiEmulator
from emulator.users import make_png
from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser


class ScriptedBot:
    """The test as the bot: reads updates and calls methods in-process (emulator.call)."""

    def __init__(self, emulator: BotApiEmulator) -> None:
        self.emulator = emulator
        self.offset = 0

    async def next_update(self, kind: str) -> dict[str, Any]:
        for _ in range(30):
            updates = await self.emulator.call("getUpdates", {"offset": self.offset, "timeout": 1})
            for update in updates:
                self.offset = update["update_id"] + 1
                if kind in update:
                    return dict(update[kind])
        raise AssertionError(f"no {kind} update from the page")

    async def send(self, chat_id: int, text: str, **params: Any) -> int:
        sent = await self.emulator.call(
            "sendMessage", {"chat_id": chat_id, "text": text, "parse_mode": "HTML", **params}
        )
        return int(sent["message_id"])


FORMATTED = (
    '<b>Tebal</b> <i>miring</i> <u>garis</u> <code>kode</code> <a href="https://example.org/x">'
    'tautan</a> &lt;img src=x onerror="window.hacked=1"&gt; ketik /bantuan'
)


async def test_a_phone_shows_what_the_bot_sends_and_never_runs_its_markup(
    bare_emulator: BotApiEmulator,
    page: tuple[Page, PageProblems],
    screenshots: Path,
    chromium_available: str,
) -> None:
    browser_page, problems = page
    bot = ScriptedBot(bare_emulator)
    await browser_page.goto(f"{bare_emulator.base_url}/_emulator/")
    asn = browser_page.locator(".persona[data-role=asn]")
    await expect(asn.locator(".empty-hint")).to_contain_text("Type /start to begin")
    await asn.get_by_role("button", name="START").click()
    assert (await bot.next_update("message"))["text"] == "/start"
    await expect(asn.locator(".msg.out")).to_contain_text("/start")

    # Formatting from entities; the escaped markup stays text, nothing runs.
    keyboard = {"inline_keyboard": [[{"text": "Tombol", "callback_data": "1:x"}]]}
    first = await bot.send(1001, FORMATTED, reply_markup=keyboard)
    bubble = asn.locator(f"[data-message-id='{first}'] .bubble")
    await expect(bubble.locator("b")).to_have_text("Tebal")
    await expect(bubble.locator("i")).to_have_text("miring")
    await expect(bubble.locator("u")).to_have_text("garis")
    await expect(bubble.locator("code")).to_have_text("kode")
    await expect(bubble.locator("a")).to_have_attribute("href", "https://example.org/x")
    await expect(bubble).to_contain_text('<img src=x onerror="window.hacked=1">')
    await expect(bubble.locator("img")).to_have_count(0)
    await expect(bubble.locator(".command")).to_have_text("/bantuan")

    # What the person types is text too.
    await asn.locator(".composer-input").fill("<b>tidak tebal</b><script>window.hacked=2</script>")
    await asn.locator(".composer-input").press("Enter")
    typed = await bot.next_update("message")
    assert typed["text"].startswith("<b>tidak tebal</b>")
    await expect(asn.locator(".msg.out").last).to_contain_text("<b>tidak tebal</b><script>")
    await expect(asn.locator(".msg.out b")).to_have_count(0)
    assert await browser_page.evaluate("window.hacked === undefined")

    # A photo, a document to download.
    photo = await bare_emulator.call(
        "sendPhoto",
        {"chat_id": 1001, "caption": "Kode QR"},
        files={"photo": UploadedFile(make_png(40, 40), "qr.png", "image/png")},
    )
    image = asn.locator(f"[data-message-id='{photo['message_id']}'] img.photo")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 40
    await bare_emulator.call(
        "sendDocument",
        {"chat_id": 1001, "caption": "Rekap bulan ini"},
        files={"document": UploadedFile(b"bulan,jumlah\n2026-11,3\n", "rekap.csv", "text/csv")},
    )
    async with browser_page.expect_download() as download_info:
        await asn.get_by_role("link", name="rekap.csv").click()
    download = await download_info.value
    assert download.suggested_filename == "rekap.csv"
    saved = await download.path()
    assert await asyncio.to_thread(Path(saved).read_bytes) == b"bulan,jumlah\n2026-11,3\n"

    # A press: the answer as a toast, then as an alert to dismiss.
    await asn.locator(f"[data-message-id='{first}']").get_by_role("button", name="Tombol").click()
    query = await bot.next_update("callback_query")
    await bare_emulator.call(
        "answerCallbackQuery", {"callback_query_id": query["id"], "text": "Tombol lama"}
    )
    await expect(asn.locator(".toast")).to_have_text("Tombol lama")
    await asn.locator(f"[data-message-id='{first}']").get_by_role("button", name="Tombol").click()
    query = await bot.next_update("callback_query")
    await bare_emulator.call(
        "answerCallbackQuery",
        {"callback_query_id": query["id"], "text": "Perhatian: ini peringatan", "show_alert": True},
    )
    alert = asn.locator(".alert-backdrop")
    await expect(alert).to_be_visible()
    await expect(alert.locator(".alert-text")).to_have_text("Perhatian: ini peringatan")
    await browser_page.screenshot(path=screenshots / "page-formatting-and-alert.png")
    await alert.get_by_role("button", name="OK").click()
    await expect(alert).to_be_hidden()

    # Edited messages update, deleted ones disappear.
    await bare_emulator.call(
        "editMessageText",
        {"chat_id": 1001, "message_id": first, "text": "<b>Diubah</b>", "parse_mode": "HTML"},
    )
    await expect(bubble.locator("b")).to_have_text("Diubah")
    await expect(bubble.locator(".meta")).to_contain_text("edited")
    await bare_emulator.call("deleteMessage", {"chat_id": 1001, "message_id": photo["message_id"]})
    await expect(image).to_have_count(0)

    # A long history: the phone follows the newest message.
    for number in range(1, 31):
        await bot.send(1001, f"Pesan ke-{number}")
    newest = asn.locator(".msg.in").last
    await expect(newest).to_contain_text("Pesan ke-30")
    await expect(newest).to_be_in_viewport()
    chat = asn.locator(".chat")
    assert await chat.evaluate("c => c.scrollHeight > c.clientHeight + 200")
    assert await chat.evaluate("c => c.scrollTop + c.clientHeight >= c.scrollHeight - 2")
    await browser_page.screenshot(path=screenshots / "page-following-new-messages.png")
    # Opened on a long history, the page shows its end.
    await browser_page.reload()
    await expect(asn.locator(".msg.in").last).to_contain_text("Pesan ke-30")
    await expect(asn.locator(".msg.in").last).to_be_in_viewport()
    assert await chat.evaluate("c => c.scrollTop + c.clientHeight >= c.scrollHeight - 2")

    # The favicon is served (a 404 would be in problems).
    favicon = await browser_page.request.get(f"{bare_emulator.base_url}/favicon.ico")
    assert favicon.status == 200
    assert problems.errors == []


async def test_personas_new_clear_and_reset(
    bare_emulator: BotApiEmulator, page: tuple[Page, PageProblems], chromium_available: str
) -> None:
    browser_page, problems = page
    bot = ScriptedBot(bare_emulator)
    await browser_page.goto(f"{bare_emulator.base_url}/_emulator/")
    personas = browser_page.locator(".persona")
    await expect(personas).to_have_count(4)
    roles = [await p.get_attribute("data-role") for p in await personas.all()]
    assert roles == ["asn", "worker", "admin", "treasurer"]

    await browser_page.get_by_role("button", name="New persona").click()
    await expect(personas).to_have_count(5)
    added = personas.nth(4)
    await expect(added).to_have_attribute("data-role", "person")
    assert await added.get_attribute("data-user-id") == "9003"

    asn = browser_page.locator(".persona[data-role=asn]")
    await asn.get_by_role("button", name="START").click()
    await bot.next_update("message")
    await bot.send(1001, "Halo")
    await expect(asn.locator(".msg.in")).to_have_count(1)
    await asn.get_by_role("button", name="Clear chat").click()
    await expect(asn.locator(".msg")).to_have_count(0)
    await expect(asn.locator(".empty-hint")).to_be_visible()
    await bot.send(1001, "Setelah dibersihkan")
    await expect(asn.locator(".msg.in")).to_contain_text("Setelah dibersihkan")
    await expect(asn.locator(".msg")).to_have_count(1)

    # The menu lists the commands the bot set; choosing one sends it.
    await bare_emulator.call(
        "setMyCommands", {"commands": [{"command": "status", "description": "Status Anda"}]}
    )
    await asn.get_by_role("button", name="Menu").click()
    await asn.get_by_role("button", name="/status Status Anda").click()
    assert (await bot.next_update("message"))["text"] == "/status"

    reset = browser_page.get_by_role("button", name="Reset playground")
    await reset.click()  # the first click only arms it
    await expect(browser_page.get_by_role("button", name="Click again to reset")).to_be_visible()
    await browser_page.get_by_role("button", name="Click again to reset").click()
    await expect(asn).not_to_have_attribute("data-user-id", "1001")
    new_asn = await asn.get_attribute("data-user-id")
    new_worker = await browser_page.locator(".persona[data-role=worker]").get_attribute(
        "data-user-id"
    )
    assert {new_asn, new_worker}.isdisjoint({"1001", "1002", "9001", "9002"})
    admin = browser_page.locator(".persona[data-role=admin]")
    assert await admin.get_attribute("data-user-id") == "9001"  # its id makes it an admin
    await expect(asn.locator(".empty-hint")).to_be_visible()
    assert problems.errors == []


async def test_an_invitation_link_opens_the_workers_chat_in_one_click(
    bare_emulator: BotApiEmulator, page: tuple[Page, PageProblems], chromium_available: str
) -> None:
    browser_page, problems = page
    bot = ScriptedBot(bare_emulator)
    await browser_page.goto(f"{bare_emulator.base_url}/_emulator/")
    asn = browser_page.locator(".persona[data-role=asn]")
    worker = browser_page.locator(".persona[data-role=worker]")
    await asn.get_by_role("button", name="START").click()
    await bot.next_update("message")
    await bot.send(
        1001,
        "Teruskan ke pekerja: https://t.me/emulated_test_bot?start=w_Abc-123 atau "
        '<a href="https://example.org/info">info</a>',
    )
    link = asn.locator("a.deep-link")
    await expect(link).to_have_text("https://t.me/emulated_test_bot?start=w_Abc-123")
    await expect(asn.locator("a:not(.deep-link)")).to_have_attribute("target", "_blank")
    await link.click()
    opened = await bot.next_update("message")
    assert opened["from"]["id"] == 1002 and opened["text"] == "/start w_Abc-123"
    await expect(worker.locator(".msg.out")).to_contain_text("/start w_Abc-123")
    await expect(worker).to_have_class(re.compile(r"\bselected\b"))
    await expect(asn.locator(".msg.out")).to_have_count(1)  # the ASN sent nothing more
    assert problems.errors == []
