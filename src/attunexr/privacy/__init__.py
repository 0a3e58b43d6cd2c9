"""Privacy: master key and per-session data keys, AES-GCM field and segment encryption, keyed pseudonyms."""

from attunexr.privacy._aead import FieldCipher, decrypt, encrypt, pseudonym
from attunexr.privacy._keys import (
    MASTER_KEY_ENV,
    MasterKey,
    WrappedKey,
    generate_data_key,
    generate_master_key_file,
    load_master_key,
)

__all__ = [
    "MASTER_KEY_ENV",
    "FieldCipher",
    "MasterKey",
    "WrappedKey",
    "decrypt",
    "encrypt",
    "generate_data_key",
    "generate_master_key_file",
    "load_master_key",
    "pseudonym",
]
