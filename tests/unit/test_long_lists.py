"""Long lists a page at a time, and any message over Telegram's 4096 characters sent in parts that
are each valid HTML, as the emulator's Telegram HTML parser checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import presenters
from bot.i18n import Renderer
from bot.storage.views import (
    ConsentRecordView,
    PersonalData,
    RequestView,
    SponsorshipView,
    SponsorView,
    UserRecord,
)
from bot.transport import TEXT_LIMIT, Outgoing, split_html, split_message
from emulator.formatting import parse_html
from flows import router
from flows.effects import ShowPersonalData, ShowRequestQueue, ShowStatus, Toast
from flows.inputs import ChoicePicked
from flows.session import Session
from tests.unit.flowkit import PROGRAMME, Chat, Host

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
RENDER = Renderer("id")
DETAILS = ("Nama ibu & tanggal <lahir> salah; yang benar ada di KTP. " * 9)[:500]


def plain(html: str) -> str:
    text, _entities = parse_html(html)  # raises like Telegram on a broken tag or entity
    return text


def requests(count: int, details: str = DETAILS) -> list[RequestView]:
    return [
        RequestView(
            id=number + 1,
            kind="correction",
            subject="sponsor",
            reference=None,
            requester_user_id=100 + number,
            created_at=NOW,
            due_at=NOW + timedelta(hours=72),
            overdue=False,
            details=f"{number + 1}. {details}",
        )
        for number in range(count)
    ]


def buttons(message: Outgoing) -> list[tuple[str, str]]:
    return [button for row in message.inline_keyboard for button in row]


# ---- pages ---------------------------------------------------------------------------------------


def test_a_long_queue_is_shown_five_at_a_time_with_buttons_to_the_other_pages() -> None:
    queue = requests(12, details="x" * 480)
    pages = [presenters.request_queue(queue, WIB, NOW, RENDER, page) for page in range(3)]
    shown = []
    for number, page in enumerate(pages):
        assert len(page.text) <= presenters.PAGE_CHARACTERS < TEXT_LIMIT
        assert "Antrian permintaan</b> (12)" in page.text  # the header on every page
        data = [callback for _label, callback in buttons(page)]
        assert all(len(callback.encode()) <= 64 for callback in data)
        resolves = [c for c in data if c.startswith("0:act:resolve:")]
        shown.extend(int(c.rsplit(":", 1)[1]) for c in resolves)
        nav = [c for c in data if c.startswith("0:show:")]
        expected = [f"0:show:queue:{n}" for n in (number - 1, number + 1) if 0 <= n < 3]
        assert nav == expected
        assert buttons(page)[-1][1] == expected[-1]  # the page buttons come last
    assert shown == list(range(1, 13)), "each request on exactly one page, in order"
    assert "Menampilkan 1–5 dari 12" in pages[0].text
    assert "Menampilkan 11–12 dari 12" in pages[2].text
    # A page past the end (the queue shrank since): the last page.
    assert presenters.request_queue(queue, WIB, NOW, RENDER, 9) == pages[2]


def test_a_page_holds_fewer_items_when_they_are_long() -> None:
    """Five requests of 500 "<" are 10,000 characters of HTML: a page stays within budget."""
    queue = requests(5, details="<" * 500)
    first = presenters.request_queue(queue, WIB, NOW, RENDER, 0)
    assert len(first.text) <= presenters.PAGE_CHARACTERS
    assert "Menampilkan 1–1 dari 5" in first.text
    plain(first.text)
    # Long but escaped less: as many as fit.
    mixed = presenters.request_queue(requests(12), WIB, NOW, RENDER, 0)
    assert len(mixed.text) <= presenters.PAGE_CHARACTERS
    assert "Menampilkan 1–4 dari 12" in mixed.text


def test_a_short_list_has_no_page_buttons_and_reads_as_before() -> None:
    queue = presenters.request_queue(requests(2), WIB, NOW, RENDER, 0)
    assert "Menampilkan" not in queue.text
    assert [c for _l, c in buttons(queue)] == ["0:act:resolve:1", "0:act:resolve:2"]
    assert queue.text.count("\n\n#") == 2


def sponsorship(number: int) -> SponsorshipView:
    return SponsorshipView(
        reference=f"PR-{number:06d}",
        worker_full_name="Ujang Suryana " + "a" * 200,
        nik_masked="3205********0001",
        worker_relationship=None,
        worker_job="asisten_rumah_tangga",
        worker_job_other=None,
        programme_code="jkk_jkm",
        monthly_amount=16800,
        payment_method="payroll",
        status="waiting_worker",
        created_at=NOW,
    )


def test_status_and_personal_data_are_paged_too() -> None:
    sponsor = SponsorView(1, "Siti", "32.05.DINKES", "1985***********001", "PNS", "+62******7890")
    items = [sponsorship(number) for number in range(14)]
    record = UserRecord(1, "id", sponsor, 14)
    first = presenters.status(record, items, [], PROGRAMME.catalog, WIB, RENDER, 0)
    assert "Menampilkan 1–5 dari 14" in first.text and len(first.text) < TEXT_LIMIT
    # The buttons under each shown sponsorship, then ▶️.
    assert buttons(first)[0][1] == "0:act:inperson:PR-000000"
    assert buttons(first)[-1][1] == "0:show:status:1"
    assert "PR-000005" not in first.text
    last = presenters.status(record, items, [], PROGRAMME.catalog, WIB, RENDER, 2)
    assert "Menampilkan 11–14 dari 14" in last.text and "PR-000013" in last.text

    consent = ConsentRecordView(
        "PR-000000", "sponsor", "salary_deduction", "given", "telegram", "2026-03", 16800, NOW
    )
    data = PersonalData(
        user_id=1,
        language="id",
        known_since=NOW,
        sponsor=sponsor,
        sponsorships=items,
        as_worker=[],
        consents=[consent] * 3,
        open_requests=[],
    )
    shown = presenters.personal_data(data, PROGRAMME.catalog, WIB, RENDER, 0)
    assert "Menampilkan" in shown.text and buttons(shown)[-1][1] == "0:show:data:1"
    assert len(shown.text) < TEXT_LIMIT
    assert "Hak Anda" in shown.text  # the rights on every page


@pytest.mark.parametrize(
    ("value", "admin", "effect"),
    [
        ("show:queue:1", True, ShowRequestQueue(page=1)),
        ("show:status:2", False, ShowStatus(page=2)),
        ("show:data:0", False, ShowPersonalData(page=0)),
    ],
)
def test_page_buttons_show_that_page_whatever_the_conversation(
    value: str, admin: bool, effect: object
) -> None:
    context = Chat(host=Host(is_admin=admin)).context()
    turn = router.respond(Session(seq=7), ChoicePicked(seq=0, value=value), context)
    assert turn.effects == (effect,)


@pytest.mark.parametrize(
    ("value", "admin"),
    [
        ("show:queue:1", False),  # the queue is for admins only
        ("show:queue:²", True),
        ("show:queue:-1", True),
        ("show:queue:99999", True),
        ("show:other:1", True),
    ],
)
def test_forged_page_buttons_are_refused(value: str, admin: bool) -> None:
    context = Chat(host=Host(is_admin=admin)).context()
    turn = router.respond(Session(seq=7), ChoicePicked(seq=0, value=value), context)
    assert [type(effect) for effect in turn.effects] == [Toast]


# ---- splitting -----------------------------------------------------------------------------------


def test_a_short_message_is_sent_as_it_is() -> None:
    message = Outgoing("<b>hi</b>", inline_keyboard=((("a", "0:x"),),))
    assert split_message(message) == [message]


def test_a_long_message_is_cut_at_line_ends_into_valid_parts() -> None:
    lines = [f"<b>{n}</b> &amp; baris &lt;{n}&gt; " + "x" * 80 for n in range(200)]
    html = "\n".join(lines)
    message = Outgoing(html, inline_keyboard=((("a", "0:x"),),), remove_keyboard=True)
    parts = split_message(message)
    assert len(parts) > 1
    assert all(len(part.text) <= TEXT_LIMIT for part in parts)
    assert [bool(p.inline_keyboard) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].remove_keyboard and not parts[0].remove_keyboard
    # Each part parses as Telegram HTML; together they read as the whole, line for line.
    assert "\n".join(plain(part.text).strip("\n") for part in parts) == plain(html)


def test_a_tag_open_across_a_cut_is_closed_and_opened_again() -> None:
    html = '<blockquote><a href="https://e.x/?a=1&amp;b=2">' + "kata\n" * 2000 + "</a></blockquote>"
    parts = split_html(html, 1000)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 1000
        assert part.startswith('<blockquote><a href="https://e.x/?a=1&amp;b=2">')
        assert part.endswith("</a></blockquote>")
        plain(part)


def test_an_overlong_line_is_cut_at_a_space_never_inside_an_entity_or_tag() -> None:
    line = " ".join(["&amp;&lt;<i>x</i>&gt;"] * 800)  # one line, no line break
    parts = split_html(line, 500)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 500
        plain(part)
    assert "".join(plain(part) for part in parts).replace(" ", "") == plain(line).replace(" ", "")


def test_a_line_without_spaces_is_cut_between_entities_and_tags() -> None:
    long_tag = '<a href="https://example.com/a/very/long/path/to/a/page">x</a>'
    for line in ("&amp;&lt;<i>x</i>" * 400, "<i>&amp;x</i>" * 400, long_tag * 100):
        parts = split_html(line, 500)
        assert len(parts) > 1
        for part in parts:
            assert len(part) <= 500
            plain(part)
        assert "".join(plain(part) for part in parts) == plain(line)
