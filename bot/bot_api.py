"""The Bot API's JSON for what the service sends, built without any framework.

Both transports use it for the delivery engine's bulk sends (one JSON POST per message, read back
as a SendResult): building a framework's method objects cost about half of the engine's CPU per
message (bench/broadcast.py). The aiogram and python-telegram-bot adapters check that the markup
here equals their framework's own.
"""

from __future__ import annotations

from typing import Any

from bot.transport import Media, Outgoing, SendResult, SendStatus

JSON_HEADERS = {"Content-Type": "application/json"}


def reply_markup_json(message: Outgoing) -> dict[str, Any] | None:
    """The message's keyboard as the Bot API's reply_markup JSON (None: no keyboard)."""
    if message.inline_keyboard:
        return {
            "inline_keyboard": [
                [{"text": label, "callback_data": data} for label, data in row]
                for row in message.inline_keyboard
            ]
        }
    if message.contact_button:
        return {
            "keyboard": [[{"text": message.contact_button, "request_contact": True}]],
            "resize_keyboard": True,
            "one_time_keyboard": True,
        }
    if message.remove_keyboard:
        return {"remove_keyboard": True}
    return None


def delivery_request(
    chat_id: int, message: Outgoing, media: Media | None, paid_broadcast: bool
) -> tuple[str, dict[str, Any]]:
    """The Bot API method and JSON parameters of one delivery (Transport.deliver): the request
    a framework would make for sendMessage, sendPhoto or sendDocument."""
    payload: dict[str, Any] = {"chat_id": chat_id, "parse_mode": "HTML"}
    if media is None:
        method = "sendMessage"
        payload["text"] = message.text
        payload["link_preview_options"] = {"is_disabled": True}
    else:
        method = "sendPhoto" if media.kind == "photo" else "sendDocument"
        payload[media.kind] = media.file_id
        payload["caption"] = message.text
    markup = reply_markup_json(message)
    if markup is not None:
        payload["reply_markup"] = markup
    if paid_broadcast:
        payload["allow_paid_broadcast"] = True
    return method, payload


def edit_text_request(
    chat_id: int, message_id: int, text: str, message: Outgoing | None = None
) -> dict[str, Any]:
    """editMessageText's JSON parameters: the new HTML text and, from `message`, its inline
    buttons (an edit keeps inline buttons only; without them the message loses its buttons)."""
    payload: dict[str, Any] = {
        "chat_id": chat_id,
        "message_id": message_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    markup = None if message is None else reply_markup_json(message)
    if markup is not None and "inline_keyboard" in markup:
        payload["reply_markup"] = markup
    return payload


def send_result(body: object) -> SendResult:
    """A Bot API answer as a SendResult: 429 waits retry_after, 403 is a person who blocked the
    bot or cannot be messaged, 400 a request Telegram will never take; anything else (5xx, a
    401 or 404 from a proxy in between) is worth a later retry."""
    if not isinstance(body, dict):
        return SendResult(SendStatus.TRANSIENT, detail="not a Bot API answer")
    if body.get("ok") is True:
        result = body.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if isinstance(message_id, int):
            return SendResult(SendStatus.SENT, message_id=message_id)
        return SendResult(SendStatus.TRANSIENT, detail="no message_id in the answer")
    code = body.get("error_code")
    detail = str(body.get("description") or code)[:200]
    if code == 429:
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        seconds = float(retry_after) if isinstance(retry_after, int | float) else 1.0
        return SendResult(SendStatus.RATE_LIMITED, retry_after=seconds, detail=detail)
    if code == 403:
        return SendResult(SendStatus.BLOCKED, detail=detail)
    if code == 400:
        return SendResult(SendStatus.REFUSED, detail=detail)
    return SendResult(SendStatus.TRANSIENT, detail=detail)
