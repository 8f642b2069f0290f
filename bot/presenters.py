"""Database views turned into what a person reads: /status, /data_saya, the admins' queue and
the staff list (/admin).

The wording is in locales/; this module only chooses keys, fills parameters and adds the buttons
people act with (their callback data carry short references, checked again when applied).

A long list is shown a page at a time (at most PAGE_ITEMS items and about PAGE_CHARACTERS
characters, under Telegram's 4096), with "showing 1-5 of 12" and ◀️/▶️ buttons whose
callback data (flows.callbacks.page) flows.router turns into the same Show effect for that page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from bot.i18n import Renderer, zone_name
from bot.storage.staff import StaffMember
from bot.storage.views import (
    PersonalData,
    RequestView,
    SponsorshipView,
    SponsorView,
    UserRecord,
    WorkerSponsorshipView,
)
from bot.transport import Outgoing
from flows import callbacks
from flows.callbacks import ActionName, ListName
from flows.catalog import ASN, Catalog
from flows.formatting import long_date, month_year
from flows.ledger import scholarship_progress
from flows.statuses import OPEN_STATUSES, SponsorshipStatus
from flows.text import Raw, Text, t

Rows = list[tuple[tuple[str, str], ...]]
Item = tuple[str, Rows]  # one entry of a list, rendered, with the buttons acting on it

PAGE_ITEMS = 5
PAGE_CHARACTERS = 3800  # of HTML per page, header and footer included (Telegram allows 4096)


def _page_bounds(sizes: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Split items (their sizes in characters) into pages of consecutive items: at most
    PAGE_ITEMS each and within budget; a page holds at least one item, however long."""
    pages: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        full = index - start >= PAGE_ITEMS or (index > start and used + size > budget)
        if full:
            pages.append((start, index))
            start, used = index, 0
        used += size + 2  # the blank line between parts
    if start < len(sizes) or not pages:
        pages.append((start, len(sizes)))
    return pages


def _paged(
    name: ListName,
    header: Sequence[str],
    items: Sequence[Item],
    footer: Sequence[str],
    page: int,
    render: Renderer,
    rows_before: Rows | None = None,
) -> Outgoing:
    """One page of a list: the header, the page's items with their buttons, and when there is
    more than one page, "showing a-b of n" and buttons to the previous and next pages."""
    fixed = sum(len(part) + 2 for part in (*header, *footer)) + 120  # + the "showing" line
    pages = _page_bounds([len(text) for text, _rows in items], PAGE_CHARACTERS - fixed)
    page = min(max(page, 0), len(pages) - 1)
    start, end = pages[page]
    parts = [*header, *(text for text, _rows in items[start:end])]
    rows: Rows = list(rows_before or [])
    for _text, item_rows in items[start:end]:
        rows.extend(item_rows)
    if len(pages) > 1:
        parts.append(render(t("list.showing", first=start + 1, last=end, total=len(items))))
        nav = []
        if page > 0:
            nav.append(
                (render.plain(t("button.previous_page")), _timeless(callbacks.page(name, page - 1)))
            )
        if page < len(pages) - 1:
            nav.append(
                (render.plain(t("button.next_page")), _timeless(callbacks.page(name, page + 1)))
            )
        rows.append(tuple(nav))
    parts.extend(footer)
    return Outgoing("\n\n".join(parts), inline_keyboard=tuple(rows))


def _timeless(value: str) -> str:
    return callbacks.encode(callbacks.TIMELESS, value)


def _button(
    render: Renderer, key: str, action: ActionName, item: str | int, **params: str
) -> tuple[str, str]:
    return render.plain(t(key, **params)), _timeless(callbacks.action(action, item))


def _when(moment: datetime, zone: tzinfo) -> Text:
    local = moment.astimezone(zone)
    # Always with its zone: a province may span two (issue 12), and WIB is not WITA.
    time = f"{local:%H:%M} {zone_name(local)}"
    return t("date.datetime", date=long_date(local.date()), time=time)


def _agency(catalog: Catalog, code: str) -> str:
    agency = catalog.agency(code)
    return agency.name if agency else code


def status(
    record: UserRecord,
    sponsorships: Sequence[SponsorshipView],
    as_worker: Sequence[WorkerSponsorshipView],
    catalog: Catalog,
    zone: tzinfo,
    render: Renderer,
    page: int = 0,
    catalog_of: Callable[[str], Catalog] | None = None,
) -> Outgoing:
    """/status: the user's sponsorships, then those they are the worker of, each worded by its
    sponsor's agency's regency's catalog (`catalog_of`, in a deployment of several)."""
    header: list[str] = []
    items: list[Item] = []
    rows_before: Rows = []
    if record.sponsor is not None:
        if record.sponsor.funder_type != ASN:
            header.append(render(_funder_line(record, catalog)))
        if not sponsorships:
            header.append(render(t("status.empty")))
            rows_before.append(
                ((render.plain(t("button.sponsor")), _timeless(callbacks.menu("sponsor"))),)
            )
        else:
            header.append(render(t("status.header")))
        for item in sponsorships:
            ref = item.reference
            rows: Rows = []
            if item.status == SponsorshipStatus.WAITING_WORKER:
                rows.append(
                    (_button(render, "button.status_in_person", "inperson", ref, reference=ref),)
                )
                rows.append(
                    (_button(render, "button.status_reinvite", "reinvite", ref, reference=ref),)
                )
            if item.status in OPEN_STATUSES:
                rows.append(
                    (_button(render, "button.status_withdraw", "withdraw", ref, reference=ref),)
                )
                rows.append(
                    (_button(render, "button.status_correct", "correct", ref, reference=ref),)
                )
            items.append((render(_sponsorship_item(item, catalog, zone)), rows))
    for number, worker_item in enumerate(as_worker):
        sponsors = catalog_of(worker_item.agency_code) if catalog_of else catalog
        text = render(_worker_item(worker_item, sponsors))
        if number == 0:  # the worker part's heading stays with its first item
            text = render(t("status.worker_header")) + "\n\n" + text
        ref = worker_item.reference
        rows = []
        if worker_item.status in OPEN_STATUSES:
            rows.append(
                (_button(render, "button.worker_withdraw", "wwithdraw", ref, reference=ref),)
            )
            rows.append((_button(render, "button.worker_correct", "wcorrect", ref, reference=ref),))
        items.append((text, rows))
    if not header and not items:
        header.append(render(t("status.not_registered")))
    return _paged("status", header, items, (), page, render, rows_before)


def _sponsorship_item(item: SponsorshipView, catalog: Catalog, zone: tzinfo) -> Text:
    extra: list[Text] = []
    if item.status == SponsorshipStatus.ACTIVE and item.kpj_masked and item.coverage_start:
        extra.append(
            t("status.coverage", kpj=Raw(item.kpj_masked), start=long_date(item.coverage_start))
        )
    if item.status == SponsorshipStatus.ACTIVE:
        progress = scholarship_progress(item.marked_months)
        key = "status.scholarship_reached" if progress.reached else "status.scholarship"
        extra.append(t(key, counted=str(progress.counted), required=str(progress.required)))
    if item.consent_channel == "in_person":
        extra.append(t("status.in_person"))
    if item.withdrawal_effective_month:
        extra.append(t("status.withdrawal", month=month_year(item.withdrawal_effective_month)))
    return t(
        "status.item",
        name=Raw(item.worker_full_name) if item.worker_full_name else t("data.erased"),
        reference=Raw(item.reference),
        nik=Raw(item.nik_masked) if item.nik_masked else t("data.erased"),
        programme=catalog.programme_label(item.programme_code),
        covers=catalog.programme_covers(item.programme_code),
        amount=item.monthly_amount,
        state=t(f"status.state.{item.status}"),
        date=long_date(item.created_at.astimezone(zone).date()),
        extra=_lines(extra),
    )


def _worker_item(item: WorkerSponsorshipView, catalog: Catalog) -> Text:
    extra: list[Text] = []
    if item.status == SponsorshipStatus.ACTIVE and item.kpj_masked and item.coverage_start:
        extra.append(
            t("status.coverage", kpj=Raw(item.kpj_masked), start=long_date(item.coverage_start))
        )
    return t(
        "status.worker_item",
        reference=Raw(item.reference),
        sponsor=Raw(item.sponsor_name),
        agency=Raw(_agency(catalog, item.agency_code)),
        programme=catalog.programme_label(item.programme_code),
        covers=catalog.programme_covers(item.programme_code),
        amount=item.monthly_amount,
        state=t(f"status.state.{item.status}"),
        extra=_lines(extra),
    )


def _lines(texts: Sequence[Text]) -> Text | Raw:
    """Optional lines under an item; each line Text starts with its own line break."""
    if not texts:
        return Raw("")
    joined: Text | Raw = texts[0]
    for text in texts[1:]:
        joined = t("data.join", first=joined, second=text)
    return joined


def _funder_line(record: UserRecord, catalog: Catalog) -> Text:
    """/status of a sponsor without a NIP: who they sponsor for and how many of how many."""
    sponsor = record.sponsor
    assert sponsor is not None
    funder = sponsor.funder_type
    organisation = catalog.organisation_label(funder, sponsor.organisation_name)
    if funder == "honorer":
        organisation = Raw(sponsor.full_name)
    return t(
        "funder.status_sponsor",
        organisation=organisation,
        funder=catalog.funder_label(funder),
        open=record.open_sponsorships,
        max=catalog.max_sponsorships_for(funder),
    )


def _funder_data(sponsor: SponsorView, catalog: Catalog) -> Text:
    """/data_saya of a sponsor without a NIP: their own fields (no NIP)."""
    common: dict[str, Text | Raw] = {
        "funder": catalog.funder_label(sponsor.funder_type),
        "name": Raw(sponsor.full_name),
        "agency": Raw(_agency(catalog, sponsor.agency_code)),
        "phone": Raw(sponsor.phone_masked),
    }
    if sponsor.funder_type == "honorer":
        return t("funder.data_honorer", **common)
    return t(
        "funder.data_sponsor",
        position=Raw(sponsor.position or ""),
        organisation=catalog.organisation_label(sponsor.funder_type, sponsor.organisation_name),
        **common,
    )


def personal_data(
    data: PersonalData, catalog: Catalog, zone: tzinfo, render: Renderer, page: int = 0
) -> Outgoing:
    """/data_saya: everything stored about the person, identifiers masked."""
    parts = [render(t("data.header"))]
    language = t(f"languages.name.{data.language}") if data.language else t("value.none")
    since = _when(data.known_since, zone) if data.known_since else t("value.none")
    parts.append(
        render(t("data.account", user_id=str(data.user_id), language=language, since=since))
    )
    if data.sponsor is not None and data.sponsor.funder_type != ASN:
        parts.append(render(_funder_data(data.sponsor, catalog)))
    elif data.sponsor is not None:
        sponsor = data.sponsor
        parts.append(
            render(
                t(
                    "data.sponsor",
                    name=Raw(sponsor.full_name),
                    nip=Raw(sponsor.nip_masked or ""),
                    kind=t(f"nip.kind.{sponsor.nip_kind}"),
                    agency=Raw(_agency(catalog, sponsor.agency_code)),
                    phone=Raw(sponsor.phone_masked),
                )
            )
        )
    for item in data.sponsorships:
        parts.append(render(_sponsorship_item(item, catalog, zone)))
    for worker in data.as_worker:
        parts.append(
            render(
                t(
                    "data.as_worker",
                    reference=Raw(worker.reference),
                    name=Raw(worker.worker_full_name)
                    if worker.worker_full_name
                    else t("data.erased"),
                    nik=Raw(worker.nik_masked) if worker.nik_masked else t("data.erased"),
                    phone=Raw(worker.phone_masked) if worker.phone_masked else t("value.none"),
                    category=catalog.job_label(worker.job, worker.job_other),
                    village=Raw(worker.village_name) if worker.village_name else t("data.erased"),
                    district=Raw(worker.district_name),
                    sponsor=Raw(worker.sponsor_name),
                    state=t(f"status.state.{worker.status}"),
                )
            )
        )
    if data.consents:
        # A sponsor without a NIP agreed to pay, not to a salary deduction (the record's kind
        # "salary_deduction" is every sponsor's payment consent).
        paying = data.sponsor is not None and data.sponsor.funder_type != ASN
        lines = [
            render(
                t(
                    "data.consent",
                    when=_when(record.recorded_at, zone),
                    reference=Raw(record.reference),
                    kind=t("funder.consent_kind")
                    if paying and record.subject == "sponsor"
                    else t(f"data.kind.{record.kind}"),
                    action=t(f"data.action.{record.action}"),
                    channel=t(f"data.channel.{record.channel}"),
                    version=Raw(record.text_version),
                )
            )
            for record in data.consents
        ]
        parts.append(render(t("data.consents_header")) + "\n" + "\n".join(lines))
    for request in data.open_requests:
        parts.append(render(t("data.request", id=str(request.id), due=_when(request.due_at, zone))))
    if len(parts) == 2 and data.sponsor is None and not data.as_worker:
        parts.append(render(t("data.nothing")))
    items: list[Item] = [(part, []) for part in parts[1:]]
    return _paged("data", parts[:1], items, [render(t("data.rights"))], page, render)


def request_queue(
    requests: Sequence[RequestView], zone: tzinfo, now: datetime, render: Renderer, page: int = 0
) -> Outgoing:
    """The admins' queue: oldest first, each with its 3 x 24 hour deadline."""
    if not requests:
        return Outgoing(render(t("queue.empty")))
    items: list[Item] = []
    for request in requests:
        hours_left = int((request.due_at - now).total_seconds() // 3600)
        deadline = (
            t("queue.overdue", hours=-hours_left)
            if request.overdue
            else t("queue.due_in", hours=hours_left)
        )
        text = render(
            t(
                "queue.item",
                id=str(request.id),
                kind=t(f"queue.kind.{request.kind}"),
                subject=t(f"role.{request.subject}"),
                reference=Raw(request.reference or "—"),
                created=_when(request.created_at, zone),
                due=_when(request.due_at, zone),
                deadline=deadline,
                details=Raw(request.details or ""),
            )
        )
        button = _button(render, "button.resolve", "resolve", request.id, id=str(request.id))
        items.append((text, [(button,)]))
    header = [render(t("queue.header", count=len(requests)))]
    return _paged("queue", header, items, (), page, render)


def staff_list(
    members: Sequence[StaffMember],
    catalog: Catalog,
    zone: tzinfo,
    render: Renderer,
    page: int = 0,
) -> Outgoing:
    """The superadmins' /admin: operators and treasurers, a remove button each, and usage."""
    usage = render(t("staff.usage"))
    if not members:
        return Outgoing(render(t("staff.empty")) + "\n\n" + usage)
    items: list[Item] = []
    for member in members:
        agencies = ", ".join(f"{_agency(catalog, code)} ({code})" for code in member.agencies)
        text = render(
            t(
                "staff.item",
                user_id=str(member.user_id),
                role=t(f"staff.role.{member.role.value}"),
                agencies=agencies,
                since=_when(member.granted_at, zone),
            )
        )
        user_id = str(member.user_id)
        button = _button(render, "button.staff_remove", "staffrm", member.user_id, user_id=user_id)
        items.append((text, [(button,)]))
    header = [render(t("staff.header", count=len(members)))]
    return _paged("staff", header, items, (usage,), page, render)
