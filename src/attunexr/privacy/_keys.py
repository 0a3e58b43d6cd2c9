"""Key management: the master key (key file or environment) and per-session data keys wrapped by it.

The master key never encrypts data itself. Each session draws a fresh 256-bit data key; the data key is stored only
wrapped by the master key, with AES Key Wrap (RFC 3394, NIST SP 800-38F) by default or AES-GCM (NIST SP 800-38D).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from attunexr.errors import ConfigurationError, DataFormatError, IntegrityError

__all__ = [
    "MASTER_KEY_ENV",
    "MasterKey",
    "WrappedKey",
    "generate_data_key",
    "generate_master_key_file",
    "load_master_key",
]

logger = logging.getLogger(__name__)

#: Environment variable holding the master key (base64 or hex of 32 random bytes).
MASTER_KEY_ENV = "ATTUNEXR_MASTER_KEY"
_KEY_BYTES = 32
_WRAP_METHODS = ("AES-KW", "AES-GCM")


def _decode_key_text(text: str, source: str) -> bytes:
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 2 * _KEY_BYTES:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            try:
                raw = base64.urlsafe_b64decode(text.encode("ascii"))
            except (binascii.Error, UnicodeEncodeError, ValueError):
                raw = None
    if raw is None or len(raw) != _KEY_BYTES:
        raise ConfigurationError(
            f"{source}: the master key must be {_KEY_BYTES} random bytes written as base64 or hex; "
            "create one with `attunexr.privacy.generate_master_key_file(path)`"
        )
    return raw


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a master key.

    Attributes
    ----------
    method
        ``"AES-KW"`` (RFC 3394) or ``"AES-GCM"`` (then ``blob`` = 12-byte nonce + ciphertext + tag).
    blob
        The wrapped key bytes.
    master_key_id
        Fingerprint of the master key that wrapped it (not secret, reveals nothing about the key).
    """

    method: str
    blob: bytes
    master_key_id: str

    def to_dict(self) -> dict[str, str]:
        return {
            "method": self.method,
            "blob": base64.b64encode(self.blob).decode(),
            "master_key_id": self.master_key_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> WrappedKey:
        try:
            method = str(data["method"])
            blob = base64.b64decode(str(data["blob"]), validate=True)
            kid = str(data["master_key_id"])
        except (KeyError, binascii.Error, ValueError) as err:
            raise DataFormatError(None, f"wrapped key record is malformed: {err}") from err
        if method not in _WRAP_METHODS:
            raise DataFormatError(
                None, f"wrapped key uses unknown method {method!r}; expected one of {_WRAP_METHODS}"
            )
        return cls(method, blob, kid)


class MasterKey:
    """A 256-bit master key that wraps per-session data keys and derives pseudonym keys.

    Parameters
    ----------
    key
        32 random bytes.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigurationError(f"master key must be {_KEY_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return f"<MasterKey id={self.key_id}>"

    @property
    def key_id(self) -> str:
        """A public fingerprint (HMAC-SHA256 of a fixed label, 8 bytes hex)."""
        return hmac.new(self._key, b"attunexr/key-id", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte sub-key for ``purpose`` (HMAC-SHA256 as a PRF, as in HKDF-Expand, RFC 5869)."""
        return hmac.new(self._key, b"attunexr/derive/" + purpose.encode(), hashlib.sha256).digest()

    def wrap(self, data_key: bytes, method: str = "AES-KW") -> WrappedKey:
        """Encrypt ``data_key`` under this master key with AES-KW (RFC 3394) or AES-GCM."""
        if method == "AES-KW":
            blob = aes_key_wrap(self._key, data_key)
        elif method == "AES-GCM":
            nonce = os.urandom(12)
            blob = nonce + AESGCM(self._key).encrypt(nonce, data_key, b"attunexr/data-key")
        else:
            raise ConfigurationError(f"unknown key wrap method {method!r}; use one of {_WRAP_METHODS}")
        return WrappedKey(method, blob, self.key_id)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """Recover a data key; :class:`IntegrityError` if it was wrapped by another key or altered."""
        if wrapped.master_key_id != self.key_id:
            raise IntegrityError(
                f"this data key was wrapped by master key {wrapped.master_key_id}, not by {self.key_id}; "
                "load the master key the session was recorded with"
            )
        try:
            if wrapped.method == "AES-KW":
                return aes_key_unwrap(self._key, wrapped.blob)
            if wrapped.method == "AES-GCM":
                return AESGCM(self._key).decrypt(wrapped.blob[:12], wrapped.blob[12:], b"attunexr/data-key")
        except (InvalidUnwrap, InvalidTag, ValueError) as err:
            raise IntegrityError(
                "the wrapped data key failed its integrity check (altered or wrong key)"
            ) from err
        raise IntegrityError(f"unknown key wrap method {wrapped.method!r}")


def generate_data_key() -> bytes:
    """A fresh 256-bit data key from the operating system's CSPRNG."""
    return secrets.token_bytes(_KEY_BYTES)


def generate_master_key_file(path: str | Path, overwrite: bool = False) -> Path:
    """Write a new base64 master key to ``path`` with owner-only permissions (0600)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigurationError(
            f"{path}: a key file already exists; refusing to overwrite it (it may protect data)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode() + "\n")
    os.chmod(path, 0o600)
    logger.info("wrote a new master key to %s", path)
    return path


def load_master_key(key_file: str | Path | None = None) -> MasterKey:
    """Load the master key from ``key_file`` or, when not given, from ``$ATTUNEXR_MASTER_KEY``.

    The environment variable may hold the key itself (base64 or hex) or ``file:/path/to/key``.
    """
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise ConfigurationError(
                f"{path}: master key file not found; create one with generate_master_key_file"
            )
        mode = path.stat().st_mode & 0o077
        if mode:
            logger.warning(
                "master key file %s is readable by group or others (mode %o); chmod 600 it", path, mode
            )
        return MasterKey(_decode_key_text(path.read_text(), str(path)))
    env = os.environ.get(MASTER_KEY_ENV)
    if not env:
        raise ConfigurationError(
            f"no master key: pass a key file or set {MASTER_KEY_ENV} to 32 random bytes in base64 "
            '(e.g. `python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`)'
        )
    if env.startswith("file:"):
        return load_master_key(env[5:])
    return MasterKey(_decode_key_text(env, MASTER_KEY_ENV))
