"""The hash-chained audit log.

Each entry stores the hash of the entry before it (``prev_hash``) and its own
``hash = sha256(prev_hash + canonical_json(entry))``, where the canonical JSON has sorted keys, no whitespace and
only the entry's content fields. Changing, inserting or deleting any stored entry breaks every hash after it, which
:func:`verify_audit_chain` detects (the construction of Schneier & Kelsey, "Secure audit logs to support computer
forensics", ACM TISSEC 1999, without the key evolution).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from attunexr.errors import IntegrityError
from attunexr.store._models import AuditEntry

__all__ = ["GENESIS_HASH", "append_audit", "canonical_json", "entry_hash", "verify_audit_chain"]

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_append_lock = threading.Lock()
# key of the PostgreSQL advisory lock that serializes appends across server processes ("attunexr" in ASCII)
_PG_AUDIT_LOCK_KEY = 0x6174_7475_6E65_7872


def canonical_json(value: Any) -> str:
    """Serialize ``value`` deterministically: sorted keys, compact separators, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _content(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "resource": entry.resource,
        "resource_id": entry.resource_id,
        "clinic_id": entry.clinic_id,
        "detail": entry.detail or {},
    }


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(content))`` as 64 hex digits."""
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


def append_audit(
    db: Session,
    *,
    actor: str,
    action: str,
    resource: str,
    resource_id: str | int = "",
    actor_id: int | None = None,
    clinic_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log and commit it.

    Appends are serialized so that the chain never forks: within the process by a lock and, on PostgreSQL, across
    server processes and hosts by a transaction-scoped advisory lock taken before the last hash is read (released by
    the commit). SQLite is meant for one server process.

    Parameters
    ----------
    db
        An open ORM session; it is committed.
    actor, actor_id
        Who did it (user name and id; ``"system"`` for the server itself).
    action
        What was done, e.g. ``"read"``, ``"create"``, ``"approve"``.
    resource, resource_id
        What it was done to, e.g. ``"patient"``, ``42``.
    clinic_id
        The clinic the resource belongs to, if any.
    detail
        Extra JSON-serializable facts (never identifying patient data).
    """
    with _append_lock:
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _PG_AUDIT_LOCK_KEY})
        last = db.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
        prev = last or GENESIS_HASH
        entry = AuditEntry(
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            actor_id=actor_id,
            actor=actor,
            action=action,
            resource=resource,
            resource_id=str(resource_id),
            clinic_id=clinic_id,
            detail=json.loads(canonical_json(detail or {})),
            prev_hash=prev,
        )
        entry.hash = entry_hash(prev, _content(entry))
        db.add(entry)
        db.commit()
    return entry


def verify_audit_chain(db: Session) -> int:
    """Check every link of the audit log and return the number of entries verified.

    Raises
    ------
    IntegrityError
        Naming the first entry whose ``prev_hash`` or ``hash`` does not match (the log was altered there).
    """
    prev = GENESIS_HASH
    n = 0
    for entry in db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        if entry.prev_hash != prev:
            raise IntegrityError(
                f"audit log entry {entry.id} does not follow the entry before it (prev_hash mismatch): "
                "an entry was removed, inserted or altered; restore the database from a backup and investigate"
            )
        expected = entry_hash(prev, _content(entry))
        if expected != entry.hash:
            raise IntegrityError(
                f"audit log entry {entry.id} ({entry.action} {entry.resource} {entry.resource_id}) was altered: "
                "its stored hash does not match its content; restore the database from a backup and investigate"
            )
        prev = entry.hash
        n += 1
    logger.info("audit chain verified: %d entries", n)
    return n
