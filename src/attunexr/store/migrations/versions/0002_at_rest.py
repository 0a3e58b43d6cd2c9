"""clinical data encrypted at rest, VR tokens hashed, audit chain keyed

Revision ID: 0002_at_rest
Revises: 0001

- consents.note, therapy_sessions.plan/summary/vr_token and session_events.payload hold AES-256-GCM ciphertext
  (bytea on PostgreSQL; SQLite keeps the declared column type and stores the BLOB as is) under the clinical-fields key; existing plaintext is encrypted in place.
- therapy_sessions.vr_token_hash (SHA-256 of the VR-client token) is added and filled; the token is compared by it.
- login_sessions.csrf_token is emptied: CSRF tokens are now derived from the login token, never stored.
- The audit chain is re-keyed: every entry's link becomes HMAC-SHA256 under the audit key. The old SHA-256 chain is
  checked first; a ``rekey`` entry records how many entries it had, its head and whether it was intact, and a signed
  ``audit-rekey`` checkpoint is written to the data folder ("chain re-keyed at entry N").

The upgrade needs the master key when the database holds data (it runs through ``Database.upgrade``, which passes
the keys). It cannot be undone (the plaintext is gone): restore the backup taken before upgrading instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from attunexr.errors import ConfigurationError
from attunexr.store._audit import GENESIS_HASH, audit_checkpoint, canonical_json, entry_hash, entry_mac
from attunexr.store._fieldcrypt import StoreKeys, seal_value, token_digest

revision = "0002_at_rest"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None

# (table, column, "json" | "text")
_ENCRYPTED = [
    ("consents", "note", "text"),
    ("therapy_sessions", "plan", "json"),
    ("therapy_sessions", "summary", "json"),
    ("therapy_sessions", "vr_token", "text"),
    ("session_events", "payload", "json"),
]
_BATCH = 1000


def _count(conn: sa.Connection, table: str) -> int:
    return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)


def _as_json(value: Any) -> Any:
    """A JSON column's value: decoded by the driver (PostgreSQL json) or JSON text (SQLite, bytea after ALTER)."""
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(_as_text(value))


def _encrypt_column(conn: sa.Connection, keys: StoreKeys, table: str, column: str, kind: str) -> None:
    label = f"{table}.{column}"
    last = 0
    while True:
        rows = conn.execute(sa.text(f"select id, {column} from {table} where id > :last order by id limit {_BATCH}"),
                            {"last": last}).fetchall()
        if not rows:
            return
        for rid, value in rows:
            last = rid
            if value is None:
                continue
            if kind == "json":
                plain = json.dumps(_as_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            else:
                plain = _as_text(value)
            params: dict[str, Any] = {"id": rid, "v": seal_value(keys.clinical, label, plain.encode("utf-8"))}
            extra = ""
            if column == "vr_token":
                extra, params["h"] = ", vr_token_hash = :h", token_digest(plain)
            conn.execute(sa.text(f"update {table} set {column} = :v{extra} where id = :id"), params)


def _rekey_audit(conn: sa.Connection, keys: StoreKeys) -> dict[str, Any] | None:
    rows = conn.execute(sa.text(
        "select id, at, actor_id, actor, action, resource, resource_id, clinic_id, detail, prev_hash, hash "
        "from audit_log order by id")).fetchall()
    if not rows:
        return None
    legacy_prev, new_prev = GENESIS_HASH, GENESIS_HASH
    problem = ""
    for rid, at, actor_id, actor, action, resource, resource_id, clinic_id, detail, prev_hash, old in rows:
        detail_value = _as_json(detail)
        content = {"at": at, "actor_id": actor_id, "actor": actor, "action": action, "resource": resource,
                   "resource_id": resource_id, "clinic_id": clinic_id, "detail": detail_value or {}}
        if not problem and (prev_hash != legacy_prev or entry_hash(prev_hash, content) != old):
            problem = f"entry {rid} did not verify under SHA-256 at the upgrade"
        legacy_prev = old
        new = entry_mac(keys.audit, new_prev, content)
        conn.execute(sa.text("update audit_log set prev_hash = :p, hash = :h where id = :id"),
                     {"p": new_prev, "h": new, "id": rid})
        new_prev = new
    detail_rec: dict[str, Any] = {"legacy_entries": len(rows), "legacy_head": legacy_prev,
                                  "legacy_intact": not problem, "rekeyed_through": rows[-1][0]}
    if problem:
        detail_rec["legacy_problem"] = problem
    detail_rec = json.loads(canonical_json(detail_rec))
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    content = {"at": at, "actor_id": None, "actor": "system", "action": "rekey", "resource": "audit_log",
               "resource_id": "", "clinic_id": None, "detail": detail_rec}
    mac = entry_mac(keys.audit, new_prev, content)
    conn.execute(sa.text(
        "insert into audit_log (at, actor_id, actor, action, resource, resource_id, clinic_id, detail, prev_hash, "
        "hash) values (:at, null, 'system', 'rekey', 'audit_log', '', null, :detail, :prev, :hash)"),
        {"at": at, "detail": json.dumps(detail_rec), "prev": new_prev, "hash": mac})
    rid = conn.execute(sa.text("select id from audit_log where hash = :h"), {"h": mac}).scalar_one()
    return audit_checkpoint(rid, mac, kind="audit-rekey", legacy_entries=len(rows), legacy_head=legacy_prev,
                            legacy_intact=not problem)


def upgrade() -> None:
    conn = op.get_bind()
    keys: StoreKeys | None = context.config.attributes.get("keys")
    checkpoints = context.config.attributes.get("checkpoints")
    has_data = any(_count(conn, t) for t in ("consents", "therapy_sessions", "session_events", "audit_log"))
    if has_data and keys is None:
        raise ConfigurationError(
            "upgrading this database to 0002_at_rest encrypts its clinical data and re-keys its audit chain, which "
            "needs the master key: upgrade it through attunexr (serve/demo/verify) with ATTUNEXR_MASTER_KEY set or "
            "the data folder holding master.key"
        )
    pg = conn.dialect.name == "postgresql"
    with op.batch_alter_table("therapy_sessions") as batch:
        batch.add_column(sa.Column("vr_token_hash", sa.String(length=64), nullable=False, server_default=""))
        batch.create_index(batch.f("ix_therapy_sessions_vr_token_hash"), ["vr_token_hash"], unique=False)
    # SQLite stores a BLOB unchanged in a TEXT or JSON column, so its tables are not rebuilt (a rebuild would
    # drop tables that others reference while foreign keys are enforced); PostgreSQL columns become bytea.
    if pg:
        for table, column, _kind in _ENCRYPTED:
            op.alter_column(table, column, type_=sa.LargeBinary(),
                            postgresql_using=f"convert_to({column}::text, 'UTF8')")
    if keys is not None:
        for table, column, kind in _ENCRYPTED:
            _encrypt_column(conn, keys, table, column, kind)
        record = _rekey_audit(conn, keys)
        if record is not None and checkpoints is not None:
            checkpoints.append(record)
    conn.execute(sa.text("update login_sessions set csrf_token = ''"))


def downgrade() -> None:
    raise ConfigurationError(
        "0002_at_rest cannot be undone (the plaintext is no longer stored): restore the backup taken before upgrading"
    )
