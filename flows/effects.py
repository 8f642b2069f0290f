"""What the engine asks the host to do, as frozen values. The host renders and sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from flows.commands import Command
from flows.text import Label, Raw, Text


@dataclass(frozen=True)
class Button:
    label: Label
    value: str  # short, opaque, no personal data: flows.callbacks.encode(seq, value), <= 64 bytes


@dataclass(frozen=True)
class Message:
    """A message to the user.

    buttons: inline keyboard rows. seq: the prompt number the buttons belong to.
    request_contact: show a one-time reply keyboard with Telegram's "share my contact" button.
    remove_keyboard: take away a reply keyboard shown earlier.
    replace: edit the message whose button was pressed instead of sending a new one (paging).
    """

    text: Text
    buttons: tuple[tuple[Button, ...], ...] = ()
    seq: int | None = None
    request_contact: Label | None = None
    remove_keyboard: bool = False
    replace: bool = False


@dataclass(frozen=True)
class Toast:
    """The short notice shown when a callback query is answered (<= 200 characters)."""

    text: Text


@dataclass(frozen=True)
class ForgetUserMessage:
    """Delete a message the user sent (a NIK typed in the chat), so it is not left readable on
    the phone; bots may delete incoming messages in private chats for 48 hours."""

    message_id: int


@dataclass(frozen=True)
class ShowInvitation:
    """Give the sponsor the worker's invitation: the deep link, its QR code, and a message ready
    to forward. The host knows the bot's username, so it builds the link."""

    reference: str
    token: str
    worker_name: str  # empty: the host looks it up by reference
    language: str | None = None  # the worker's, for the message to forward; None: looked up
    # The sponsor as the message to forward signs, filled in by the host in the turn that
    # settled the outcome (it read the sponsor there); None: looked up when sending.
    signed_by: Text | Raw | None = None


@dataclass(frozen=True)
class ShowPersonalData:
    """Everything stored about the user (/data_saya), rendered by the host from the database."""

    page: int | None = None  # a long list's page (from 0), shown in place of the page pressed


@dataclass(frozen=True)
class ShowRequestQueue:
    """The admins' queue of requests with their 3 x 24 hour deadlines."""

    page: int | None = None  # a long list's page (from 0), shown in place of the page pressed


@dataclass(frozen=True)
class ShowStaff:
    """The superadmins' list of operators and treasurers (/admin), each with a remove button,
    and how to add one."""

    page: int | None = None  # a long list's page (from 0), shown in place of the page pressed


@dataclass(frozen=True)
class ShowStatus:
    """List the user's sponsorships: the host reads them from the database and renders them."""

    page: int | None = None  # a long list's page (from 0), shown in place of the page pressed


@dataclass(frozen=True)
class ShowStatistics:
    """/statistik: the statistics of the agencies within the user's scope (agency None), or of
    one agency per kecamatan and desa, with a bar chart. The host reads the scope again from the
    database and filters by it: this value never widens what the user may see."""

    agency: str | None = None
    # /statistik 33.24 in a deployment of several regencies: that regency's agencies only.
    regency: str | None = None


@dataclass(frozen=True)
class SendDeductionRecap:
    """The treasurers' deduction workbook of `month` ("YYYY-MM") as a document with a summary,
    for the user's scope, or for one agency within it. The host reads the user's scope again and
    filters the rows by it in SQL: this effect never widens what the user may see."""

    month: str
    agency: str | None = None
    # The transfers of sponsors without a NIP (a village, BAZNAS, a company, an honorer) of the
    # same scope instead, marked paid rather than deducted (issue 12).
    transfers: bool = False


@dataclass(frozen=True)
class ShowAnnouncementPreview:
    """The author's draft exactly as recipients will get it (the delivery engine's renderer),
    its audience's size, and the buttons send / change / cancel."""

    announcement_id: int


@dataclass(frozen=True)
class RequestAnnouncementApproval:
    """Ask the other superadmins to approve or reject a large announcement (preview included)."""

    announcement_id: int


@dataclass(frozen=True)
class TrackAnnouncement:
    """Post the progress message of an announcement now sending in its author's chat; the
    progress loop edits it until the final report."""

    announcement_id: int


@dataclass(frozen=True)
class Apply:
    """A domain command for the host's unit of work.

    awaits_outcome: the host feeds the outcome back (flows.router.settle) before telling the user
    anything about it: "saved" is said only after the commit.
    """

    command: Command
    awaits_outcome: bool = False


@dataclass(frozen=True)
class ShowCampaign:
    """/kampanye: the campaign deadline and reminder days in force, and how to change them."""


@dataclass(frozen=True)
class ShowUpcomingReminders:
    """/pengingat: the reminders the next `days` days will send, per day and kind, within the
    user's scope (the host reads the scope again)."""

    days: int


@dataclass(frozen=True)
class SendStatementCopy:
    """A printable copy (PDF) of the salary-deduction statement the sponsor just agreed to, for
    their agency's treasurer: the statement as shown, with its reference, version and the time
    it was given (ISO 8601)."""

    reference: str
    statement: Text
    version: str
    given_at: str
    # The sponsor's regency's time zone (IANA), the time's zone on the copy; "" in an answer
    # stored before it was carried (read from the sponsor's record then).
    zone: str = ""


Effect: TypeAlias = (
    Message
    | Toast
    | ShowStatus
    | Apply
    | ForgetUserMessage
    | ShowInvitation
    | ShowPersonalData
    | ShowRequestQueue
    | ShowStaff
    | ShowStatistics
    | SendDeductionRecap
    | ShowCampaign
    | ShowUpcomingReminders
    | ShowAnnouncementPreview
    | RequestAnnouncementApproval
    | TrackAnnouncement
    | SendStatementCopy
)
