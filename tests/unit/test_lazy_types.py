"""aiogram imported through the transport package: its Telegram types are built on first use,
each builds, and what they validate and serialize is what eagerly built types give.

Each check runs in a fresh interpreter: the types are built (or not) once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LAZY = "import bot.telegram_aiogram\n"
EAGER = "import aiogram\n"


def _run(prelude: str, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


BUILT_AT_IMPORT = """
import json
import aiogram.types
from aiogram.types.base import TelegramObject
names = [n for n in aiogram.types.__all__
         if isinstance(getattr(aiogram.types, n), type)
         and issubclass(getattr(aiogram.types, n), TelegramObject)]
built = [n for n in names if getattr(aiogram.types, n).__pydantic_complete__]
print(json.dumps({"types": len(names), "built": len(built)}))
"""


def test_importing_the_transport_builds_no_telegram_type() -> None:
    lazy = json.loads(_run(LAZY, BUILT_AT_IMPORT))
    eager = json.loads(_run(EAGER, BUILT_AT_IMPORT))
    assert lazy["types"] == eager["types"] > 300
    # aiogram's own import builds every type; through the transport, none is built yet.
    assert eager["built"] == eager["types"]
    assert lazy["built"] == 0


def test_every_type_method_and_answer_builds_on_first_use() -> None:
    out = _run(
        LAZY,
        """
        import json
        import aiogram.methods, aiogram.types
        from aiogram.methods.base import TelegramMethod
        from aiogram.types.base import TelegramObject
        from bot.telegram_aiogram.session import answer_type
        failed, built = [], 0
        for module, base in ((aiogram.types, TelegramObject), (aiogram.methods, TelegramMethod)):
            for name in module.__all__:
                cls = getattr(module, name)
                if cls is base or not (isinstance(cls, type) and issubclass(cls, base)):
                    continue
                # What pydantic does on a type's first use: rebuild without a namespace.
                cls.model_rebuild(raise_errors=False, _parent_namespace_depth=5)
                if not cls.__pydantic_complete__:
                    failed.append(name)
                built += 1
                if base is TelegramMethod:
                    answer = answer_type(cls.__returning__)
                    answer.model_rebuild(raise_errors=False, _parent_namespace_depth=5)
                    if not answer.__pydantic_complete__:
                        failed.append("Response of " + name)
        print(json.dumps({"failed": failed, "built": built}))
        """,
    )
    result = json.loads(out)
    assert result["failed"] == []
    assert result["built"] > 450


SAMPLES = """
import json
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import (
    ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton,
    ReplyKeyboardMarkup, Update,
)
from bot.telegram_aiogram.session import answer_type

user = {"id": 7, "is_bot": False, "first_name": "Sari", "language_code": "id"}
chat = {"id": 7, "type": "private", "first_name": "Sari"}
message = {
    "message_id": 3, "date": 1764480000, "chat": chat, "from": user, "text": "/start x",
    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    "reply_markup": {"inline_keyboard": [[{"text": "Ya", "callback_data": "c:1"}]]},
}
updates = [
    {"update_id": 1, "message": message},
    {"update_id": 2, "message": {**message, "text": None,
        "contact": {"phone_number": "+6281234567890", "first_name": "Sari", "user_id": 7}}},
    {"update_id": 3, "callback_query": {"id": "q", "from": user, "chat_instance": "i",
        "data": "c:1", "message": message}},
    {"update_id": 4, "edited_message": {**message, "edit_date": 1764480100}},
    {"update_id": 5, "my_chat_member": {"chat": chat, "from": user, "date": 1,
        "old_chat_member": {"status": "member", "user": user},
        "new_chat_member": {"status": "kicked", "user": user, "until_date": 0}}},
]
out = [Update.model_validate(u).model_dump(exclude_none=True) for u in updates]
markups = [
    InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]),
    ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Kirim", request_contact=True)]],
                        resize_keyboard=True, one_time_keyboard=True),
    ForceReply(force_reply=True, input_field_placeholder="NIK"),
]
for markup in markups:
    out.append(SendMessage(chat_id=7, text="Halo", reply_markup=markup).model_dump(
        exclude_none=True))
out.append(EditMessageText(chat_id=7, message_id=3, text="x").model_dump(
    exclude_none=True))
answer = answer_type(SendMessage.__returning__).model_validate({"ok": True, "result": message})
out.append(answer.model_dump(exclude_none=True))
edited = answer_type(EditMessageText.__returning__).model_validate({"ok": True, "result": True})
out.append(edited.model_dump(exclude_none=True))
print(json.dumps(out, sort_keys=True, default=repr))
"""


def test_built_on_first_use_as_aiogram_builds_them() -> None:
    lazy = json.loads(_run(LAZY, SAMPLES))
    eager = json.loads(_run(EAGER, SAMPLES))
    assert lazy == eager
    assert lazy[1]["message"]["contact"]["phone_number"] == "+6281234567890"
    assert lazy[2]["callback_query"]["message"]["chat"]["id"] == 7
    assert lazy[6]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
