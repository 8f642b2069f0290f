"""Sealing of personal data (NIK, NIP, phone numbers) at rest, and blind indexes for look-ups.

Why: UU 27/2022 (PDP) makes us answerable for a leaked database file or backup. Identifiers are
therefore stored only as AES-256-GCM ciphertext ("sealed"), plus a keyed hash (HMAC-SHA256, the
"blind index") so the database can still enforce "one NIK, one open sponsorship" with a unique
constraint without ever holding the NIK in clear.

Both keys are derived from one 32-byte master key with HKDF under distinct info strings, so the
encryption key and the index key are independent: knowing one reveals nothing about the other.

Token format: ``<key id>.<urlsafe base64 of nonce || ciphertext || tag>``. The key id is also the
associated data of the encryption, so it cannot be swapped without detection, and it lets a later
rotation decrypt old tokens with the old key (``Sealer(new, key_id="k2", older_keys={"k1": old})``).
Rotating the master key also changes the blind index, so a rotation re-seals and re-indexes every
row in one transaction (`peduli keys rotate`, bot.storage.keys).

Key ids: the bot names each key by a fingerprint derived from it (`key_id_for`, "k" + 10 hex
digits), so tokens say which key sealed them. Tokens written before that carry the fixed id "k1";
`sealer_from_settings` lets such legacy tokens be tried against every configured key (AES-GCM's
authentication tells which one sealed them).

The key check value (`key_check_value`) is what the database records about the key (table
data_keys): a keyed hash under a third HKDF-derived key, so it tells whether a key is the right one
and reveals nothing about it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

logger = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12  # 96 bits, the size GCM is designed for
DEFAULT_KEY_ID = "k1"
LEGACY_KEY_ID = DEFAULT_KEY_ID
"""The id of every token sealed before key ids were fingerprints of their key."""
_ENCRYPTION_INFO = b"peduli-pekerja/v1/seal/aes-256-gcm"
_INDEX_INFO = b"peduli-pekerja/v1/blind-index/hmac-sha256"
_KEY_ID_INFO = b"peduli-pekerja/v1/key-id"
_CHECK_INFO = b"peduli-pekerja/v1/key-check/hmac-sha256"
_CHECK_MESSAGE = b"peduli-pekerja data key check v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,16}$")
_PURPOSE = re.compile(r"^[a-z0-9_]{1,32}$")


class DataKeyError(ValueError):
    """The data key is missing, malformed or not 32 bytes. The message never contains the key."""


class SealedDataError(ValueError):
    """A sealed token cannot be opened: tampered with, truncated, or sealed with another key."""


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        master_key
    )


def _check_master_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise DataKeyError(f"the data key must be exactly {KEY_BYTES} bytes, got {size}")
    return bytes(key)


def key_id_for(master_key: bytes) -> str:
    """The key's name in tokens and in the data_keys table: "k" + 10 hex digits of an HKDF
    output (a fingerprint; not the key, not usable to seal or index)."""
    return "k" + _derive(_check_master_key(master_key), _KEY_ID_INFO)[:5].hex()


def key_check_value(master_key: bytes) -> str:
    """What the database stores to recognise the key (hex HMAC-SHA256 of a constant under a key
    derived for this purpose only): equal for the same key, different for any other."""
    check_key = _derive(_check_master_key(master_key), _CHECK_INFO)
    return hmac.new(check_key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()


class Sealer:
    """Seals and opens short strings, and computes blind indexes, from one master key.

    Stateless after construction and safe to share between threads.
    """

    def __init__(
        self,
        master_key: bytes,
        *,
        key_id: str = DEFAULT_KEY_ID,
        older_keys: Mapping[str, bytes] | None = None,
        legacy_key_ids: frozenset[str] = frozenset(),
    ) -> None:
        """legacy_key_ids: ids that do not name one key (tokens sealed before key ids were
        fingerprints): such a token is tried with every key, current first."""
        for candidate in (key_id, *(older_keys or {}), *legacy_key_ids):
            if not _KEY_ID.match(candidate):
                raise DataKeyError(f"key id {candidate!r} must be 1-16 letters or digits")
        master = _check_master_key(master_key)
        self._key_id = key_id
        self._ciphers: dict[str, AESGCM] = {
            old_id: AESGCM(_derive(_check_master_key(old_key), _ENCRYPTION_INFO))
            for old_id, old_key in (older_keys or {}).items()
        }
        self._ciphers[key_id] = AESGCM(_derive(master, _ENCRYPTION_INFO))
        self._index_key = _derive(master, _INDEX_INFO)
        self._legacy_ids = frozenset(legacy_key_ids) - set(self._ciphers)

    @property
    def key_id(self) -> str:
        return self._key_id

    def seal(self, plaintext: str) -> str:
        """Encrypt with a fresh random nonce: the same value sealed twice gives two tokens."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[self._key_id].encrypt(
            nonce, plaintext.encode("utf-8"), self._key_id.encode("ascii")
        )
        body = base64.urlsafe_b64encode(nonce + ciphertext).rstrip(b"=").decode("ascii")
        return f"{self._key_id}.{body}"

    def open(self, token: str) -> str:
        """Decrypt a token made by seal(); SealedDataError when altered or under another key."""
        key_id, dot, body = token.partition(".")
        if not dot:
            raise SealedDataError("not a sealed token: missing the key id prefix")
        if key_id in self._legacy_ids:  # current key first, then the older ones
            ciphers = [self._ciphers[self._key_id]]
            ciphers += [c for i, c in self._ciphers.items() if i != self._key_id]
        elif key_id in self._ciphers:
            ciphers = [self._ciphers[key_id]]
        else:
            raise SealedDataError(f"sealed with an unknown key id {key_id!r}")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as error:
            raise SealedDataError("sealed token is not valid base64") from error
        if len(raw) < NONCE_BYTES + 16:
            raise SealedDataError("sealed token is truncated")
        for cipher in ciphers:
            try:
                plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                continue
            return plaintext.decode("utf-8")
        raise SealedDataError(
            "sealed token failed authentication: it was altered or sealed with another key"
        )

    def is_current(self, token: str) -> bool:
        """Whether the token carries the current key's id (a rotation re-seals the others)."""
        return token.partition(".")[0] == self._key_id

    def blind_index(self, value: str, purpose: str) -> str:
        """Keyed hash of value (hex). purpose ("nik", "nip", ...) keeps domains apart, so equal
        digits in two kinds of identifier never produce equal indexes."""
        if not _PURPOSE.match(purpose):
            raise ValueError(f"purpose {purpose!r} must be 1-32 of a-z, 0-9, _")
        message = purpose.encode("ascii") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def decode_data_key(text: str) -> bytes:
    """Decode a key written in standard or URL-safe base64 (padding optional) to 32 bytes."""
    cleaned = "".join(text.split()).rstrip("=")
    normalized = cleaned.replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise DataKeyError(
            "DATA_KEY is not valid base64; generate one with: python -c "
            '"import os, base64; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        ) from error
    if len(key) != KEY_BYTES:
        raise DataKeyError(f"DATA_KEY must decode to exactly {KEY_BYTES} bytes, got {len(key)}")
    return key


def encode_data_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(_check_master_key(key)).decode("ascii")


class KeySettings(Protocol):
    """The two settings load_data_key reads (bot.settings.Settings has them)."""

    @property
    def data_key(self) -> str | None: ...

    @property
    def data_key_file(self) -> Path: ...


class DevKeyMissingError(DataKeyError):
    """DATA_KEY is unset and the development key file does not exist (and may not be created)."""


def load_data_key(settings: KeySettings, *, create: bool = True) -> bytes:
    """The master key from DATA_KEY, or else a development key kept in settings.data_key_file.

    The development key makes `make run` work with no set-up; it is generated once (mode 0600) so
    a restart can still open what it sealed, and every start warns that it is not for production.
    create=False: DevKeyMissingError instead of generating a new key (the database already holds
    data sealed under a key: a new one could open none of it).
    """
    if settings.data_key:
        return decode_data_key(settings.data_key)
    path = Path(settings.data_key_file)
    if not create and not path.exists():
        raise DevKeyMissingError(f"the development key file {path} does not exist")
    key = _read_or_create_key_file(path)
    logger.warning(
        "DATA_KEY is not set: using the development data key in %s. "
        "Do not use it in production; set DATA_KEY to 32 random bytes in base64.",
        path,
    )
    return key


def _read_or_create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return decode_data_key(path.read_text(encoding="ascii"))
        except (DataKeyError, UnicodeDecodeError) as error:
            raise DataKeyError(f"the development key file {path} is corrupt: {error}") from error
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(encode_data_key(key) + "\n")
    logger.warning("generated a development data key in %s", path)
    return key


def decode_old_data_key(text: str | None) -> bytes | None:
    """DATA_KEY_OLD decoded (None when unset); errors name DATA_KEY_OLD, never the key."""
    if not text:
        return None
    try:
        return decode_data_key(text)
    except DataKeyError as error:
        raise DataKeyError(str(error).replace("DATA_KEY", "DATA_KEY_OLD", 1)) from None


def sealer_for(key: bytes, old_key: bytes | None = None) -> Sealer:
    """The Sealer of a configured key (and the previous one): fingerprint key ids, and legacy "k1"
    tokens tried against both keys."""
    older = {key_id_for(old_key): old_key} if old_key is not None and old_key != key else {}
    return Sealer(
        key,
        key_id=key_id_for(key),
        older_keys=older,
        legacy_key_ids=frozenset({LEGACY_KEY_ID}),
    )


def sealer_from_settings(settings: KeySettings) -> Sealer:
    """A Sealer of the configured key, NOT checked against a database: the bot and the commands
    use bot.storage.keys.verified_sealer instead."""
    return sealer_for(load_data_key(settings))
