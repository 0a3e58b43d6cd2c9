"""Field and segment encryption with AES-256-GCM (NIST SP 800-38D) and keyed pseudonyms (HMAC-SHA256, RFC 2104)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from attunexr.errors import IntegrityError

__all__ = ["NONCE_BYTES", "TAG_BYTES", "FieldCipher", "decrypt", "encrypt", "pseudonym"]

NONCE_BYTES = 12
TAG_BYTES = 16


def encrypt(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """AES-GCM encrypt; returns ``nonce (12 bytes) + ciphertext + tag (16 bytes)`` with a random nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Inverse of :func:`encrypt`; :class:`IntegrityError` if anything (data, nonce, tag or AAD) was altered."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise IntegrityError(
            f"encrypted blob of {len(blob)} bytes is shorter than nonce + tag; it was truncated"
        )
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as err:
        raise IntegrityError("authentication failed: the data was altered or the key is wrong") from err


class FieldCipher:
    """Encrypt short text fields (names, notes) to printable tokens bound to their field name.

    Parameters
    ----------
    key
        32-byte key (e.g. ``MasterKey.derive("fields")``).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encrypt(self, field: str, value: str) -> str:
        return base64.urlsafe_b64encode(encrypt(self._key, value.encode(), field.encode())).decode()

    def decrypt(self, field: str, token: str) -> str:
        try:
            blob = base64.urlsafe_b64decode(token.encode())
        except (binascii.Error, ValueError) as err:
            raise IntegrityError(f"field {field!r}: token is not valid base64") from err
        return decrypt(self._key, blob, field.encode()).decode()


def pseudonym(key: bytes, identifier: str, length: int = 16, prefix: str = "p") -> str:
    """A stable pseudonym for ``identifier``: ``prefix`` + the first ``length`` hex digits of HMAC-SHA256.

    The same key and identifier always give the same pseudonym; without the key it cannot be reversed or
    recomputed from a list of candidate names.
    """
    return prefix + hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()[:length]
