"""Database views turned into what a person reads: /status, /data_saya and the admins' queue.

The wording is in locales/; this module only chooses keys, fills parameters and adds the buttons
people act with (their callback data carry short references, checked again when applied).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.i18n import Renderer
from bot.storage.views import (
    PersonalData,
    RequestView,
    SponsorshipView,
    UserRecord,
    WorkerSponsorshipView,
)
from bot.transport import Outgoing
from flows.catalog import Catalog
from flows.formatting import long_date, month_year
from flows.router import ACTION
from flows.text import Raw, Text, t

OPEN = ("waiting_worker", "confirmed", "active")

Rows = list[tuple[tuple[str, str], ...]]


def _button(render: Renderer, key: str, action: str, **params: str) -> tuple[str, str]:
    return render.plain(t(key, **params)), f"0:{ACTION}{action}"


def _when(moment: datetime, zone: tzinfo) -> Text:
    local = moment.astimezone(zone)
    return t("date.datetime", date=long_date(local.date()), time=local.strftime("%H:%M"))


def _agency(catalog: Catalog, code: str) -> str:
    agency = catalog.agency(code)
    return agency.name if agency else code


def _programme(code: str) -> Text:
    return t(f"programme.{code}")


def status(
    record: UserRecord,
    sponsorships: Sequence[SponsorshipView],
    as_worker: Sequence[WorkerSponsorshipView],
    catalog: Catalog,
    zone: tzinfo,
    render: Renderer,
) -> Outgoing:
    parts: list[str] = []
    rows: Rows = []
    if record.sponsor is not None:
        if not sponsorships:
            parts.append(render(t("status.empty")))
            rows.append(((render.plain(t("button.sponsor")), "0:menu:sponsor"),))
        else:
            parts.append(render(t("status.header")))
        for item in sponsorships:
            parts.append(render(_sponsorship_item(item, zone)))
            ref = item.reference
            if item.status == "waiting_worker":
                rows.append(
                    (_button(render, "button.status_in_person", f"inperson:{ref}", reference=ref),)
                )
                rows.append(
                    (_button(render, "button.status_reinvite", f"reinvite:{ref}", reference=ref),)
                )
            if item.status in OPEN:
                rows.append(
                    (_button(render, "button.status_withdraw", f"withdraw:{ref}", reference=ref),)
                )
                rows.append(
                    (_button(render, "button.status_correct", f"correct:{ref}", reference=ref),)
                )
    if as_worker:
        parts.append(render(t("status.worker_header")))
        for worker_item in as_worker:
            parts.append(render(_worker_item(worker_item, catalog)))
            ref = worker_item.reference
            if worker_item.status in OPEN:
                rows.append(
                    (_button(render, "button.worker_withdraw", f"wwithdraw:{ref}", reference=ref),)
                )
                rows.append(
                    (_button(render, "button.worker_correct", f"wcorrect:{ref}", reference=ref),)
                )
    if not parts:
        parts.append(render(t("status.not_registered")))
    return Outgoing("\n\n".join(parts), inline_keyboard=tuple(rows))


def _sponsorship_item(item: SponsorshipView, zone: tzinfo) -> Text:
    extra: list[Text] = []
    if item.status == "active" and item.kpj_masked and item.coverage_start:
        extra.append(
            t("status.coverage", kpj=Raw(item.kpj_masked), start=long_date(item.coverage_start))
        )
    if item.consent_channel == "in_person":
        extra.append(t("status.in_person"))
    if item.withdrawal_effective_month:
        extra.append(t("status.withdrawal", month=month_year(item.withdrawal_effective_month)))
    return t(
        "status.item",
        name=Raw(item.worker_full_name) if item.worker_full_name else t("data.erased"),
        reference=Raw(item.reference),
        nik=Raw(item.nik_masked) if item.nik_masked else t("data.erased"),
        programme=_programme(item.programme_code),
        amount=item.monthly_amount,
        state=t(f"status.state.{item.status}"),
        date=long_date(item.created_at.astimezone(zone).date()),
        extra=_lines(extra),
    )


def _worker_item(item: WorkerSponsorshipView, catalog: Catalog) -> Text:
    extra: list[Text] = []
    if item.status == "active" and item.kpj_masked and item.coverage_start:
        extra.append(
            t("status.coverage", kpj=Raw(item.kpj_masked), start=long_date(item.coverage_start))
        )
    return t(
        "status.worker_item",
        reference=Raw(item.reference),
        sponsor=Raw(item.sponsor_name),
        agency=Raw(_agency(catalog, item.agency_code)),
        programme=_programme(item.programme_code),
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


def personal_data(data: PersonalData, catalog: Catalog, zone: tzinfo, render: Renderer) -> Outgoing:
    """/data_saya: everything stored about the person, identifiers masked."""
    parts = [render(t("data.header"))]
    language = t(f"data.language.{data.language}") if data.language else t("value.none")
    since = _when(data.known_since, zone) if data.known_since else t("value.none")
    parts.append(
        render(t("data.account", user_id=str(data.user_id), language=language, since=since))
    )
    if data.sponsor is not None:
        sponsor = data.sponsor
        parts.append(
            render(
                t(
                    "data.sponsor",
                    name=Raw(sponsor.full_name),
                    nip=Raw(sponsor.nip_masked),
                    kind=t(f"nip.kind.{sponsor.nip_kind}"),
                    agency=Raw(_agency(catalog, sponsor.agency_code)),
                    phone=Raw(sponsor.phone_masked),
                )
            )
        )
    for item in data.sponsorships:
        parts.append(render(_sponsorship_item(item, zone)))
    for worker in data.as_worker:
        category = (
            Raw(worker.category_other)
            if worker.category_other
            else t(f"category.{worker.category}")
        )
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
                    category=category,
                    village=Raw(worker.village_name) if worker.village_name else t("data.erased"),
                    district=Raw(worker.district_name),
                    sponsor=Raw(worker.sponsor_name),
                    state=t(f"status.state.{worker.status}"),
                )
            )
        )
    if data.consents:
        lines = [
            render(
                t(
                    "data.consent",
                    when=_when(record.recorded_at, zone),
                    reference=Raw(record.reference),
                    kind=t(f"data.kind.{record.kind}"),
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
    parts.append(render(t("data.rights")))
    return Outgoing("\n\n".join(parts))


def request_queue(
    requests: Sequence[RequestView], zone: tzinfo, now: datetime, render: Renderer
) -> Outgoing:
    """The admins' queue: oldest first, each with its 3 x 24 hour deadline."""
    if not requests:
        return Outgoing(render(t("queue.empty")))
    parts = [render(t("queue.header", count=len(requests)))]
    rows: Rows = []
    for request in requests:
        hours_left = int((request.due_at - now).total_seconds() // 3600)
        deadline = (
            t("queue.overdue", hours=-hours_left)
            if request.overdue
            else t("queue.due_in", hours=hours_left)
        )
        parts.append(
            render(
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
        )
        rows.append(
            (_button(render, "button.resolve", f"resolve:{request.id}", id=str(request.id)),)
        )
    return Outgoing("\n\n".join(parts), inline_keyboard=tuple(rows))
