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
    LoginSession,
    Patient,
    SessionEvent,
    TherapySession,
    TrialAdverseEvent,
    TrialAllocationSlot,
    TrialParticipant,
    TrialStudy,
    TrialVisit,
    User,
)
from attunexr.store._passwords import hash_password, verify_password

__all__ = [
    "GENESIS_HASH",
    "MIGRATIONS_DIR",
    "ROLES",
    "AuditEntry",
    "Base",
    "Clinic",
    "Consent",
    "Database",
    "FieldCipher",
    "LoginSession",
    "Patient",
    "SessionEvent",
    "TherapySession",
    "TrialAdverseEvent",
    "TrialAllocationSlot",
    "TrialParticipant",
    "TrialStudy",
    "TrialVisit",
    "User",
    "append_audit",
    "canonical_json",
    "entry_hash",
    "hash_password",
    "load_store_key",
    "sqlite_url",
    "verify_audit_chain",
    "verify_password",
]
