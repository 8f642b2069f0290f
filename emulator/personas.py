"""The playground's personas and the fake users' phone numbers: one place both sides read.

The chat page (``emulator/playground.py``) shows these people side by side; the sample data set
(``peduli demo``, ``bot/demo.py``) gives them their rows (the ASN a sponsor with sponsorships in
every state, the worker the one of the ASN's sponsorship, the admin a superadmin), so /status,
statistics and exports of a persona are not empty. Standard library only: the emulator imports
nothing of the product, and the product reads this module without loading the emulator's server.

``mobile_number`` gives every fake user a realistic Indonesian mobile number derived from its
Telegram user id, so "share contact" works for anyone the page or a test invents (the bot refuses
anything that is not an Indonesian mobile number: ``flows/validators/phone.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

#: Real operators' mobile prefixes (national form without the leading 0): Telkomsel 811-813,
#: 821-823, 852-853; Indosat 814-816, 855-858; XL 817-819, 859, 877-878; Tri 895-899;
#: Smartfren 881-888. Every one, followed by 8 digits, is valid for ``phonenumbers`` as an ID
#: mobile (tests/unit/test_personas.py checks each against the bot's own validator).
MOBILE_PREFIXES: Final[tuple[str, ...]] = (
    "812",
    "813",
    "821",
    "822",
    "852",
    "853",
    "815",
    "857",
    "858",
    "817",
    "818",
    "859",
    "877",
    "878",
    "895",
    "896",
    "897",
    "881",
    "882",
    "887",
)

_SUBSCRIBER_DIGITS = 8
_MODULUS = 10**_SUBSCRIBER_DIGITS
# Multiplying by a number prime to 10 permutes 0..10**8-1: ids that differ below 10**8 never share
# a subscriber number, and neighbouring ids do not get neighbouring numbers.
_SPREAD = 48_271
_OFFSET = 31_415_926


def mobile_number(user_id: int) -> str:
    """A valid Indonesian mobile number in E.164 ("+6281234567890"), the same for the same id.

    Distinct for distinct ids below 10**8 (every Telegram id a test or the page uses).
    """
    prefix = MOBILE_PREFIXES[user_id % len(MOBILE_PREFIXES)]
    subscriber = (user_id * _SPREAD + _OFFSET) % _MODULUS
    return f"+62{prefix}{subscriber:0{_SUBSCRIBER_DIGITS}d}"


Role = Literal["asn", "worker", "admin", "treasurer"]


@dataclass(frozen=True, slots=True)
class Persona:
    """One person of the playground: their Telegram identity and what the sample data make them."""

    role: Role
    user_id: int
    first_name: str
    last_name: str
    #: What the page shows under the name (Indonesian: the page is for Indonesian readers).
    description: str

    @property
    def phone_number(self) -> str:
        return mobile_number(self.user_id)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


#: A civil servant at the regency's health office (Dinas Kesehatan), signed up, on the roster; her
#: sponsorship of the worker below is confirmed by the worker and awaits coverage (an admin's
#: /aktifkan), and an older one of hers was withdrawn.
ASN: Final = Persona(
    role="asn",
    user_id=1001,
    first_name="Siti",
    last_name="Rahmawati",
    description="ASN (PNS) Dinas Kesehatan, penyantun",
)
#: The worker the ASN sponsors: agreed in their own chat; coverage not active yet.
WORKER: Final = Persona(
    role="worker",
    user_id=1002,
    first_name="Ujang",
    last_name="Supriatna",
    description="Pekerja rentan (ojek), sudah setuju",
)
#: A superadmin (the playground adds this id to ADMIN_IDS): /statistik, exports, /umumkan,
#: /aktifkan.
ADMIN: Final = Persona(
    role="admin",
    user_id=9001,
    first_name="Dewi",
    last_name="Lestari",
    description="Admin program",
)

#: The treasurer (bendahara) of the ASN's agency: marks the month's deductions, /rekap.
TREASURER: Final = Persona(
    role="treasurer",
    user_id=9002,
    first_name="Rina",
    last_name="Marlina",
    description="Bendahara Dinas Kesehatan",
)

PERSONAS: Final[tuple[Persona, ...]] = (ASN, WORKER, ADMIN, TREASURER)


def persona(user_id: int) -> Persona | None:
    """The persona with this Telegram id, if any."""
    return next((p for p in PERSONAS if p.user_id == user_id), None)
