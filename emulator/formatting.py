"""Entity parsing for ``parse_mode`` HTML, as Telegram does it (the bot sends HTML only).

Why the emulator parses at all: Telegram's length limits apply *after* entity parsing (a 4096
character limit counts ``&amp;`` as one character and tags as nothing), and malformed markup is a
400 "can't parse entities" that a bot must never produce. Entity offsets and lengths are counted in
UTF-16 code units, like Telegram's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulator.models import ApiError, bad_request


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def parse_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for a text or caption as Telegram would store it."""
    if entities:
        return text, list(entities)
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode in ("markdownv2", "markdown"):
        # Telegram accepts them; the emulator does not parse them (the bot sends HTML only), and
        # refuses rather than store the markup as plain text and skew the length checks.
        raise bad_request(f"parse_mode {parse_mode!r} is not supported by the emulator (use HTML)")
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


# --------------------------------------------------------------------------------------- HTML

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_OTHER_TAGS = {"a", "span", "tg-emoji", "blockquote", "tg-time"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);")
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")


@dataclass
class _Open:
    name: str
    offset: int  # UTF-16 offset in the plain text
    attrs: dict[str, str] = field(default_factory=dict)
    byte_offset: int = 0


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _unescape(value: str) -> str:
    return _ENTITY_RE.sub(lambda m: _decode_entity(m.group(0)) or m.group(0), value)


def _decode_entity(entity: str) -> str | None:
    body = entity[1:-1]
    if body.startswith(("#x", "#X")):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        return _NAMED_ENTITIES.get(body)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML style: supported tags become entities, anything else is a 400."""
    out: list[str] = []
    length = 0  # UTF-16 length of the output so far
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        if text[i] == "<":
            end = text.find(">", i)
            if text.startswith("</", i):
                _close(_end_tag(text, i, end, stack), length, entities, stack)
            else:
                stack.append(_start_tag(text, i, end, length))
            i = end + 1
            continue
        char, i = _character(text, i)
        out.append(char)
        length += utf16_len(char)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _character(text: str, i: int) -> tuple[str, int]:
    """The plain text at ``text[i]`` (an HTML entity decoded) and where the next one starts."""
    if text[i] == "&":
        match = _ENTITY_RE.match(text, i)
        decoded = _decode_entity(match.group(0)) if match else None
        if match and decoded is not None:
            return decoded, match.end()
    return text[i], i + 1


def _end_tag(text: str, start: int, end: int, stack: list[_Open]) -> _Open:
    """The tag that ``</name>`` at ``start`` closes (popped from ``stack``)."""
    if end < 0:
        raise _parse_error(f"Unclosed end tag at byte offset {_byte_offset(text, start)}")
    name = text[start + 2 : end].strip().lower()
    if not stack:
        raise _parse_error(f"Unexpected end tag at byte offset {_byte_offset(text, start)}")
    opened = stack.pop()
    if name and name != opened.name:
        raise _parse_error(
            f"Unmatched end tag at byte offset {_byte_offset(text, start)}, expected "
            f'"</{opened.name}>", found "</{name}>"'
        )
    return opened


def _start_tag(text: str, start: int, end: int, length: int) -> _Open:
    """The supported tag that opens at ``start``, checked with its attributes."""
    name_match = _TAG_NAME_RE.match(text, start + 1)
    name = name_match.group(0).lower() if name_match else ""
    at = f"at byte offset {_byte_offset(text, start)}"
    if name_match is None or (name not in _SIMPLE_TAGS and name not in _OTHER_TAGS):
        raise _parse_error(f'Unsupported start tag "{name}" {at}')
    if end < 0:
        raise _parse_error(f"Unclosed start tag {at}")
    attrs = _attributes(text, name_match.end(), end, f'Invalid attribute in tag "{name}" {at}')
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _parse_error(f'Tag "span" must have class "tg-spoiler" {at}')
    if name == "tg-emoji" and "emoji-id" not in attrs:
        raise _parse_error(f'Tag "tg-emoji" must have attribute "emoji-id" {at}')
    return _Open(name, length, attrs, _byte_offset(text, start))


def _attributes(text: str, pos: int, end: int, invalid: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    while pos < end:
        attr = _ATTR_RE.match(text, pos, end)
        if not attr or attr.end() == pos:
            if text[pos:end].strip() in ("", "/"):
                break
            raise _parse_error(invalid)
        raw = attr.group(2) or ""
        if raw[:1] in ("'", '"'):
            raw = raw[1:-1]
        attrs[attr.group(1).lower()] = _unescape(raw)
        pos = attr.end()
    return attrs


def _close(opened: _Open, length: int, entities: list[dict[str, Any]], stack: list[_Open]) -> None:
    size = length - opened.offset
    if size <= 0:
        return
    entity: dict[str, Any] = {"offset": opened.offset, "length": size}
    name = opened.name
    if name == "a":
        href = opened.attrs.get("href", "")
        if not href:
            return  # Telegram drops links without a URL and keeps the text
        entity.update(type="text_link", url=href)
    elif name == "span":
        entity["type"] = "spoiler"
    elif name == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=opened.attrs["emoji-id"])
    elif name == "blockquote":
        expandable = "expandable" in opened.attrs
        entity["type"] = "expandable_blockquote" if expandable else "blockquote"
    elif name == "tg-time":
        unix = opened.attrs.get("unix", "0")
        digits = unix.isascii() and unix.isdigit()  # "²".isdigit() is True, int("²") raises
        entity.update(type="date_time", unix_time=int(unix) if digits else 0)
        if opened.attrs.get("format"):
            entity["date_time_format"] = opened.attrs["format"]
    elif name == "code" and stack and stack[-1].name == "pre":
        language = opened.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
        return  # <pre><code class="language-x"> is one pre entity with a language
    else:
        entity["type"] = _SIMPLE_TAGS[name]
        if name == "pre" and opened.attrs.get("language"):
            entity["language"] = opened.attrs["language"]
    entities.append(entity)


_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def detect_user_entities(text: str) -> list[dict[str, Any]]:
    """Entities a Telegram client attaches to a user's text: a leading bot_command."""
    match = _COMMAND_RE.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]
