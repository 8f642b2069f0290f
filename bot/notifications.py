"""What other people are told when something happens to a sponsorship, in one place.

The repository writes these into the outbox in the same transaction as the change itself, so a
notification is never lost and, with its de-duplication key, never sent twice. The bot process
delivers the outbox in each recipient's own language.
"""

from __future__ import annotations

from datetime import date

from flows.formatting import long_date, month_year
from flows.text import Raw, Text, t


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


def coverage_active_for_sponsor(
    worker_name: str, kpj_number: str, start: date, programme_code: str
) -> Text:
    return t(
        "notify.coverage_sponsor",
        worker=Raw(worker_name),
        kpj=Raw(kpj_number),
        start=long_date(start),
        programme=t(f"programme.{programme_code}"),
    )


def coverage_active_for_worker(
    sponsor_name: str, kpj_number: str, start: date, programme_code: str
) -> Text:
    return t(
        "notify.coverage_worker",
        sponsor=Raw(sponsor_name),
        kpj=Raw(kpj_number),
        start=long_date(start),
        programme=t(f"programme.{programme_code}"),
    )
