"""The one owner of callback data: what a button carries to Telegram and back.

On the wire a button's callback data is "<seq>:<value>": the prompt number the button was shown
with (buttons of an older prompt are answered as stale) and the value a flow gave the button.
Telegram allows 64 bytes; `encode` refuses more. `decode` reads data back and never raises: data we
did not send (forged, mangled, from an old release) is None.

Values the router acts on whenever they are pressed (they never go stale) have a structure, and are
built only here, by the typed builders below:

    menu:<name>                  a main-menu entry ("menu:status")
    lang:<code>                  a language ("lang:en")
    act:<action>:<reference>     a button under /status, /data_saya, the queue or /admin
    act:rekap:<YYYY-MM>[:<code>] a button under /rekap: a month's recap, of one agency or all
    act:lmark:<YYYY-MM>:<n>[:<code>]   under /rekap: mark the month deducted? (n: the rows unmarked
                                 when the recap was sent, only for the question's wording)
    act:lmarkok:<YYYY-MM>[:<code>]     the confirmation: marks (the host checks the scope again)
    act:lmarkno:<YYYY-MM>              the confirmation's cancel button
    act:trekap:…, act:tmark:…, act:tmarkok:…, act:tmarkno:…   the same for the transfers of
                                 sponsors without a NIP (a village, BAZNAS, a company, an honorer)
    show:<list>:<n>              the ◀️/▶️ buttons of a long /status, /data_saya, queue or staff list
    stat:<agency code>           one agency's statistics under /statistik (the scope is checked
                                 again when pressed: the button never carries it)

Buttons shown outside a prompt (under /status, /data_saya, the queue) carry the seq `TIMELESS`:
their values are of the kinds above, which the router reads without looking at the seq.
Nothing else in bot/ or flows/ concatenates these strings (tests/unit/test_callbacks.py greps).
"""

from __future__ import annotations

from typing import Final, Literal

from flows.validators import parse_int

LIMIT: Final = 64  # bytes of callback data, Bot API
SEQ_DIGITS: Final = 18  # the prompt number is a counter, never near 10**18
TIMELESS: Final = 0  # the seq of buttons whose values never go stale (menu, act, show)
SEPARATOR: Final = ":"

MENU: Final = "menu:"
LANGUAGE: Final = "lang:"
ACTION: Final = "act:"
PAGE: Final = "show:"
STATISTICS: Final = "stat:"
PREFIXES: Final = (MENU, LANGUAGE, ACTION, PAGE, STATISTICS)

MenuEntry = Literal[
    "sponsor", "status", "personal_data", "signup", "language", "help", "resume", "claim", "privacy"
]
ActionName = Literal[
    "inperson",
    "reinvite",
    "withdraw",
    "wwithdraw",
    "correct",
    "wcorrect",
    "resolve",
    "staffrm",
    "staffrmok",
    "staffkeep",
    "rekap",
    "lmark",
    "lmarkok",
    "lmarkno",
    "trekap",
    "tmark",
    "tmarkok",
    "tmarkno",
    "kampanye",
    "kampanyeno",
    "annsend",
    "annedit",
    "anncancel",
    "annok",
    "annrej",
    "annpause",
    "annresume",
    "annstop",
    "annoff",
]
ListName = Literal["status", "data", "queue", "staff"]
ACTIONS: Final[tuple[ActionName, ...]] = (
    "inperson",
    "reinvite",
    "withdraw",
    "wwithdraw",
    "correct",
    "wcorrect",
    "resolve",
    "staffrm",  # a remove button of the staff list: asks to confirm
    "staffrmok",  # the confirmation: removes
    "staffkeep",  # keep the person after all
    "rekap",
    "lmark",  # under a recap: asks to confirm marking the month deducted
    "lmarkok",  # the confirmation: marks
    "lmarkno",  # not after all
    "trekap",  # the transfers of sponsors without a NIP under /rekap (issue 12), like rekap
    "tmark",  # under the transfers: asks to confirm marking the month paid
    "tmarkok",
    "tmarkno",
    "kampanye",  # /kampanye's confirmation: save the deadline and days it carries
    "kampanyeno",  # not after all
    "annsend",  # under an announcement's preview: send it (or ask for approval)
    "annedit",  # under the preview: compose again
    "anncancel",  # under the preview: drop the draft
    "annok",  # a second superadmin approves
    "annrej",  # a second superadmin rejects
    "annpause",  # the progress message's buttons
    "annresume",
    "annstop",
    "annoff",  # under every announcement: stop receiving announcements
)


class CallbackTooLong(ValueError):
    """Callback data over Telegram's 64 bytes: a bug in whoever chose the value."""


def encode(seq: int, value: str) -> str:
    """The callback data of a button with `value`, shown with prompt number `seq`."""
    if seq < 0:
        raise ValueError(f"the prompt number is never negative: {seq}")
    data = f"{seq}{SEPARATOR}{value}"
    if len(data.encode()) > LIMIT:
        raise CallbackTooLong(f"callback data over {LIMIT} bytes: {data!r}")
    return data


def decode(data: str) -> tuple[int, str] | None:
    """(seq, value) of callback data, or None for data we could not have sent. The seq is
    digits only, at most SEQ_DIGITS of them, read as ASCII whatever their script (flows.validators:
    int() would also take " 3" or "3_0")."""
    seq_text, separator, value = data.partition(SEPARATOR)
    if not separator:
        return None
    seq = parse_int(seq_text, max_digits=SEQ_DIGITS)
    if seq is None:
        return None
    return seq, value


def menu(entry: MenuEntry) -> str:
    """The value of a main-menu button."""
    return MENU + entry


def language(code: str) -> str:
    """The value of a language button."""
    return LANGUAGE + code


def action(name: ActionName, reference: str | int) -> str:
    """The value of a button acting on one item: a sponsorship's reference or a request's id."""
    return f"{ACTION}{name}{SEPARATOR}{reference}"


def is_recap(value: str) -> bool:
    """Whether a button's value asks for a recap (of the deductions or the transfers): like the
    menu, such buttons stay usable (the host keeps them on the message when one is pressed)."""
    return value.startswith((f"{ACTION}rekap{SEPARATOR}", f"{ACTION}trekap{SEPARATOR}"))


def recap(month: str, agency: str | None = None, *, transfers: bool = False) -> str:
    """The value of a button asking for the deduction recap of `month` ("YYYY-MM"), of one
    agency or of the whole scope (transfers: the transfers of sponsors without a NIP instead).
    It names an agency, never a scope: the router and the host check it against the presser's
    own scope."""
    argument = month if agency is None else f"{month}{SEPARATOR}{agency}"
    return action("trekap" if transfers else "rekap", argument)


def ledger_mark(month: str, agency: str | None, unmarked: int, *, transfers: bool = False) -> str:
    """The value of the button under a recap asking to mark `month` ("YYYY-MM") as deducted (or
    its transfers as paid), for one agency or the whole scope; `unmarked` only words the question
    (the host counts again)."""
    argument = f"{month}{SEPARATOR}{unmarked}"
    if agency is not None:
        argument += f"{SEPARATOR}{agency}"
    return action("tmark" if transfers else "lmark", argument)


def ledger_mark_confirmed(month: str, agency: str | None, *, transfers: bool = False) -> str:
    """The value of the confirmation button: mark the month (of one agency or the scope)."""
    argument = month if agency is None else f"{month}{SEPARATOR}{agency}"
    return action("tmarkok" if transfers else "lmarkok", argument)


def ledger_mark_cancelled(month: str, *, transfers: bool = False) -> str:
    return action("tmarkno" if transfers else "lmarkno", month)


def is_ledger_mark_question(value: str) -> bool:
    """Whether a button's value asks to mark a month: the recap it sits under stays usable (the
    host keeps its buttons), the confirmation comes as a new message."""
    return value.startswith((f"{ACTION}lmark{SEPARATOR}", f"{ACTION}tmark{SEPARATOR}"))


def page(list_name: ListName, number: int) -> str:
    """The value of a button showing page `number` (from 0) of a long list."""
    return f"{PAGE}{list_name}{SEPARATOR}{number}"


def statistics(agency_code: str) -> str:
    """The value of a button showing one agency's statistics (per kecamatan and desa)."""
    return f"{STATISTICS}{agency_code}"


AnnouncementAction = Literal[
    "annsend", "annedit", "anncancel", "annok", "annrej", "annpause", "annresume", "annstop"
]
ANNOUNCEMENT_ACTIONS: Final[tuple[AnnouncementAction, ...]] = (
    "annsend",
    "annedit",
    "anncancel",
    "annok",
    "annrej",
    "annpause",
    "annresume",
    "annstop",
)


def announcement(name: AnnouncementAction, announcement_id: int) -> str:
    """A button acting on one announcement by id; the host checks who presses it."""
    return action(name, str(announcement_id))


def announcement_opt_out(announcement_id: int) -> str:
    """The button under every announcement: stop receiving announcements."""
    return action("annoff", str(announcement_id))


def keeps_buttons(value: str) -> bool:
    """Buttons left on their message when pressed: an announcement's (it may carry a photo,
    whose text cannot be replaced) and the progress message's (the progress loop redraws it)."""
    return any(
        value.startswith(f"{ACTION}{name}{SEPARATOR}")
        for name in ("annoff", "annpause", "annresume", "annstop")
    )
