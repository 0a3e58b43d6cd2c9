"""Encryption of identifying patient fields at rest with :mod:`attunexr.privacy` (AES-256-GCM).

The fields of one patient are one JSON object encrypted under a sub-key of the master key
(``MasterKey.derive("store/identifying-fields")``) with the patient's pseudonym as associated data, so that a
ciphertext copied onto another patient row fails to decrypt. The master key comes from ``$ATTUNEXR_MASTER_KEY``
or from the key file ``<data_dir>/master.key``, which :func:`load_store_key` creates (mode 0600) on first use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from attunexr.privacy import MASTER_KEY_ENV, decrypt, encrypt, generate_master_key_file, load_master_key

__all__ = ["FieldCipher", "load_store_key"]


def load_store_key(data_dir: Path) -> bytes:
    """The 32-byte key for identifying fields, derived from the master key (env, or ``data_dir/master.key``)."""
    if os.environ.get(MASTER_KEY_ENV):
        master = load_master_key()
    else:
        path = Path(data_dir) / "master.key"
        if not path.exists():
            generate_master_key_file(path)
        master = load_master_key(path)
    return master.derive("store/identifying-fields")


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
