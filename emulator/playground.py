"""The playground: a chat page under ``/_emulator/`` and the JSON routes behind it.

Why: the same emulator backs a local playground (``peduli playground``, ``python -m emulator``)
where a person tries the bot as people will use it, several personas side by side, and lets a
test drive users from another process. The routes mirror the in-process ``FakeUser`` API; photos
and documents are served as bytes, everything else is JSON. The page itself is static files in
``emulator/page/`` (package data: no build step, nothing fetched from the network).

Personas: the people the page shows side by side (an ASN, the worker, an admin and a treasurer
by default, as emulator.personas names them; more with "new persona"). A host that knows the bot
may register an *inspector*: a callable user id -> JSON-able dict of what the bot holds about that
person, which the page shows beside the chat. The emulator never imports the bot (an import
contract): the bot's side implements the protocol.

Resetting: "clear chat" hides a persona's messages on the page, as Telegram's "clear history"
does (the bot remembers everything); "reset playground" also gives every persona but the staff a
new user id, so the bot meets new people with no data and no conversation (the admin and the
treasurer keep their ids: an id is what gives them their role). The database keeps the earlier
people's rows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from typing import Any, Literal, Protocol

from aiohttp import web

from emulator.models import ApiCall, ChatMessage, Rejection
from emulator.personas import PERSONAS
from emulator.state import Chat
from emulator.users import FakeUser

#: What the page's panel shows for a persona: JSON-able, whatever the host chooses to tell.
Inspector = Callable[[int], Awaitable[dict[str, Any]]]

Role = Literal["asn", "worker", "admin", "treasurer", "person"]

#: Names given to personas added with "new persona", in turn.
NEW_PERSONA_NAMES = (
    ("Dewi", "Lestari"),
    ("Agus", "Setiawan"),
    ("Rina", "Marlina"),
    ("Asep", "Hidayat"),
    ("Nur", "Aisyah"),
    ("Yusuf", "Maulana"),
)

#: The page's static files, served from emulator/page/ (name -> content type).
STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}

#: How long the page's long poll waits for a change before answering "nothing new".
LONG_POLL_MAX = 25.0


@dataclass
class Persona:
    """One person on the page: a role, a name, the fake user's id.

    ``hidden_before``: the page shows only messages with a higher id (after "clear chat").
    """

    role: Role
    user_id: int
    first_name: str
    last_name: str | None = None
    hidden_before: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def default_personas() -> list[Persona]:
    """An ASN, the worker they sponsor, an admin and a treasurer: the programme's kinds of
    people, as emulator.personas names them (the sample data of `peduli demo` give them their
    rows, so their /status and the admin's statistics are not empty)."""
    return [
        Persona(known.role, known.user_id, known.first_name, known.last_name) for known in PERSONAS
    ]


@dataclass
class PlaygroundState:
    """The playground's own state: personas, the inspector a host registered, a generation
    counter that changes with every persona change (the page's long poll watches it)."""

    personas: list[Persona] = field(default_factory=default_personas)
    inspector: Inspector | None = None
    generation: int = 0

    def persona(self, role: Role) -> Persona:
        """The first persona with this role."""
        for persona in self.personas:
            if persona.role == role:
                return persona
        raise LookupError(f"no {role} persona")

    def next_user_id(self, taken: Iterator[int]) -> int:
        return max([*taken, *(p.user_id for p in self.personas), 1000]) + 1


class PlaygroundHost(Protocol):
    """What the chat page needs of the emulator (``BotApiEmulator`` registers the routes)."""

    calls: list[ApiCall]
    rejections: list[Rejection]
    playground: PlaygroundState
    bot_user: dict[str, Any]

    def user(
        self,
        user_id: int,
        first_name: str = "Budi",
        language_code: str | None = "id",
        username: str | None = None,
        *,
        last_name: str | None = None,
        phone_number: str | None = None,
    ) -> FakeUser: ...
    def commands(
        self,
        scope_type: str = "default",
        language_code: str = "",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, str]]: ...
    def known_user_ids(self) -> Iterator[int]: ...
    def notify(self) -> None: ...
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - as BotApiEmulator.wait_until
        what: str = "condition",
    ) -> None: ...
    def _existing_chat(self, user: FakeUser) -> Chat | None: ...


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def message_json(message: ChatMessage) -> dict[str, Any]:
    """A chat message as JSON (media as flags: fetch the bytes from the photo and document
    routes)."""
    document = message.document
    if document is None and "document" in message.raw:  # one a fake user sent
        sent = message.raw["document"]
        shown: dict[str, Any] | None = {
            "file_name": sent.get("file_name"),
            "mime_type": sent.get("mime_type"),
            "file_size": sent.get("file_size"),
            "downloadable": False,
        }
    elif document is not None:
        shown = {
            "file_name": document.filename,
            "mime_type": document.content_type,
            "file_size": None if document.data is None else len(document.data),
            "downloadable": document.data is not None,
        }
    else:
        shown = None
    return {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "event": message.event,
        "text": message.text,
        "entities": message.entities,
        "reply_markup": message.reply_markup,
        "has_photo": message.photo is not None,
        "document": shown,
        "edit_count": message.edit_count,
        "deleted": message.deleted,
        "date": message.date,
        "raw": message.raw,
    }


def fake_user(host: PlaygroundHost, persona: Persona) -> FakeUser:
    """The persona's fake user (created with the persona's name on first use)."""
    return host.user(persona.user_id, persona.first_name, last_name=persona.last_name)


def chat_version(host: PlaygroundHost, persona: Persona) -> str:
    """Changes whenever what the page shows of this persona's chat changes."""
    chat = host._existing_chat(fake_user(host, persona))
    if chat is None:
        return f"0.{persona.hidden_before}"
    return (
        f"{chat.next_message_id}.{len(chat.events)}.{len(chat.callback_answers)}"
        f".{persona.hidden_before}"
    )


def page_file(name: str) -> bytes:
    return files("emulator").joinpath("page", name).read_bytes()


def add_playground_routes(app: web.Application, emulator: PlaygroundHost) -> None:
    """Register the ``/_emulator/...`` routes for ``emulator`` on ``app``."""
    state = emulator.playground

    async def body(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="the JSON body must be an object")
        return data

    async def user_of(request: web.Request) -> FakeUser:
        data = await body(request) if request.method == "POST" else {}
        user_id = int(request.match_info["user_id"])
        return emulator.user(
            user_id,
            first_name=str(data.get("first_name", request.query.get("first_name", "Budi"))),
            language_code=data.get("language_code", request.query.get("language_code", "id")),
            username=data.get("username"),
        )

    def guarded(route: Route) -> Route:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await route(request)
            except LookupError as error:
                return web.json_response({"error": str(error)}, status=404)
            except (ValueError, KeyError, TypeError) as error:
                return web.json_response({"error": str(error)}, status=400)
            except AssertionError as error:
                return web.json_response({"error": str(error)}, status=504)

        return wrapper

    async def create_user(request: web.Request) -> web.Response:
        user = await user_of(request)
        return web.json_response({"user": user.as_user(), "mark": user.mark()})

    async def send_text(request: web.Request) -> web.Response:
        user = await user_of(request)
        data = await body(request)
        mark = user.mark()
        update = await user.send_text(str(data["text"]))
        return web.json_response({"update": update, "mark": mark})

    async def send_command(request: web.Request) -> web.Response:
        user = await user_of(request)
        data = await body(request)
        mark = user.mark()
        update = await user.send_command(str(data["command"]), str(data.get("arg", "")))
        return web.json_response({"update": update, "mark": mark})

    async def share_contact(request: web.Request) -> web.Response:
        user = await user_of(request)
        data = await body(request)
        mark = user.mark()
        update = await user.share_contact(data.get("phone_number"), own=data.get("own", True))
        return web.json_response({"update": update, "mark": mark})

    async def press(request: web.Request) -> web.Response:
        user = await user_of(request)
        data = await body(request)
        mark = user.mark()
        message_id = data.get("message_id")
        if "data" in data:
            update = await user.press_data(str(data["data"]), message_id)
        else:
            update = await user.press(str(data["label"]), message_id=message_id)
        return web.json_response({"update": update, "mark": mark})

    async def tap(request: web.Request) -> web.Response:
        user = await user_of(request)
        data = await body(request)
        mark = user.mark()
        update = await user.tap(str(data["label"]))
        return web.json_response({"update": update, "mark": mark})

    async def block(request: web.Request) -> web.Response:
        user = await user_of(request)
        user.block()
        return web.json_response({"blocked": True})

    async def unblock(request: web.Request) -> web.Response:
        user = await user_of(request)
        user.unblock()
        return web.json_response({"blocked": False})

    async def messages(request: web.Request) -> web.Response:
        user = await user_of(request)
        history = request.query.get("history") in ("1", "true")
        chosen = user.history if history else user.messages
        chat = emulator._existing_chat(user)
        keyboard = chat.reply_keyboard if chat is not None else None
        return web.json_response(
            {
                "messages": [message_json(m) for m in chosen],
                "reply_keyboard": user.reply_keyboard(),
                # the keyboard as the bot sent it: which button shares the contact
                "reply_keyboard_markup": keyboard,
                "callback_answers": list(chat.callback_answers) if chat is not None else [],
                "mark": user.mark(),
            }
        )

    async def replies(request: web.Request) -> web.Response:
        user = await user_of(request)
        found = await user.replies_since(
            int(request.query.get("since", "0")),
            min_count=int(request.query.get("min_count", "1")),
            timeout=float(request.query.get("timeout", "10")),
        )
        return web.json_response({"replies": [message_json(m) for m in found]})

    async def photo(request: web.Request) -> web.Response:
        user = await user_of(request)
        wanted = int(request.match_info["message_id"])
        for message in user.history:
            if message.message_id == wanted and message.photo is not None:
                return web.Response(body=message.photo, content_type="image/png")
        raise LookupError(f"message {wanted} has no photo")

    async def document(request: web.Request) -> web.Response:
        """A file the bot sent, as a download under its own name."""
        user = await user_of(request)
        wanted = int(request.match_info["message_id"])
        for message in user.history:
            stored = message.document
            if message.message_id == wanted and stored is not None and stored.data is not None:
                name = stored.filename.replace('"', "")
                return web.Response(
                    body=stored.data,
                    content_type=stored.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'},
                )
        raise LookupError(f"message {wanted} has no document")

    async def calls(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response(
            {
                "calls": [
                    {
                        "method": c.method,
                        "params": c.params,
                        "ok": c.ok,
                        "result": c.result,
                        "description": c.description,
                    }
                    for c in emulator.calls[since:]
                ]
            },
            dumps=lambda value: json.dumps(value, default=repr),
        )

    async def rejections(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "rejections": [
                    {
                        "method": r.method,
                        "params": r.params,
                        "description": r.description,
                        "error_code": r.error_code,
                    }
                    for r in emulator.rejections
                ]
            },
            dumps=lambda value: json.dumps(value, default=repr),
        )

    async def commands(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "commands": emulator.commands(
                    request.query.get("scope", "default"), request.query.get("language_code", "")
                )
            }
        )

    # -- the page and its personas ------------------------------------------------------------

    def playground_token() -> str:
        versions = ",".join(chat_version(emulator, p) for p in state.personas)
        return f"{state.generation}|{versions}"

    def playground_json() -> dict[str, Any]:
        return {
            "token": playground_token(),
            "bot": {
                "username": emulator.bot_user.get("username"),
                "first_name": emulator.bot_user.get("first_name"),
            },
            "inspector": state.inspector is not None,
            "personas": [
                {**p.as_json(), "version": chat_version(emulator, p)} for p in state.personas
            ],
        }

    def changed() -> None:
        state.generation += 1
        emulator.notify()

    async def playground(request: web.Request) -> web.Response:
        """The personas and a token; with ``since=<token>&wait=S``, answers once the token
        differs (a message, an edit, a deletion, a callback answer, a persona change) or after
        S seconds: the page's long poll."""
        since = request.query.get("since")
        wait = min(float(request.query.get("wait", "0")), LONG_POLL_MAX)
        if since is not None and wait > 0:
            with contextlib.suppress(AssertionError):  # nothing new: the page asks again
                await emulator.wait_until(lambda: playground_token() != since, wait, "a change")
        return web.json_response(playground_json())

    async def new_persona(request: web.Request) -> web.Response:
        data = await body(request)
        role = data.get("role", "person")
        if role not in ("asn", "worker", "person"):
            raise ValueError("a new persona is an asn, a worker or a person")
        first, last = NEW_PERSONA_NAMES[state.generation % len(NEW_PERSONA_NAMES)]
        persona = Persona(
            role,
            state.next_user_id(emulator.known_user_ids()),
            str(data.get("first_name") or first),
            str(data.get("last_name") or last),
        )
        fake_user(emulator, persona)
        state.personas.append(persona)
        changed()
        return web.json_response(persona.as_json())

    def shown_up_to(persona: Persona) -> int:
        chat = emulator._existing_chat(fake_user(emulator, persona))
        return chat.next_message_id - 1 if chat is not None else 0

    async def clear_chat(request: web.Request) -> web.Response:
        wanted = int(request.match_info["user_id"])
        for persona in state.personas:
            if persona.user_id == wanted:
                persona.hidden_before = shown_up_to(persona)
                changed()
                return web.json_response(persona.as_json())
        raise LookupError(f"user {wanted} is not a persona")

    async def reset(request: web.Request) -> web.Response:
        """Every chat cleared; every persona but the staff (admin, treasurer: their id is what
        gives them their role) a new person (a new user id)."""
        for persona in state.personas:
            if persona.role in ("admin", "treasurer"):
                persona.hidden_before = shown_up_to(persona)
                continue
            persona.user_id = state.next_user_id(emulator.known_user_ids())
            persona.hidden_before = 0
            fake_user(emulator, persona)
        changed()
        return web.json_response(playground_json())

    async def inspect(request: web.Request) -> web.Response:
        """What the bot holds about this person (the inspector a host registered)."""
        if state.inspector is None:
            return web.json_response({"available": False})
        found = await state.inspector(int(request.match_info["user_id"]))
        return web.json_response(
            {"available": True, **found}, dumps=lambda value: json.dumps(value, default=str)
        )

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=page_file("index.html"), content_type="text/html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise LookupError(f"no file {name!r}")
        return web.Response(
            body=page_file(name),
            content_type=STATIC_FILES[name],
            headers={"Cache-Control": "no-cache"},
        )

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(body=page_file("favicon.svg"), content_type="image/svg+xml")

    routes: list[tuple[str, str, Route]] = [
        ("GET", "/_emulator/", page),
        ("GET", "/_emulator/static/{name}", static),
        ("GET", "/favicon.ico", favicon),
        ("GET", "/_emulator/playground", playground),
        ("POST", "/_emulator/personas", new_persona),
        ("POST", "/_emulator/reset", reset),
        ("GET", "/_emulator/calls", calls),
        ("GET", "/_emulator/rejections", rejections),
        ("GET", "/_emulator/commands", commands),
        ("POST", "/_emulator/users/{user_id}", create_user),
        ("POST", "/_emulator/users/{user_id}/text", send_text),
        ("POST", "/_emulator/users/{user_id}/command", send_command),
        ("POST", "/_emulator/users/{user_id}/contact", share_contact),
        ("POST", "/_emulator/users/{user_id}/press", press),
        ("POST", "/_emulator/users/{user_id}/tap", tap),
        ("POST", "/_emulator/users/{user_id}/block", block),
        ("POST", "/_emulator/users/{user_id}/unblock", unblock),
        ("POST", "/_emulator/users/{user_id}/clear", clear_chat),
        ("GET", "/_emulator/users/{user_id}/messages", messages),
        ("GET", "/_emulator/users/{user_id}/replies", replies),
        ("GET", "/_emulator/users/{user_id}/inspect", inspect),
        ("GET", "/_emulator/users/{user_id}/photos/{message_id}", photo),
        ("GET", "/_emulator/users/{user_id}/documents/{message_id}", document),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, guarded(handler))
