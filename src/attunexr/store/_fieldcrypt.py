"""Encryption of identifying patient fields and clinical data at rest with :mod:`attunexr.privacy` (AES-256-GCM).

Identifying fields: the fields of one patient are one JSON object encrypted under a sub-key of the master key
(``MasterKey.derive("store/identifying-fields")``) with the patient's pseudonym as associated data, so that a
ciphertext copied onto another patient row fails to decrypt.

Clinical data (consent notes, session plans and summaries, every session event payload: vitals, estimates,
proposals, decisions, SUDS answers, clinician notes, adverse-event narratives) and the VR-client tokens are stored
through the column types :class:`EncryptedJSON` and :class:`EncryptedText`: callers read and write plain values, the
database holds ``nonce | ciphertext | tag`` under ``MasterKey.derive("store/clinical-fields")`` with
``"<table>.<column>"`` as associated data (a ciphertext moved into another column fails to decrypt).

The master key comes from ``$ATTUNEXR_MASTER_KEY`` or from the key file ``<data_dir>/master.key``, which
:func:`load_store_key` creates (mode 0600) on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from attunexr.errors import ConfigurationError
from attunexr.privacy import (
    MASTER_KEY_ENV,
    MasterKey,
    checkpoint_key,
    decrypt,
    encrypt,
    generate_master_key_file,
    load_master_key,
)

__all__ = [
    "EncryptedJSON",
    "EncryptedText",
    "FieldCipher",
    "StoreKeys",
    "load_store_key",
    "load_store_master_key",
    "token_digest",
]

_AAD_PREFIX = "attunexr/store/v2/"


def load_store_master_key(data_dir: Path) -> MasterKey:
    """The master key as ``attunexr serve`` finds it: ``$ATTUNEXR_MASTER_KEY``, else ``data_dir/master.key``
    (created with mode 0600 when missing)."""
    if os.environ.get(MASTER_KEY_ENV):
        return load_master_key()
    path = Path(data_dir) / "master.key"
    if not path.exists():
        generate_master_key_file(path)
    return load_master_key(path)


def load_store_key(data_dir: Path) -> bytes:
    """The 32-byte key for identifying fields, derived from the master key (env, or ``data_dir/master.key``)."""
    return load_store_master_key(data_dir).derive("store/identifying-fields")


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a bearer secret (VR-client token): what the database keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoreKeys:
    """The sub-keys one database works with, all derived from the master key (none of them stored in it).

    Attributes
    ----------
    clinical
        AES-256-GCM key of the encrypted columns.
    audit
        HMAC-SHA256 key of the audit chain.
    checkpoint
        HMAC-SHA256 key of the signed checkpoints written outside the database.
    """

    clinical: bytes
    audit: bytes
    checkpoint: bytes

    @classmethod
    def from_master(cls, master: MasterKey) -> StoreKeys:
        return cls(master.derive("store/clinical-fields"), master.derive("store/audit-chain"), checkpoint_key(master))


def keys_of(dialect: Dialect) -> StoreKeys:
    """The :class:`StoreKeys` a :class:`~attunexr.store.Database` attached to its engine's dialect."""
    keys = getattr(dialect, "attunexr_keys", None)
    if keys is None:
        raise ConfigurationError(
            "this database was opened without the master key, which encrypted columns and the audit chain need: "
            f"set {MASTER_KEY_ENV} or open it with Database(url, master_key=...) / a data folder holding master.key"
        )
    assert isinstance(keys, StoreKeys)
    return keys


def seal_value(key: bytes, label: str, plain: bytes) -> bytes:
    return encrypt(key, plain, (_AAD_PREFIX + label).encode())


def open_value(key: bytes, label: str, blob: bytes) -> bytes:
    return decrypt(key, bytes(blob), (_AAD_PREFIX + label).encode())


class _EncryptedColumn(TypeDecorator[Any]):
    """A value stored AES-GCM encrypted (``LargeBinary``) under the clinical-fields key; ``label`` is
    ``"<table>.<column>"`` and binds each ciphertext to its column. Subclasses say how a value becomes bytes."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def _encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def _decode(self, plain: bytes) -> Any:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return seal_value(keys_of(dialect).clinical, self.label, self._encode(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self._decode(open_value(keys_of(dialect).clinical, self.label, value))


class EncryptedJSON(_EncryptedColumn):
    """A JSON value stored encrypted (canonical JSON: sorted keys, no spaces)."""

    cache_ok = True

    def _encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _decode(self, plain: bytes) -> Any:
        return json.loads(plain)


class EncryptedText(_EncryptedColumn):
    """A text value stored encrypted."""

    cache_ok = True

    def _encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def _decode(self, plain: bytes) -> str:
        return plain.decode("utf-8")


class FieldCipher:
    """Encrypt and decrypt the identifying fields of one patient.

    Parameters
    ----------
    key
        32-byte AES-256 key (see :func:`load_store_key`).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encrypt(self, fields: dict[str, Any], *, bound_to: str) -> bytes:
        return encrypt(self._key, json.dumps(fields, sort_keys=True).encode("utf-8"), bound_to.encode("utf-8"))

    def decrypt(self, blob: bytes, *, bound_to: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(decrypt(self._key, blob, bound_to.encode("utf-8")))
        return out
