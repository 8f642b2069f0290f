"""flows.callbacks owns the callback data: encode/decode round-trip, the 64-byte limit, forged data,
and a grep of the product code proving nobody else builds those strings."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows import callbacks

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "flows" / "callbacks.py"
TEST_KIT = ROOT / "bot" / "emulator"

values = st.text(max_size=40).filter(lambda v: len(f"0:{v}".encode()) <= callbacks.LIMIT)


@given(st.integers(min_value=0, max_value=10**18 - 1), values)
def test_decode_reads_back_what_encode_wrote(seq: int, value: str) -> None:
    data = _fitting(seq, value)
    if data is not None:
        assert callbacks.decode(data) == (seq, value)


def _fitting(seq: int, value: str) -> str | None:
    try:
        return callbacks.encode(seq, value)
    except callbacks.CallbackTooLong:
        return None


@given(st.text())
def test_decode_never_raises_and_answers_a_pair_or_none(data: str) -> None:
    decoded = callbacks.decode(data)
    if decoded is not None:
        seq, value = decoded
        assert 0 <= seq < 10**18 and isinstance(value, str)


def test_encode_accepts_exactly_64_bytes_and_refuses_65() -> None:
    assert len(callbacks.encode(7, "x" * 62).encode()) == 64
    with pytest.raises(callbacks.CallbackTooLong):
        callbacks.encode(7, "x" * 63)


def test_the_limit_counts_bytes_not_characters() -> None:
    with pytest.raises(callbacks.CallbackTooLong):
        callbacks.encode(7, "é" * 32)  # 32 characters, 64 bytes, + "7:"


def test_a_negative_prompt_number_is_refused() -> None:
    with pytest.raises(ValueError):
        callbacks.encode(-1, "menu:status")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "menu:status",  # no prompt number
        ":menu:status",
        " 3:menu:status",
        "3 :menu:status",
        "3_0:menu:status",
        "-3:menu:status",
        "+3:menu:status",
        "½:menu:status",
        "1" * 19 + ":menu:status",
        "3",  # no separator
        "0x3:menu:status",
    ],
)
def test_forged_or_mangled_data_is_none(data: str) -> None:
    assert callbacks.decode(data) is None


def test_digits_of_any_script_are_read_as_ascii() -> None:
    assert callbacks.decode("٣:menu:status") == (3, "menu:status")
    assert callbacks.decode("１２:lang:en") == (12, "lang:en")


def test_the_value_keeps_its_own_separators() -> None:
    assert callbacks.decode("0:act:resolve:12") == (0, "act:resolve:12")


def test_builders_write_the_documented_values() -> None:
    assert callbacks.menu("status") == "menu:status"
    assert callbacks.language("en") == "lang:en"
    assert callbacks.action("inperson", "PR-000001") == "act:inperson:PR-000001"
    assert callbacks.action("resolve", 12) == "act:resolve:12"
    assert callbacks.page("queue", 3) == "show:queue:3"
    assert callbacks.statistics("dinkes") == "stat:dinkes"


# --- nobody else builds callback strings ------------------------------------------------------

WIRE = re.compile(r"^\d+:(?:[a-z_]|$)")  # "0:menu:sponsor", f"0:{...}"
VALUE_PREFIXES = (*callbacks.PREFIXES, *(f"{name}:" for name in callbacks.ACTIONS))


def hand_built_callbacks(source: str) -> list[str]:
    """String literals and f-strings in `source` that write callback data or a structured value
    by hand: "<digits>:..." , f"{seq}:...", or a value starting "menu:", "act:", "inperson:"..."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, after in itertools.pairwise(parts):
                named_seq = isinstance(before, ast.FormattedValue) and "seq" in ast.unparse(
                    before.value
                )
                if named_seq and isinstance(after, ast.Constant) and str(after.value)[:1] == ":":
                    found.append(ast.unparse(node))
        literal = node.value if isinstance(node, ast.Constant) else None
        if isinstance(literal, str) and (WIRE.match(literal) or literal.startswith(VALUE_PREFIXES)):
            found.append(repr(literal))
    return found


def product_files() -> list[Path]:
    files = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "flows").rglob("*.py")]
    return [f for f in files if f != OWNER and TEST_KIT not in f.parents]


def test_no_product_module_but_the_owner_builds_callback_strings() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in product_files()
        if (found := hand_built_callbacks(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "line",
    [
        'data = "0:menu:sponsor"',
        'data = f"0:{PAGE}{name}:{page}"',
        'data = f"{seq}:{button.value}"',
        'data = f"{message.seq}:{value}"',
        'value = "menu:status"',
        'value = f"act:resolve:{request_id}"',
        'value = f"inperson:{ref}"',
        'value = "show:queue:" + str(n)',
    ],
)
def test_the_grep_catches_each_way_of_hand_building(line: str) -> None:
    assert hand_built_callbacks(line)


@pytest.mark.parametrize(
    "line",
    [
        'key = f"worker_confirmed:{reference}"',
        'token = "123456:PLAYGROUND"',
        'key = f"{prefix}session:{user_id}"',
        'text = f"{path}:{line}: needs a code"',
        'time = "12:30"',
    ],
)
def test_the_grep_leaves_other_strings_alone(line: str) -> None:
    assert not hand_built_callbacks(line)
