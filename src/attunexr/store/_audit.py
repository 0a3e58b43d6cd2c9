"""The keyed, hash-chained audit log with signed checkpoints outside the database.

Each entry stores the MAC of the entry before it (``prev_hash``) and its own
``hash = HMAC-SHA256(audit key, prev_hash + canonical_json(entry))``, where the canonical JSON has sorted keys, no
whitespace and only the entry's content fields, and the audit key is derived from the master key
(``MasterKey.derive("store/audit-chain")``), which the database does not hold. Changing, inserting or deleting a
stored entry breaks the chain, and someone who can write the database cannot recompute the MACs after a change
(the construction of Schneier & Kelsey, "Secure audit logs to support computer forensics", ACM TISSEC 1999,
without the key evolution).

Deleting the newest entries leaves a shorter chain that still links; that is caught by the checkpoints: after each
append the head of the chain (entry id, its MAC, time) is signed and appended to ``<data folder>/checkpoints.jsonl``
(:class:`attunexr.privacy.CheckpointFile`), and live sessions copy it into their session logs. Verification checks
that every entry a checkpoint vouches for is still there with the MAC it had.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from attunexr.errors import IntegrityError
from attunexr.privacy import Checkpoint, CheckpointFile
from attunexr.store._fieldcrypt import keys_of
from attunexr.store._models import AuditEntry

__all__ = [
    "GENESIS_HASH",
    "AuditReport",
    "append_audit",
    "audit_checkpoint",
    "canonical_json",
    "check_audit_chain",
    "entry_hash",
    "entry_mac",
    "verify_audit_chain",
]

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_append_lock = threading.Lock()
_LISTED = 10  # entries named one by one before the rest are counted
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
    """The unkeyed link of schema 0001, ``sha256(prev_hash + canonical_json(content))`` (kept for upgrades)."""
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


def entry_mac(key: bytes, prev_hash: str, content: dict[str, Any]) -> str:
    """``HMAC-SHA256(key, prev_hash + canonical_json(content))`` as 64 hex digits."""
    return hmac.new(key, (prev_hash + canonical_json(content)).encode("utf-8"), hashlib.sha256).hexdigest()


def _checkpoints_of(db: Session) -> CheckpointFile | None:
    cp = getattr(db.get_bind().dialect, "attunexr_checkpoints", None)
    return cp if isinstance(cp, CheckpointFile) else None


def audit_checkpoint(entry_id: int, head: str, kind: str = "audit", **extra: Any) -> dict[str, Any]:
    """The (unsigned) checkpoint record of an audit chain whose newest entry is ``entry_id`` with MAC ``head``."""
    return {"kind": kind, "entry": int(entry_id), "head": head,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"), **extra}


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
    """Append one entry to the audit log, commit it and write a signed checkpoint of the new head.

    Appends are serialized so that the chain never forks: within the process by a lock and, on PostgreSQL, across
    server processes and hosts by a transaction-scoped advisory lock taken before the last hash is read (released by
    the commit). SQLite is meant for one server process.

    Parameters
    ----------
    db
        An open ORM session of a :class:`~attunexr.store.Database` opened with the master key; it is committed.
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
    key = keys_of(db.get_bind().dialect).audit
    checkpoints = _checkpoints_of(db)
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
        entry.hash = entry_mac(key, prev, _content(entry))
        db.add(entry)
        db.commit()
        head = (entry.id, entry.hash)
    if checkpoints is not None:  # after the lock: checkpoints need no order, and the fsync need not block appends
        checkpoints.append(audit_checkpoint(*head))
    return entry


@dataclass
class AuditReport:
    """What :func:`check_audit_chain` found.

    Attributes
    ----------
    entries
        Entries in the log.
    problems
        One sentence per problem (empty when the chain and every checkpoint agree).
    checkpoints
        Valid checkpoints compared with the chain.
    head
        ``(id, MAC)`` of the newest entry (``None`` for an empty log).
    """

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0
    head: tuple[int, str] | None = None


def check_audit_chain(
    db: Session, checkpoints: Sequence[tuple[str, Checkpoint]] | None = None
) -> AuditReport:
    """Check every link of the audit log and every checkpoint of it; report all problems found.

    Parameters
    ----------
    db
        A session of a database opened with the master key.
    checkpoints
        ``(source, checkpoint)`` pairs to compare with the chain (``source`` names the file or log it came from);
        by default the database's own checkpoint file, when it has one.
    """
    key = keys_of(db.get_bind().dialect).audit
    if checkpoints is None:
        own = _checkpoints_of(db)
        checkpoints = [(str(own.path), c) for c in own.read()] if own is not None else []
    report = AuditReport()
    macs: dict[int, str] = {}
    prev = GENESIS_HASH
    altered: list[str] = []
    for entry in db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        report.entries += 1
        what = f"audit_log entry {entry.id} ({entry.action} {entry.resource} {entry.resource_id})"
        if entry.prev_hash != prev:
            altered.append(
                f"{what} does not follow the entry before it (prev_hash mismatch): an entry was removed, "
                "inserted or altered before it"
            )
        if not hmac.compare_digest(entry_mac(key, entry.prev_hash, _content(entry)), entry.hash):
            altered.append(
                f"{what} was altered: its stored MAC does not match its content under the audit key "
                "(rewritten, or its MAC recomputed without the key)"
            )
        if entry.action == "rekey" and entry.resource == "audit_log" and entry.detail.get("legacy_intact") is False:
            report.problems.append(
                f"{what}: the unkeyed chain before this upgrade was already broken "
                f"({entry.detail.get('legacy_problem', 'see detail')})"
            )
        macs[entry.id] = entry.hash
        prev = entry.hash
    report.problems += altered[:_LISTED]
    if len(altered) > _LISTED:
        report.problems.append(f"audit_log: {len(altered) - _LISTED} more entries fail their link or MAC check")
    if macs:
        last_id = max(macs)
        report.head = (last_id, macs[last_id])
    newest = report.head[0] if report.head else 0
    beyond: list[tuple[int, str]] = []  # (entry, where) vouched for past the end of the log
    missing: list[tuple[int, str]] = []
    differs: list[tuple[int, str]] = []
    for source, cp in checkpoints:
        rec = cp.record
        if rec is None or not cp.valid:
            report.problems.append(
                f"{source} line {cp.line}: checkpoint signature invalid (forged, altered or another master key)"
            )
            continue
        if rec.get("kind") not in ("audit", "audit-rekey"):
            continue
        report.checkpoints += 1
        eid, head = int(rec.get("entry", 0)), str(rec.get("head", ""))
        where = f"{source} line {cp.line} (at {rec.get('at')})"
        if eid not in macs:
            (beyond if eid > newest else missing).append((eid, where))
        elif not hmac.compare_digest(macs[eid], head):
            differs.append((eid, where))
    if beyond:
        eid, where = max(beyond)
        report.problems.append(
            f"audit_log truncated: the log ends at entry {newest}, but {len(beyond)} checkpoint(s) vouch for later "
            f"entries; {where} vouches for entry {eid}, the newest"
        )
    if missing:
        ids = sorted({e for e, _ in missing})
        report.problems.append(
            f"audit_log entries {_span(ids)} are missing ({len(ids)}), though checkpoints vouch for them "
            f"(first: {min(missing)[1]})"
        )
    if differs:
        ids = sorted({e for e, _ in differs})
        report.problems.append(
            f"audit_log entries {_span(ids)} ({len(ids)}) differ from the checkpoints that vouch for them "
            f"(first: entry {min(differs)[0]}, {min(differs)[1]}): the chain was rewritten"
        )
    logger.info("audit chain checked: %d entries, %d checkpoints, %d problems", report.entries,
                report.checkpoints, len(report.problems))
    return report


def _span(ids: list[int]) -> str:
    return str(ids[0]) if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"


def verify_audit_chain(db: Session) -> int:
    """Check every link of the audit log and its checkpoints; return the number of entries verified.

    Raises
    ------
    IntegrityError
        Naming the first problem (an entry whose link or MAC does not match, or a checkpoint the chain contradicts).
    """
    report = check_audit_chain(db)
    if report.problems:
        raise IntegrityError(
            f"{report.problems[0]}; restore the database from a backup and investigate"
            + (f" ({len(report.problems) - 1} more problems: run `attunexr verify`)" if len(report.problems) > 1
               else "")
        )
    return report.entries
