"""Persistent store: SQLAlchemy models (SQLite by default, PostgreSQL by URL), Alembic migrations, encrypted
identifying fields and clinical data, Argon2 password hashes and the keyed hash-chained audit log."""

from attunexr.store._audit import (
    GENESIS_HASH,
    AuditReport,
    append_audit,
    audit_checkpoint,
    canonical_json,
    check_audit_chain,
    entry_hash,
    entry_mac,
    verify_audit_chain,
)
from attunexr.store._db import MIGRATIONS_DIR, Database, secure_data_dir, sqlite_url
from attunexr.store._fieldcrypt import (
    EncryptedJSON,
    EncryptedText,
    FieldCipher,
    StoreKeys,
    load_store_key,
    load_store_master_key,
    token_digest,
)
from attunexr.store._models import (
    ROLES,
    AuditEntry,
    Base,
    Clinic,
    Consent,
    LoginSession,
    Patient,
    SessionEvent,
    TherapySession,
    User,
)
from attunexr.store._passwords import hash_password, verify_password

__all__ = [
    "GENESIS_HASH",
    "MIGRATIONS_DIR",
    "ROLES",
    "AuditEntry",
    "AuditReport",
    "Base",
    "Clinic",
    "Consent",
    "Database",
    "EncryptedJSON",
    "EncryptedText",
    "FieldCipher",
    "LoginSession",
    "Patient",
    "SessionEvent",
    "StoreKeys",
    "TherapySession",
    "User",
    "append_audit",
    "audit_checkpoint",
    "canonical_json",
    "check_audit_chain",
    "entry_hash",
    "entry_mac",
    "hash_password",
    "load_store_key",
    "load_store_master_key",
    "secure_data_dir",
    "sqlite_url",
    "token_digest",
    "verify_audit_chain",
    "verify_password",
]
