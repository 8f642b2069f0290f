"""Sealing, blind indexes and data-key loading (bot.security.crypto)."""

from __future__ import annotations

import base64
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.security.crypto import (
    DataKeyError,
    SealedDataError,
    Sealer,
    decode_data_key,
    load_data_key,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NIK = "3205014501900001"


@dataclass
class KeySettings:
    data_key: str | None
    data_key_file: Path


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(KEY)


def test_round_trip_and_fresh_nonce(sealer: Sealer) -> None:
    first, second = sealer.seal(NIK), sealer.seal(NIK)
    assert first != second  # a fixed nonce would make equal NIKs visible as equal tokens
    assert NIK not in first
    assert first.startswith("k1.")
    assert sealer.open(first) == sealer.open(second) == NIK


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_round_trip_any_text(text: str) -> None:
    sealer = Sealer(KEY)
    token = sealer.seal(text)
    assert token.isascii()
    assert sealer.open(token) == text


def _flip(token: str, position: int) -> str:
    key_id, body = token.split(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 0x01
    return key_id + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("position", [0, 12, -1])  # nonce, ciphertext, tag
def test_tampering_is_detected(sealer: Sealer, position: int) -> None:
    with pytest.raises(SealedDataError, match="altered"):
        sealer.open(_flip(sealer.seal(NIK), position))


def test_wrong_key_and_malformed_tokens(sealer: Sealer) -> None:
    token = sealer.seal(NIK)
    with pytest.raises(SealedDataError, match="altered or sealed with another key"):
        Sealer(OTHER_KEY).open(token)
    with pytest.raises(SealedDataError, match="unknown key id"):
        Sealer(KEY, key_id="k2").open(token)
    with pytest.raises(SealedDataError, match="key id prefix"):
        sealer.open("no-prefix")
    with pytest.raises(SealedDataError, match="truncated"):
        sealer.open(token[:15])
    # The key id is authenticated: relabelling a token under another known id fails.
    relabelled = Sealer(KEY, key_id="k2", older_keys={"k1": KEY})
    with pytest.raises(SealedDataError):
        relabelled.open("k2." + token.split(".", 1)[1])


def test_rotation_opens_old_tokens_and_seals_with_new_key(sealer: Sealer) -> None:
    old_token = sealer.seal(NIK)
    rotated = Sealer(OTHER_KEY, key_id="k2", older_keys={"k1": KEY})
    assert rotated.open(old_token) == NIK
    assert rotated.seal(NIK).startswith("k2.")


def test_blind_index_stable_keyed_and_purpose_separated(sealer: Sealer) -> None:
    index = sealer.blind_index(NIK, "nik")
    assert index == Sealer(KEY).blind_index(NIK, "nik")
    assert len(index) == 64 and int(index, 16) >= 0
    assert index != sealer.blind_index(NIK, "nip")
    assert index != sealer.blind_index("3205014501900002", "nik")
    assert index != Sealer(OTHER_KEY).blind_index(NIK, "nik")
    with pytest.raises(ValueError, match="purpose"):
        sealer.blind_index(NIK, "NIK with spaces")


def test_index_key_differs_from_encryption_key() -> None:
    """HKDF with distinct info strings: the index is not a plain HMAC under the master key."""
    import hashlib
    import hmac

    plain = hmac.new(KEY, b"nik\x00" + NIK.encode(), hashlib.sha256).hexdigest()
    assert Sealer(KEY).blind_index(NIK, "nik") != plain


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_master_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(DataKeyError, match="32 bytes"):
        Sealer(b"x" * size)


def test_decode_data_key_accepts_both_base64_alphabets() -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes to characters that differ between the alphabets
    urlsafe = base64.urlsafe_b64encode(key).decode()
    standard = base64.b64encode(key).decode()
    assert "-" in urlsafe or "_" in urlsafe
    assert decode_data_key(urlsafe) == key
    assert decode_data_key(standard) == key
    assert decode_data_key(urlsafe.rstrip("=") + "\n") == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "exactly 32 bytes, got 5"),
        (base64.b64encode(bytes(33)).decode(), "exactly 32 bytes, got 33"),
    ],
)
def test_bad_data_key_errors(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataKeyError, match=message) as raised:
        load_data_key(KeySettings(text, tmp_path / "unused"))
    assert text not in str(raised.value)  # the key is never echoed
    assert not (tmp_path / "unused").exists()


def test_data_key_from_setting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    encoded = base64.urlsafe_b64encode(OTHER_KEY).decode()
    with caplog.at_level(logging.WARNING):
        assert load_data_key(KeySettings(encoded, tmp_path / "dev-key")) == OTHER_KEY
    assert not caplog.records
    assert not (tmp_path / "dev-key").exists()


def test_dev_key_generated_once_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nested" / "var" / "dev-data-key"
    with caplog.at_level(logging.WARNING, logger="bot.security.crypto"):
        first = load_data_key(KeySettings(None, path))
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert any("production" in record.getMessage() for record in caplog.records)
    assert first == load_data_key(KeySettings(None, path))
    # A token sealed with the dev key can be opened after a "restart".
    assert Sealer(load_data_key(KeySettings(None, path))).open(Sealer(first).seal(NIK)) == NIK


def test_corrupt_dev_key_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dev-data-key"
    path.write_text("garbage\n")
    with pytest.raises(DataKeyError, match="corrupt"):
        load_data_key(KeySettings(None, path))


# ---- key ids, check values, legacy tokens (issue 6, item 2) -------------------------------------


def test_key_id_and_check_value_name_the_key_without_revealing_it() -> None:
    from bot.security.crypto import key_check_value, key_id_for

    assert key_id_for(KEY) == key_id_for(bytes(KEY)) != key_id_for(OTHER_KEY)
    assert key_id_for(KEY).startswith("k") and len(key_id_for(KEY)) == 11
    assert key_check_value(KEY) == key_check_value(KEY) != key_check_value(OTHER_KEY)
    # Neither is the key, nor the encryption or index keys, nor a plain hash of the key.
    import hashlib

    for derived in (key_id_for(KEY), key_check_value(KEY)):
        assert KEY.hex() not in derived and hashlib.sha256(KEY).hexdigest() not in derived
    assert key_check_value(KEY) != Sealer(KEY).blind_index("", "nik")


def test_configured_sealer_seals_under_the_fingerprint_and_opens_legacy_tokens() -> None:
    from bot.security.crypto import key_id_for, sealer_for

    legacy_old, legacy_new = Sealer(KEY).seal(NIK), Sealer(OTHER_KEY).seal(NIK)
    assert legacy_old.startswith("k1.") and legacy_new.startswith("k1.")
    rotated = sealer_for(OTHER_KEY, KEY)
    token = rotated.seal(NIK)
    assert token.startswith(key_id_for(OTHER_KEY) + ".") and rotated.is_current(token)
    assert not rotated.is_current(legacy_new)
    # "k1" tokens were written under either key: both open.
    assert rotated.open(legacy_old) == rotated.open(legacy_new) == NIK
    assert rotated.open(sealer_for(KEY).seal(NIK)) == NIK
    # ... and only with a configured key: a third key's token does not.
    with pytest.raises(SealedDataError, match="another key"):
        sealer_for(OTHER_KEY).open(legacy_old)
    with pytest.raises(SealedDataError, match="unknown key id"):
        sealer_for(OTHER_KEY).open(sealer_for(KEY).seal(NIK))


def test_old_data_key_errors_name_data_key_old() -> None:
    from bot.security.crypto import decode_old_data_key

    assert decode_old_data_key(None) is None and decode_old_data_key("") is None
    assert decode_old_data_key(base64.b64encode(KEY).decode()) == KEY
    with pytest.raises(DataKeyError, match=r"^DATA_KEY_OLD must decode to exactly 32 bytes"):
        decode_old_data_key(base64.b64encode(b"short").decode())


def test_dev_key_is_not_generated_when_creation_is_forbidden(tmp_path: Path) -> None:
    from bot.security.crypto import DevKeyMissingError

    path = tmp_path / "var" / "dev-data-key"
    with pytest.raises(DevKeyMissingError, match="does not exist"):
        load_data_key(KeySettings(None, path), create=False)
    assert not path.exists()
