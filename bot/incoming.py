"""The rules an update must pass before it reaches the service, the same whatever framework
parsed it: each transport (bot.telegram_aiogram, bot.telegram_ptb) reads its framework's objects
and asks these, so a rule cannot drift between them. Logged by update id only, never content."""

from __future__ import annotations

import logging

from flows import callbacks
from flows.inputs import ChoicePicked, CommandIssued

logger = logging.getLogger(__name__)

PRIVATE = "private"


def accepted_chat(update_id: int, chat_type: str, chat_id: int, sender_id: int) -> bool:
    """Whether the service may act on an update from this chat and sender.

    - Private chats only: a group, supergroup or channel update is ignored (the bot never
      answers there, so nothing a member types in a group reaches a flow).
    - In a private chat the chat id is the user id. An update saying otherwise did not come from
      Telegram (a forged webhook POST): acting on it would answer one person's chat as another
      person, admins included."""
    if chat_type != PRIVATE:
        logger.info("update %s ignored: not a private chat", update_id)
        return False
    if chat_id != sender_id:
        logger.warning("update %s refused: the private chat is not the sender's", update_id)
        return False
    return True


def should_answer_unhandled(chat_type: str | None, chat_id: int | None, sender_id: int) -> bool:
    """A press the service does not handle (inline message: no chat; a group) is still answered,
    so the button stops spinning; a forged one is not: its query id never came from Telegram."""
    if chat_type != PRIVATE:
        return True
    return chat_id == sender_id


def command_issued(text: str) -> CommandIssued | None:
    """ "/name argument" (or "/name@bot argument") as a command; None for any other text."""
    if not text.startswith("/"):
        return None
    head, _, argument = text[1:].partition(" ")
    name = head.split("@", 1)[0]
    return CommandIssued(name=name.lower(), argument=argument.strip()) if name else None


def choice_picked(data: str | None, message_id: int | None) -> ChoicePicked:
    """A button press; one whose data is not the flows' ("<seq>:<value>") becomes a choice no
    question asked (seq -1), which the engine answers as a stale button."""
    decoded = callbacks.decode(data or "")
    if decoded is None:
        return ChoicePicked(seq=-1, value="", message_id=message_id)
    seq, value = decoded
    return ChoicePicked(seq=seq, value=value, message_id=message_id)
