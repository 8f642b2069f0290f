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
row in one migration.
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
_ENCRYPTION_INFO = b"peduli-pekerja/v1/seal/aes-256-gcm"
_INDEX_INFO = b"peduli-pekerja/v1/blind-index/hmac-sha256"
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
    ) -> None:
        for candidate in (key_id, *(older_keys or {})):
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
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealedDataError(f"sealed with an unknown key id {key_id!r}")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as error:
            raise SealedDataError("sealed token is not valid base64") from error
        if len(raw) < NONCE_BYTES + 16:
            raise SealedDataError("sealed token is truncated")
        try:
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode())
        except InvalidTag as error:
            raise SealedDataError(
                "sealed token failed authentication: it was altered or sealed with another key"
            ) from error
        return plaintext.decode("utf-8")

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


def load_data_key(settings: KeySettings) -> bytes:
    """The master key from DATA_KEY, or else a development key kept in settings.data_key_file.

    The development key makes `make run` work with no set-up; it is generated once (mode 0600) so
    a restart can still open what it sealed, and every start warns that it is not for production.
    """
    if settings.data_key:
        return decode_data_key(settings.data_key)
    path = Path(settings.data_key_file)
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


def sealer_from_settings(settings: KeySettings) -> Sealer:
    return Sealer(load_data_key(settings))
