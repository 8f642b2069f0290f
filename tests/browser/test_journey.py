"""The whole programme in one browser tab: `make run`'s playground (the real bot on aiogram, its
database, the emulator and the chat page), driven in chromium as people would use it.

The ASN signs up and sponsors a worker (a button of a superseded agency list is refused with a
toast; the typed NIK disappears from the chat; the share-contact button shares the persona's
number), the worker scans the invitation's QR code and agrees in their own chat, the admin
activates the coverage with /aktifkan; the panel shows what the bot understood, masked."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from bot.app import Playground
from tests.browser.conftest import WAIT_MS, PageProblems

pytestmark = pytest.mark.browser

NIP = "198503152010011001"
NIK = "3205014501900001"
PHONE = "+6281234567890"


class Phone:
    """One persona's phone on the page."""

    def __init__(self, page: Page, role: str) -> None:
        self.page = page
        self.root = page.locator(f".persona[data-role={role}]")

    async def newest_id(self) -> int:
        return int(
            await self.root.evaluate(
                "p => Math.max(0, ...[...p.querySelectorAll('.msg')]"
                ".map(m => +m.dataset.messageId))"
            )
        )

    async def answer(self, action: Callable[[], Awaitable[None]], expected: str) -> None:
        """Do `action`, then wait for a new bot message containing `expected`."""
        mark = await self.newest_id()
        await action()
        handle = await self.root.element_handle()
        await self.page.wait_for_function(
            "([p, mark, text]) => [...p.querySelectorAll('.msg.in')].some("
            "m => +m.dataset.messageId > mark && m.textContent.includes(text))",
            arg=[handle, mark, expected],
            timeout=WAIT_MS,
        )

    async def type(self, text: str, expected: str) -> None:
        async def send() -> None:
            await self.root.locator(".composer-input").fill(text)
            await self.root.locator(".composer-input").press("Enter")

        await self.answer(send, expected)

    def button(self, label: str) -> Locator:
        """The newest inline button with exactly this label."""
        return self.root.get_by_role("button", name=label, exact=True).last

    async def press(self, label: str, expected: str) -> None:
        await self.answer(lambda: self.button(label).click(), expected)

    async def text(self) -> str:
        return await self.root.locator(".chat").inner_text()


async def test_asn_worker_and_admin_through_the_page(
    playground: Playground, page: tuple[Page, PageProblems], screenshots: Path
) -> None:
    browser_page, problems = page
    # The ASN persona's own number (the emulator gives every persona one; named here because
    # the bot checks it is an Indonesian mobile number).
    playground.emulator.user(1001, "Siti", last_name="Aminah", phone_number=PHONE)
    await browser_page.goto(f"{playground.base_url}/_emulator/")
    asn, worker, admin = (Phone(browser_page, role) for role in ("asn", "worker", "admin"))
    panel = browser_page.locator("#panel")

    # --- the ASN signs up -------------------------------------------------------------------
    await asn.answer(lambda: asn.root.get_by_role("button", name="START").click(), "Pilih bahasa")
    await asn.press("🇮🇩 Bahasa Indonesia", "Ketik NIP")
    await asn.type(NIP, "NIP ini menunjukkan")
    await asn.press("✅ Ya, benar", "Ketik nama lengkap")
    await asn.type("Dra. Siti Aminah", "Pilih instansi")
    await asn.type("pendidikan", "Dinas Pendidikan")
    await asn.type("kesehatan", "Dinas Kesehatan")
    # A button of the superseded list (the earlier search) is refused: the bot answers with a
    # toast and nothing else happens.
    mark = await asn.newest_id()
    await asn.root.get_by_role("button", name="Dinas Pendidikan", exact=True).click()
    await expect(asn.root.locator(".toast")).to_contain_text("Tombol ini sudah tidak berlaku")
    await browser_page.screenshot(path=screenshots / "1-stale-button-toast.png")
    assert await asn.newest_id() == mark

    await asn.press("Dinas Kesehatan", "nomor HP")
    share = asn.root.locator(".reply-btn.contact")
    await expect(share).to_have_text("📱 Kirim nomor HP saya")

    async def tap_share() -> None:
        await share.click()

    await asn.answer(tap_share, "Anda terdaftar sebagai ASN")
    await expect(asn.root.locator(".msg.out .contact-card")).to_contain_text("+62812****7890")
    await expect(asn.root.locator(".reply-kb")).to_be_hidden()

    # --- and sponsors a worker --------------------------------------------------------------
    await asn.press("Bekerja di rumah tangga saya", "Apa pekerjaan")
    await asn.press("Asisten rumah tangga", "Ketik nama lengkap pekerja")
    await asn.type("Ujang Suryana", "Ketik NIK")
    await asn.type(NIK, "Pesan Anda tadi sudah saya hapus")
    # The typed NIK left the chat; the panel shows it masked, and nowhere on the page in full.
    await expect(asn.root.locator(".msg.out", has_text=NIK)).to_have_count(0)
    await expect(panel).to_contain_text("3205********0001")
    assert NIK not in await browser_page.content()
    await browser_page.screenshot(path=screenshots / "2-nik-deleted-panel-masked.png")
    await asn.press("✅ Ya, benar", "nomor HP")
    await asn.press("⏭️ Lewati", "Dalam bahasa apa")
    await asn.press("🇮🇩 Bahasa Indonesia", "kecamatan")
    await asn.type("garut kota", "Garut Kota")
    await asn.press("Garut Kota", "desa/kelurahan")
    await asn.press("Kota Kulon", "program")
    await asn.press("JKK + JKM — Rp16.800/bulan", "cara membayar")
    await asn.press("Potong gaji lewat bendahara", "SURAT PERNYATAAN KESEDIAAN PEMOTONGAN GAJI")
    await asn.press("✅ Setuju", "Periksa data sebelum disimpan")
    await asn.press("💾 Simpan", "Halo Ujang Suryana")
    reference = re.search(r"PR-[2-9A-Z]{6}", await asn.text())
    assert reference is not None
    await expect(panel.locator(".status")).to_have_text("waiting_worker")
    qr = asn.root.locator("img.photo.qr")
    await expect(qr).to_be_visible()
    await expect(asn.root.locator("a.deep-link")).to_have_count(1)
    await browser_page.screenshot(path=screenshots / "3-invitation-qr.png")

    # --- the worker scans the QR code: their chat opens the invitation -----------------------
    await worker.answer(lambda: qr.click(), "Dra. Siti Aminah")
    await expect(worker.root.locator(".msg.out").first).to_contain_text("/start w_")
    await expect(worker.root).to_have_class(re.compile(r"\bselected\b"))
    await worker.type("05-01-1990", "Pemberitahuan privasi")
    await asn.answer(lambda: worker.button("✅ Setuju").click(), "sudah mengonfirmasi")
    await expect(worker.root.locator(".chat")).to_contain_text("Persetujuan Anda tercatat")

    # --- the admin activates the coverage -----------------------------------------------------
    await admin.type(f"/aktifkan {reference.group(0)} 23012345678 2026-12-01", "diaktifkan")
    await asn.root.locator(".persona-label").click()
    await expect(panel.locator(".status")).to_have_text("active")
    await expect(panel).to_contain_text("kpj masked")
    await browser_page.screenshot(path=screenshots / "4-coverage-active.png")
    assert NIK not in await browser_page.content()
    assert PHONE not in await browser_page.content()
    assert problems.errors == []
    assert playground.emulator.rejections == []
