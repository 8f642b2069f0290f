"""Telegram's documented limits and error texts, in one place.

Why a module of its own: these numbers are the contract the bot is tested against (see
``shared/telegram.md``), so a reviewer finds them here rather than spread over the server. Flood
limits apply to the message-sending methods the emulator implements (sendMessage, sendPhoto,
sendDocument, copyMessage, forwardMessage), not to answerCallbackQuery, edits or getUpdates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emulator.models import bad_request

#: Update kinds Telegram sends only when allowed_updates names them.
OPT_IN_UPDATE_KINDS = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200
MAX_BUTTONS = 100
PHOTO_SIZE_LIMIT = 10 * 1024 * 1024
DOCUMENT_SIZE_LIMIT = 50 * 1024 * 1024
DELETE_WINDOW_SECONDS = 48 * 3600

COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")
_INLINE_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_KEYBOARD_REQUESTS = (
    "request_users",
    "request_chat",
    "request_contact",
    "request_location",
    "request_poll",
    "request_managed_bot",
    "web_app",
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)


def check_reply_markup(markup: Mapping[str, Any] | None, chat_type: str) -> None:
    """Keyboard rules beyond the schema: button actions, 64-byte data, contact requests."""
    if markup is None:
        return
    if "inline_keyboard" in markup:
        count = 0
        for row in markup["inline_keyboard"]:
            for button in row:
                count += 1
                check_inline_button(button)
        if count > MAX_BUTTONS:
            raise bad_request("reply markup is too long")
    elif "keyboard" in markup:
        count = 0
        for row in markup["keyboard"]:
            for button in row:
                count += 1
                if not button.get("text"):
                    raise bad_request("keyboard button text is empty")
                requests = [key for key in _KEYBOARD_REQUESTS if button.get(key)]
                if len(requests) > 1:
                    raise bad_request(
                        "can't parse keyboard button: only one of "
                        f"{', '.join(requests)} may be used"
                    )
                if button.get("request_contact") and chat_type != "private":
                    raise bad_request("phone number can be requested in private chats only")
        if count == 0:
            raise bad_request("keyboard must not be empty")
        if count > MAX_BUTTONS * 3:
            raise bad_request("reply markup is too long")


def check_inline_button(button: Mapping[str, Any]) -> None:
    """Exactly one action per inline button; callback_data 1-64 bytes."""
    if not button.get("text"):
        raise bad_request("BUTTON_TEXT_INVALID: inline keyboard button text is empty")
    actions = sorted(key for key in button if key in _INLINE_ACTIONS)
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be "
            f"used, got {', '.join(actions)}"
        )
    if "callback_data" in button:
        size = len(button["callback_data"].encode("utf-8"))
        if not 1 <= size <= CALLBACK_DATA_LIMIT:
            raise bad_request(
                f"BUTTON_DATA_INVALID: callback_data must be 1-{CALLBACK_DATA_LIMIT} bytes, "
                f"got {size}"
            )
    if "url" in button and not button["url"].startswith(("http://", "https://", "tg://")):
        raise bad_request(f"BUTTON_URL_INVALID: {button['url']!r}")
