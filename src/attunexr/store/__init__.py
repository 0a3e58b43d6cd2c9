"""Persistent store: SQLAlchemy models (SQLite by default, PostgreSQL by URL), Alembic migrations, encrypted
identifying fields, Argon2 password hashes and the hash-chained audit log."""

from attunexr.store._audit import GENESIS_HASH, append_audit, canonical_json, entry_hash, verify_audit_chain
from attunexr.store._db import MIGRATIONS_DIR, Database, sqlite_url
from attunexr.store._fieldcrypt import FieldCipher, load_store_key
from attunexr.store._models import (
    ROLES,
    AuditEntry,
    Base,
    Clinic,
    Consent,
    LoginAttempt,
    LoginSession,
    Patient,
    SessionEvent,
    TherapySession,
    User,
)
from attunexr.store._passwords import (
    MIN_PASSWORD_LENGTH,
    PasswordHashingBusyError,
    check_password_policy,
    hash_password,
    limit_password_hashing,
    password_problems,
    verify_password,
)

__all__ = [
    "GENESIS_HASH",
    "MIGRATIONS_DIR",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "AuditEntry",
    "Base",
    "Clinic",
    "Consent",
    "Database",
    "FieldCipher",
    "LoginAttempt",
    "LoginSession",
    "PasswordHashingBusyError",
    "Patient",
    "SessionEvent",
    "TherapySession",
    "User",
    "append_audit",
    "canonical_json",
    "check_password_policy",
    "entry_hash",
    "hash_password",
    "limit_password_hashing",
    "load_store_key",
    "password_problems",
    "sqlite_url",
    "verify_audit_chain",
    "verify_password",
]
