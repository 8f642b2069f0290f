"""The webhook's common updates read straight from the Bot API's JSON, without a framework's
Update model (issue 13, "The edges of a turn").

A framework parses a whole update into its objects (aiogram: pydantic models, a validator and a
post-init per object; python-telegram-bot: de_json per object), then routes it through its
dispatcher or application to the flows' handler, which reads a few fields back out. For the
updates that make up nearly all of the traffic (a private-chat message with text or a contact,
a press of an inline button on a message with text) that was about half of the webhook's cost per
update outside the turn. `plain_incoming` reads those fields directly, checking the type of
every field of the update, known or not, so that it accepts only what the framework would
accept too: anything else (another kind, a field it does not know, a value of another type, a
text mention, a user's own formatting) is NOT_PLAIN, and the runtime hands the update to its
framework as before, which parses it, refuses it or routes it. The refusals are the same rules
(bot.incoming.accepted_chat) in both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from bot.incoming import accepted_chat, choice_picked, command_issued
from bot.service import Incoming
from flows.inputs import ContactShared, Input, TextReceived


class NotPlain:
    """The type of NOT_PLAIN (one instance)."""

    def __repr__(self) -> str:
        return "NOT_PLAIN"


#: plain_incoming's answer for an update it does not read: the framework's path takes it.
NOT_PLAIN: Final = NotPlain()

#: A message's text with its entities (the Bot API's JSON) as HTML, by the framework's own
#: rules (aiogram's html_decoration, python-telegram-bot's text_html), so both paths agree.
EntitiesHtml = Callable[[Mapping[str, Any]], str]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


Check = Callable[[object], bool]

#: Every field a plain object may have, with its check; required fields in the second set.
USER: Final[dict[str, Check]] = {
    "id": _is_int,
    "is_bot": _is_bool,
    "first_name": _is_str,
    "last_name": _is_str,
    "username": _is_str,
    "language_code": _is_str,
    "is_premium": _is_bool,
    "added_to_attachment_menu": _is_bool,
}
USER_REQUIRED: Final = frozenset({"id", "is_bot", "first_name"})
CHAT: Final[dict[str, Check]] = {
    "id": _is_int,
    "type": _is_str,
    "title": _is_str,
    "username": _is_str,
    "first_name": _is_str,
    "last_name": _is_str,
}
CHAT_REQUIRED: Final = frozenset({"id", "type"})
ENTITY: Final[dict[str, Check]] = {
    "type": _is_str,
    "offset": _is_int,
    "length": _is_int,
    "url": _is_str,
    "language": _is_str,
    "custom_emoji_id": _is_str,
}
ENTITY_REQUIRED: Final = frozenset({"type", "offset", "length"})
CONTACT: Final[dict[str, Check]] = {
    "phone_number": _is_str,
    "first_name": _is_str,
    "last_name": _is_str,
    "user_id": _is_int,
    "vcard": _is_str,
}
CONTACT_REQUIRED: Final = frozenset({"phone_number", "first_name"})
BUTTON: Final[dict[str, Check]] = {"text": _is_str, "callback_data": _is_str, "url": _is_str}
BUTTON_REQUIRED: Final = frozenset({"text"})
#: A message's own fields (its nested objects are checked apart); a plain message has exactly
#: one of text and contact.
MESSAGE: Final[dict[str, Check]] = {
    "message_id": _is_int,
    "date": _is_int,
    "edit_date": _is_int,
    "text": _is_str,
    "from": lambda value: True,
    "chat": lambda value: True,
    "entities": lambda value: True,
    "contact": lambda value: True,
    "reply_markup": lambda value: True,
}
MESSAGE_REQUIRED: Final = frozenset({"message_id", "date", "chat"})
CALLBACK: Final[dict[str, Check]] = {
    "id": _is_str,
    "chat_instance": _is_str,
    "data": _is_str,
    "from": lambda value: True,
    "message": lambda value: True,
}
CALLBACK_REQUIRED: Final = frozenset({"id", "chat_instance", "from", "message"})


def _fits(raw: object, fields: Mapping[str, Check], required: frozenset[str]) -> bool:
    """A JSON object with the required fields, no other field than `fields`, each of its type
    (a null counts as absent, as the frameworks take it, unless the field is required)."""
    if not isinstance(raw, dict):
        return False
    for key, value in raw.items():
        check = fields.get(key)
        if check is None:
            return False
        if value is None:
            if key in required:
                return False
            continue
        if not check(value):
            return False
    return all(raw.get(key) is not None for key in required)


def _entities(raw: object) -> bool:
    return isinstance(raw, list) and all(_fits(e, ENTITY, ENTITY_REQUIRED) for e in raw)


def _keyboard(raw: object) -> bool:
    if not isinstance(raw, dict) or set(raw) != {"inline_keyboard"}:
        return False
    rows = raw["inline_keyboard"]
    return isinstance(rows, list) and all(
        isinstance(row, list) and all(_fits(b, BUTTON, BUTTON_REQUIRED) for b in row)
        for row in rows
    )


def _message(raw: object) -> dict[str, Any] | None:
    """The message when it is plain: its sender (if any) and chat are plain, and it has text
    (its entities plain) or a contact, never both."""
    if not _fits(raw, MESSAGE, MESSAGE_REQUIRED):
        return None
    assert isinstance(raw, dict)
    if raw["date"] == 0:  # an inaccessible message: the frameworks have a type of its own
        return None
    sender = raw.get("from")
    if sender is not None and not _fits(sender, USER, USER_REQUIRED):
        return None
    if not _fits(raw["chat"], CHAT, CHAT_REQUIRED):
        return None
    has_text, contact = raw.get("text") is not None, raw.get("contact")
    if has_text == (contact is not None):
        return None
    if contact is not None and not _fits(contact, CONTACT, CONTACT_REQUIRED):
        return None
    entities = raw.get("entities")
    if entities is not None and not (has_text and _entities(entities)):
        return None
    markup = raw.get("reply_markup")
    if markup is not None and not _keyboard(markup):
        return None
    return raw


def _has_entities(message: Mapping[str, Any]) -> bool:
    return bool(message.get("entities"))


def plain_incoming(raw: Mapping[str, Any], html: EntitiesHtml) -> Incoming | NotPlain | None:
    """The update as the service's Incoming, None when the rules refuse it (logged by
    bot.incoming: not a private chat, a private chat that is not the sender's), or NOT_PLAIN.

    Read exactly as the transports' adapters read their framework's objects (incoming_message,
    incoming_callback): tests/unit/test_plain_updates.py holds both to the same answers."""
    update_id = raw.get("update_id")
    if not _is_int(update_id) or len(raw) != 2:
        return NOT_PLAIN
    assert isinstance(update_id, int)
    if "message" in raw:
        return _from_message(update_id, raw["message"])
    if "callback_query" in raw:
        return _from_callback(update_id, raw["callback_query"], html)
    return NOT_PLAIN


def _from_message(update_id: int, raw: object) -> Incoming | NotPlain | None:
    message = _message(raw)
    if message is None or message.get("reply_markup") is not None:
        return NOT_PLAIN
    sender = message.get("from")
    if sender is None:
        return NOT_PLAIN  # a channel post's shape: the framework's path ignores it
    chat = message["chat"]
    given: Input
    contact = message.get("contact")
    if contact is not None:
        owner = contact.get("user_id")
        given = ContactShared(
            phone=contact["phone_number"],
            is_own=owner is not None and owner == sender["id"],
            message_id=message["message_id"],
        )
    else:
        text = message["text"]
        command = command_issued(text)
        if command is None and _has_entities(message):
            return NOT_PLAIN  # the user's own formatting: the framework writes its HTML
        given = command or TextReceived(text=text, message_id=message["message_id"], html=None)
    if not accepted_chat(update_id, chat["type"], chat["id"], sender["id"]):
        return None
    return Incoming(update_id=update_id, user_id=sender["id"], chat_id=chat["id"], input=given)


def _from_callback(update_id: int, raw: object, html: EntitiesHtml) -> Incoming | NotPlain | None:
    if not _fits(raw, CALLBACK, CALLBACK_REQUIRED):
        return NOT_PLAIN
    assert isinstance(raw, dict)
    sender = raw["from"]
    message = _message(raw["message"])
    if not _fits(sender, USER, USER_REQUIRED) or message is None:
        return NOT_PLAIN
    if message.get("text") is None:
        return NOT_PLAIN
    chat = message["chat"]
    if chat["type"] != "private":
        return NOT_PLAIN  # answered or not by the framework's path (should_answer_unhandled)
    if not accepted_chat(update_id, chat["type"], chat["id"], sender["id"]):
        return None
    data = raw.get("data")
    markup = message.get("reply_markup")
    rows = markup["inline_keyboard"] if markup is not None else []
    label = next((b["text"] for row in rows for b in row if b.get("callback_data") == data), None)
    pressed_html = html(message)  # escaped by the framework's rules even without entities
    return Incoming(
        update_id=update_id,
        user_id=sender["id"],
        chat_id=chat["id"],
        input=choice_picked(data, message["message_id"]),
        callback_query_id=raw["id"],
        callback_message_id=message["message_id"],
        pressed_label=label,
        pressed_message_html=pressed_html,
    )
