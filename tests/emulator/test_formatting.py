"""parse_mode handling: lengths after entity parsing, UTF-16 offsets, malformed markup."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import ApiError
from emulator.formatting import parse_html, parse_text, utf16_len


def test_html_tags_become_entities() -> None:
    text, entities = parse_html('<b>Halo</b> &amp; <a href="https://x.id/?a=1&amp;b=2">link</a>')
    assert text == "Halo & link"
    assert entities == [
        {"offset": 0, "length": 4, "type": "bold"},
        {"offset": 7, "length": 4, "type": "text_link", "url": "https://x.id/?a=1&b=2"},
    ]


def test_html_offsets_are_utf16() -> None:
    text, entities = parse_html("😀 <i>ok</i>")
    assert utf16_len("😀 ") == 3
    assert entities == [{"offset": 3, "length": 2, "type": "italic"}]
    assert text == "😀 ok"


def test_html_nested_pre_code_language_and_spoiler() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre>'
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>'
    )
    assert text == "x = 1st"
    assert {"offset": 0, "length": 5, "type": "pre", "language": "python"} in entities
    assert [e["type"] for e in entities].count("spoiler") == 2


def test_html_entities_count_as_one_character() -> None:
    text, _ = parse_text("&lt;" * 10 + "&#128512;&#x41;&unknown;", "HTML")
    assert text == "<" * 10 + "😀A&unknown;"


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag at byte offset 4"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag"),
    ],
)
def test_malformed_html_is_refused(markup: str, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_html(markup)
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")
    assert reason in caught.value.description


@given(st.text(max_size=200))
def test_escaped_text_round_trips(text: str) -> None:
    """What html.escape produces always parses back to the same text, without entities."""
    assert parse_html(html.escape(text, quote=False)) == (text, [])


@given(st.text(alphabet=st.sampled_from("<>/&;ab i#x0"), max_size=30))
def test_html_parser_never_crashes(text: str) -> None:
    try:
        parse_html(text)
    except ApiError as error:
        assert error.error_code == 400


def test_unknown_parse_mode() -> None:
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        parse_text("x", "html5")
    with pytest.raises(ApiError, match="not supported by the emulator"):
        parse_text("*x*", "MarkdownV2")
    assert parse_text("<b>x</b>", None) == ("<b>x</b>", [])


@pytest.mark.parametrize("unix", ["²", "٣", "\u19da", "-1", ""])
def test_a_time_that_is_not_ascii_digits_is_time_zero(unix: str) -> None:
    """ "²".isdigit() is True and int("²") raises: the emulator must not answer with a 500."""
    _text, entities = parse_html(f'<tg-time unix="{unix}">now</tg-time>')
    assert entities[0]["type"] == "date_time" and entities[0]["unix_time"] == 0
