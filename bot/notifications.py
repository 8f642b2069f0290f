"""What other people are told when something happens to a sponsorship, in one place.

Storage records domain events (flows.events); `notices` turns each into the worded messages it
asks for, with their recipients and de-duplication keys. The composition root hands `notices` to
the repository, whose unit of work writes them into the outbox in the same transaction as the
change itself, so a notification is never lost and, with its de-duplication key, never sent
twice. The bot process delivers the outbox in each recipient's own language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date
from functools import partial
from typing import Any, Final, Literal

from flows.catalog import SALARY_DEDUCTION, Catalog
from flows.events import (
    CorrectionRequested,
    CoverageActivated,
    Event,
    InvitationLocked,
    Notice,
    RequestsWaiting,
    SponsorshipLapsed,
    SponsorWithdrew,
    WorkerConfirmed,
    WorkerDeclined,
    WorkerWithdrew,
)
from flows.formatting import long_date, month_year
from flows.text import Raw, Text, t

ADMIN_PING_WINDOW: Final = "%Y-%m-%dT%H"  # one "requests waiting" notice per admin per hour


def worker_confirmed(worker_name: str, reference: str) -> Text:
    """To the sponsor: the worker agreed in their own chat."""
    return t("notify.worker_confirmed", worker=Raw(worker_name), reference=Raw(reference))


def worker_declined(reference: str) -> Text:
    """To the sponsor: the worker refused (their name is already erased)."""
    return t("notify.worker_declined", reference=Raw(reference))


def invitation_locked(worker_name: str, reference: str) -> Text:
    """To the sponsor: three failed verifications locked the worker's link."""
    return t("notify.invitation_locked", worker=Raw(worker_name), reference=Raw(reference))


def correction_requested(reference: str | None, by: str) -> Text:
    """To the sponsor, when the worker asks for a correction."""
    return t(
        "notify.correction_requested",
        reference=Raw(reference or "—"),
        by=t(f"role.{by}"),
    )


def requests_waiting() -> Text:
    """To the admins, at most once an hour: new requests are in the queue."""
    return t("notify.requests_waiting")


def worker_withdrew(reference: str) -> Text:
    """To the sponsor: the worker withdrew consent; their data are erased."""
    return t("notify.worker_withdrew", reference=Raw(reference))


def sponsor_withdrew(sponsor_name: str, effective_month: date) -> Text:
    """To the worker: the sponsor stops paying from that month."""
    return t(
        "notify.sponsor_withdrew",
        sponsor=Raw(sponsor_name),
        month=month_year(effective_month),
    )


def coverage_active(
    recipient: Literal["sponsor", "worker"],
    other_name: str,
    kpj_number: str,
    start: date,
    programme: Text | Raw,
    benefits: Text,
    started: bool = True,
) -> Text:
    """To the sponsor (other_name: the worker's) or the worker (other_name: the sponsor's):
    BPJS coverage is active. programme: its label, from the catalog; benefits: the catalog's
    benefits_text(). started False (the start date is still ahead): told as registered, covered
    from that date, never as "kini terlindungi"."""
    other = "worker" if recipient == "sponsor" else "sponsor"
    key = f"notify.coverage_{recipient}" if started else f"told.coverage_{recipient}_future"
    return t(
        key,
        kpj=Raw(kpj_number),
        start=long_date(start),
        programme=programme,
        benefits=benefits,
        **{other: Raw(other_name)},
    )


def lapsed(
    recipient: Literal["sponsor", "worker", "operator"],
    event: SponsorshipLapsed,
    agency: str,
) -> Text:
    """To the sponsor, the worker and the agency's operators: no deduction was recorded for the
    unpaid months, so the sponsorship lapsed. Names only where the recipient already knows them
    (the operator gets the reference and the agency)."""
    months = t(
        "notify.lapsed_months",
        earlier=month_year(min(event.unpaid)),
        later=month_year(max(event.unpaid)),
    )
    # The worker's notice says "not recorded as paid" whatever the route; the sponsor's and the
    # operator's name the salary deduction only when it was one (issue 12).
    paid_otherwise = event.payment_method != SALARY_DEDUCTION and recipient != "worker"
    return t(
        f"funder2.lapsed_{recipient}" if paid_otherwise else f"notify.lapsed_{recipient}",
        reference=Raw(event.reference),
        worker=Raw(event.worker_name),
        sponsor=Raw(event.sponsor_name),
        agency=Raw(agency),
        months=months,
    )


coverage_active_for_sponsor = partial(coverage_active, "sponsor")
coverage_active_for_worker = partial(coverage_active, "worker")


# ---- events to notices -----------------------------------------------------------------------


def notices(
    event: Event, catalog: Catalog, regency_of: Callable[[str], Catalog] | None = None
) -> list[Notice]:
    """The worded outbox messages a domain event asks for (none for some); operator data such
    as a programme's label come from the catalog: in a deployment of several regencies, the
    catalog of the sponsor's agency's regency (`regency_of`; its benefits, for one)."""
    agency = getattr(event, "agency_code", None)
    if regency_of is not None and agency:
        catalog = regency_of(agency)
    return _WORDING[type(event)](event, catalog)


def notices_for(
    catalog: Catalog, regency_of: Callable[[str], Catalog] | None = None
) -> Callable[[Event], list[Notice]]:
    """`notices` with the operator's catalog: what the composition root gives the repository."""
    return partial(notices, catalog=catalog, regency_of=regency_of)


def _correction_requested(event: CorrectionRequested, _catalog: Catalog) -> list[Notice]:
    """The sponsor hears when the worker asks; the admins hear through RequestsWaiting."""
    if event.subject != "worker" or event.sponsor_user_id is None:
        return []
    message = correction_requested(event.reference, event.subject)
    key = f"correction:{event.request_id}:sponsor"
    return [Notice(key, event.sponsor_user_id, message, event.sponsorship_id)]


def _requests_waiting(event: RequestsWaiting, _catalog: Catalog) -> list[Notice]:
    """One notice per admin per hour however many requests come in (the queue has them all): a
    notice per request would let one person flood every admin's chat."""
    window = event.at.astimezone(UTC).strftime(ADMIN_PING_WINDOW)
    key = f"requests-waiting:{window}:admin:{event.admin_user_id}"
    return [Notice(key, event.admin_user_id, requests_waiting(), None)]


def _sponsor_withdrew(event: SponsorWithdrew, _catalog: Catalog) -> list[Notice]:
    message = sponsor_withdrew(event.sponsor_name, event.effective_month)
    key = f"sponsor_withdrew:{event.reference}"
    return [Notice(key, event.worker_user_id, message, event.sponsorship_id)]


def _to_sponsor(
    key: Callable[[Any], str], word: Callable[[Any], Text]
) -> Callable[[Any, Catalog], list[Notice]]:
    """The wording of an event only its sponsor hears about."""

    def notices(event: Any, _catalog: Catalog) -> list[Notice]:
        return [Notice(key(event), event.sponsor_user_id, word(event), event.sponsorship_id)]

    return notices


def _coverage_activated(event: CoverageActivated, catalog: Catalog) -> list[Notice]:
    facts = (event.kpj_number, event.coverage_start, catalog.programme_label(event.programme_code))
    started = event.activated_on is None or event.coverage_start <= event.activated_on
    told = (catalog.benefits_text(), started)
    found = [
        Notice(
            f"coverage:{event.reference}:sponsor",
            event.sponsor_user_id,
            coverage_active("sponsor", event.worker_name, *facts, *told),
            event.sponsorship_id,
        )
    ]
    if event.worker_user_id is not None:
        found.append(
            Notice(
                f"coverage:{event.reference}:worker",
                event.worker_user_id,
                coverage_active("worker", event.sponsor_name, *facts, *told),
                event.sponsorship_id,
            )
        )
    return found


def _sponsorship_lapsed(event: SponsorshipLapsed, catalog: Catalog) -> list[Notice]:
    """Everyone concerned, once each: the keys name the sponsorship and the recipient, and a
    lapse is final, so a second check finds nothing new to say."""
    agency = catalog.agency(event.agency_code)
    agency_name = agency.name if agency is not None else event.agency_code
    found = [
        Notice(
            f"lapsed:{event.reference}:sponsor",
            event.sponsor_user_id,
            lapsed("sponsor", event, agency_name),
            event.sponsorship_id,
        )
    ]
    if event.worker_user_id is not None:
        found.append(
            Notice(
                f"lapsed:{event.reference}:worker",
                event.worker_user_id,
                lapsed("worker", event, agency_name),
                event.sponsorship_id,
            )
        )
    for operator in sorted(set(event.operator_user_ids)):
        found.append(
            Notice(
                f"lapsed:{event.reference}:operator:{operator}",
                operator,
                lapsed("operator", event, agency_name),
                event.sponsorship_id,
            )
        )
    return found


_WORDING: Final[Mapping[type, Callable[[Any, Catalog], list[Notice]]]] = {
    WorkerConfirmed: _to_sponsor(
        lambda e: f"worker_confirmed:{e.reference}",
        lambda e: worker_confirmed(e.worker_name, e.reference),
    ),
    WorkerDeclined: _to_sponsor(
        lambda e: f"worker_declined:{e.reference}", lambda e: worker_declined(e.reference)
    ),
    InvitationLocked: _to_sponsor(
        lambda e: f"invitation_locked:{e.invitation_id}",
        lambda e: invitation_locked(e.worker_name, e.reference),
    ),
    WorkerWithdrew: _to_sponsor(
        lambda e: f"worker_withdrew:{e.reference}", lambda e: worker_withdrew(e.reference)
    ),
    CorrectionRequested: _correction_requested,
    RequestsWaiting: _requests_waiting,
    SponsorWithdrew: _sponsor_withdrew,
    CoverageActivated: _coverage_activated,
    SponsorshipLapsed: _sponsorship_lapsed,
}
