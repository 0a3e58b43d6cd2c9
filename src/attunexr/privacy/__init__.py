"""Privacy: master key and per-session data keys, AES-GCM field and segment encryption, keyed pseudonyms and
signed checkpoints kept outside the database."""

from attunexr.privacy._aead import FieldCipher, decrypt, encrypt, pseudonym
from attunexr.privacy._checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointFile,
    checkpoint_key,
    sign_checkpoint,
    verify_checkpoint,
)
from attunexr.privacy._keys import (
    MASTER_KEY_ENV,
    MasterKey,
    WrappedKey,
    generate_data_key,
    generate_master_key_file,
    load_master_key,
)

__all__ = [
    "CHECKPOINT_FILE",
    "MASTER_KEY_ENV",
    "Checkpoint",
    "CheckpointFile",
    "FieldCipher",
    "MasterKey",
    "WrappedKey",
    "checkpoint_key",
    "decrypt",
    "encrypt",
    "generate_data_key",
    "generate_master_key_file",
    "load_master_key",
    "pseudonym",
    "sign_checkpoint",
    "verify_checkpoint",
]
