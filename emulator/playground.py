"""JSON endpoints under ``/_emulator/`` to drive fake users over HTTP, plus a tiny chat page.

Why: the same emulator backs a local playground (``python -m emulator``, then open
``/_emulator/``) and lets a test drive users from another process. The endpoints mirror the
in-process ``FakeUser`` API; photos are served as bytes, everything else is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from emulator.models import ApiCall, ChatMessage, Rejection
from emulator.users import FakeUser


class PlaygroundHost(Protocol):
    """What the chat page needs of the emulator (``BotApiEmulator`` registers the routes)."""

    calls: list[ApiCall]
    rejections: list[Rejection]

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


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def message_json(message: ChatMessage) -> dict[str, Any]:
    """A chat message as JSON (media as a flag, fetch photo bytes from the photo endpoint)."""
    return {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "event": message.event,
        "text": message.text,
        "entities": message.entities,
        "reply_markup": message.reply_markup,
        "has_photo": message.photo is not None,
        "edit_count": message.edit_count,
        "deleted": message.deleted,
        "date": message.date,
        "raw": message.raw,
    }


def add_playground_routes(app: web.Application, emulator: PlaygroundHost) -> None:
    """Register the ``/_emulator/...`` routes for ``emulator`` on ``app``."""

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
        return web.json_response(
            {
                "messages": [message_json(m) for m in chosen],
                "reply_keyboard": user.reply_keyboard(),
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

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html")

    routes: list[tuple[str, str, Route]] = [
        ("GET", "/_emulator/", page),
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
        ("GET", "/_emulator/users/{user_id}/messages", messages),
        ("GET", "/_emulator/users/{user_id}/replies", replies),
        ("GET", "/_emulator/users/{user_id}/photos/{message_id}", photo),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, guarded(handler))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bot API emulator playground</title>
<style>
body{font-family:sans-serif;max-width:40rem;margin:1rem auto;background:#eef}
#log{background:#fff;padding:.5rem;min-height:20rem;border-radius:.5rem}
.m{margin:.3rem 0;padding:.4rem .6rem;border-radius:.6rem;white-space:pre-wrap;max-width:80%}
.bot{background:#f4f4f4}.me{background:#dcf8c6;margin-left:auto}
button{margin:.15rem}img{max-width:12rem;display:block}
</style></head><body>
<h3>Emulated chat</h3>
<label>user id <input id="uid" value="1001" size="10"></label>
<div id="log"></div><div id="kb"></div>
<form id="f"><input id="t" size="40" autofocus> <button>Send</button>
<button type="button" id="c">Share contact</button></form>
<script>
const uid = () => document.getElementById('uid').value;
const api = (path, body) => fetch(`/_emulator/users/${uid()}${path}`, body === undefined ?
  {} : {method: 'POST', headers: {'content-type': 'application/json'},
        body: JSON.stringify(body)}).then(r => r.json());
function render(data) {
  const log = document.getElementById('log'); log.innerHTML = '';
  for (const m of data.messages) {
    const d = document.createElement('div');
    d.className = 'm ' + (m.from_bot ? 'bot' : 'me');
    if (m.has_photo) { const i = document.createElement('img');
      i.src = `/_emulator/users/${uid()}/photos/${m.message_id}`; d.appendChild(i); }
    d.appendChild(document.createTextNode(m.text || (m.raw.contact ? '[contact]' : '[media]')));
    for (const row of (m.reply_markup && m.reply_markup.inline_keyboard) || []) {
      const r = document.createElement('div');
      for (const b of row) { const x = document.createElement('button'); x.textContent = b.text;
        x.onclick = () => api('/press', {label: b.text, message_id: m.message_id}).then(refresh);
        r.appendChild(x); }
      d.appendChild(r); }
    log.appendChild(d); }
  const kb = document.getElementById('kb'); kb.innerHTML = '';
  for (const row of data.reply_keyboard || []) { const r = document.createElement('div');
    for (const label of row) { const x = document.createElement('button'); x.textContent = label;
      x.onclick = () => api('/tap', {label}).then(refresh); r.appendChild(x); }
    kb.appendChild(r); }
}
function refresh() { return api('/messages?history=1').then(render); }
document.getElementById('f').onsubmit = e => { e.preventDefault();
  const t = document.getElementById('t'); if (!t.value) return;
  api('/text', {text: t.value}).then(refresh); t.value = ''; };
document.getElementById('c').onclick = () => api('/contact', {}).then(refresh);
setInterval(refresh, 1000); refresh();
</script></body></html>
"""
