"""The store on both supported backends, a real SQLite file and a real PostgreSQL server (the throwaway cluster of
``postgres_server``): migrations, hash-chained audit log, encrypted identifying fields, passwords."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from attunexr.errors import IntegrityError
from attunexr.privacy import MasterKey
from attunexr.store import (
    GENESIS_HASH,
    MIGRATIONS_DIR,
    AuditEntry,
    Clinic,
    Database,
    FieldCipher,
    Patient,
    User,
    append_audit,
    canonical_json,
    entry_hash,
    entry_mac,
    hash_password,
    load_store_key,
    sqlite_url,
    verify_audit_chain,
    verify_password,
)

BACKENDS = ["sqlite", "postgresql"]


def load_master_key_from(env: dict[str, str]) -> MasterKey:
    return MasterKey(base64.b64decode(env["ATTUNEXR_MASTER_KEY"]))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file in tmp_path or a fresh database on the PostgreSQL test cluster."""
    url = sqlite_url(tmp_path / "store.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url, data_dir=tmp_path)  # the master key: tmp_path/master.key, created on first use
    database.upgrade()
    yield database
    database.dispose()


def _backend(db: Database) -> str:
    return db.engine.dialect.name


RawSQL = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]


@contextmanager
def _raw_sql(db: Database, tmp_path: Path) -> Iterator[RawSQL]:
    """Run SQL on the stored data bypassing the ORM, as an attacker with access to the file or the server would:
    the sqlite3 module on the SQLite file, a separate plain connection (``text()`` statements) on PostgreSQL."""
    if _backend(db) == "sqlite":
        con = sqlite3.connect(tmp_path / "store.db")

        def run_sqlite(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            rows = con.execute(sql, params).fetchall()
            con.commit()
            return rows

        try:
            yield run_sqlite
        finally:
            con.close()
    else:
        engine = create_engine(db.url)

        def run_pg(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            with engine.begin() as conn:
                result = conn.execute(text(sql), params)
                return [tuple(r) for r in result] if result.returns_rows else []

        try:
            yield run_pg
        finally:
            engine.dispose()


def test_migrations_create_every_table_and_are_idempotent(db: Database) -> None:
    names = set(inspect(db.engine).get_table_names())
    assert {"clinics", "users", "login_sessions", "patients", "consents", "therapy_sessions", "session_events",
            "audit_log", "alembic_version", "trial_studies", "trial_allocation_slots", "trial_participants",
            "trial_visits", "trial_adverse_events"} <= names
    assert "login_attempts" in names
    db.upgrade()  # second run: nothing to do, no error
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"the migrations must form one chain, found heads {heads}"
    with db.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == heads[0]
    assert _backend(db) == db.url.split(":")[0].split("+")[0]  # the parametrization reaches the backend it names


def _head() -> str:
    """The newest migration shipped in the package (the chain has one head)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from attunexr.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"migrations must form one chain, heads: {heads}"
    return str(heads[0])


def _fill(db: Database, n: int = 5) -> None:
    with db.begin() as s:
        for i in range(n):
            append_audit(s, actor="clinician", actor_id=1, action="read", resource="patient", resource_id=i,
                         clinic_id=1, detail={"i": i, "note": "ünïcode"})


def test_audit_chain_links_and_verifies(db: Database) -> None:
    _fill(db)
    with db.begin() as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        assert rows[0].prev_hash == GENESIS_HASH
        for a, b in zip(rows, rows[1:], strict=False):
            assert b.prev_hash == a.hash
        # the documented construction: HMAC-SHA256(audit key, prev_hash + canonical JSON of the content), with the
        # audit key derived from the master key (not the unkeyed SHA-256 of schema 0001)
        r = rows[2]
        content = {"at": r.at, "actor_id": r.actor_id, "actor": r.actor, "action": r.action, "resource": r.resource,
                   "resource_id": r.resource_id, "clinic_id": r.clinic_id, "detail": r.detail}
        assert db.master_key is not None
        assert r.hash == entry_mac(db.master_key.derive("store/audit-chain"), r.prev_hash, content)
        assert r.hash != entry_hash(r.prev_hash, content)
        assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
        assert verify_audit_chain(s) == 5


@pytest.mark.parametrize("tamper", ["edit_detail", "edit_actor", "delete_middle", "rehash_edited"])
def test_audit_tampering_is_detected(db: Database, tmp_path: Path, tamper: str) -> None:
    _fill(db)
    with _raw_sql(db, tmp_path) as raw:
        if tamper == "edit_detail":
            raw("update audit_log set detail=:d where id=3", {"d": '{"i": 99, "note": "x"}'})
        elif tamper == "edit_actor":
            raw("update audit_log set actor='someone else' where id=2", {})
        elif tamper == "delete_middle":
            raw("delete from audit_log where id=3", {})
        else:  # edit entry 3 and recompute its own hash: the next entry no longer follows it
            row = raw("select at, actor_id, actor, action, resource, resource_id, clinic_id, prev_hash "
                      "from audit_log where id=3", {})[0]
            content = {"at": row[0], "actor_id": row[1], "actor": "forger", "action": row[3], "resource": row[4],
                       "resource_id": row[5], "clinic_id": row[6], "detail": {"i": 2, "note": "ünïcode"}}
            raw("update audit_log set actor='forger', hash=:h where id=3", {"h": entry_hash(row[7], content)})
    with db.begin() as s, pytest.raises(IntegrityError, match=r"audit_log entry [2-4]"):
        verify_audit_chain(s)


def test_untampered_chain_survives_a_raw_read(db: Database, tmp_path: Path) -> None:
    """Positive control of the tampering test: the raw connection alone changes nothing."""
    _fill(db)
    with _raw_sql(db, tmp_path) as raw:
        rows = raw("select id, hash from audit_log order by id", {})
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    with db.begin() as s:
        assert verify_audit_chain(s) == 5


_APPENDER = """
import sys, time
from attunexr.store import Database, append_audit
db = Database(sys.argv[1])
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
with db.begin() as s:
    for i in range(40):
        append_audit(s, actor="server-" + sys.argv[3], action="read", resource="patient", resource_id=i)
"""


def test_server_processes_appending_at_once_keep_one_chain_on_postgresql(postgres_url: str) -> None:
    """Several server processes on one PostgreSQL database (workers, hosts) append to a single unforked chain."""
    env = {**os.environ, "ATTUNEXR_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    db = Database(postgres_url, master_key=load_master_key_from(env))
    db.upgrade()
    start = time.time() + 4  # every process imported and connected before the first append
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, postgres_url, str(start), str(k)],
                              stderr=subprocess.PIPE, text=True, env=env) for k in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with db.begin() as s:
        assert verify_audit_chain(s) == 120
        prev = list(s.execute(select(AuditEntry.prev_hash)).scalars())
        assert len(set(prev)) == 120  # no two entries follow the same one
        assert len({a for a in s.execute(select(AuditEntry.actor)).scalars()}) == 3
    db.dispose()


def test_identifying_fields_are_encrypted_at_rest(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  request: pytest.FixtureRequest) -> None:
    monkeypatch.delenv("ATTUNEXR_MASTER_KEY", raising=False)
    key = load_store_key(tmp_path / "keys")
    assert (tmp_path / "keys" / "master.key").stat().st_mode & 0o077 == 0
    assert load_store_key(tmp_path / "keys") == key  # stable across restarts
    cipher = FieldCipher(key)
    with db.begin() as s:
        clinic = Clinic(name="c")
        s.add(clinic)
        s.commit()
        user = User(username="u", password_hash=hash_password("pw-123456"), role="clinician", clinic_id=clinic.id)
        s.add(user)
        s.commit()
        s.add(Patient(clinic_id=clinic.id, pseudonym="P-TEST0001", created_by=user.id,
                      identifying_enc=cipher.encrypt({"name": "Quirinus Plaintextname"}, bound_to="P-TEST0001")))
        s.commit()
        p = s.execute(select(Patient)).scalar_one()
        assert cipher.decrypt(p.identifying_enc, bound_to="P-TEST0001") == {"name": "Quirinus Plaintextname"}
        with pytest.raises(IntegrityError):
            cipher.decrypt(p.identifying_enc, bound_to="P-OTHER001")  # copied onto another row: refused
        with pytest.raises(IntegrityError):
            FieldCipher(bytes(32)).decrypt(p.identifying_enc, bound_to="P-TEST0001")  # wrong key
    # every stored value, read with plain SQL: the name is in no column of any table, the ciphertext is no plaintext
    with _raw_sql(db, tmp_path) as raw:
        (enc, pseudonym), = raw("select identifying_enc, pseudonym from patients", {})
        assert pseudonym == "P-TEST0001" and b"Plaintextname" not in bytes(enc) and len(bytes(enc)) > 16
        for table in inspect(db.engine).get_table_names():
            assert "Plaintextname" not in repr(raw(f"select * from {table}", {})), table
    db.dispose()
    # and the bytes on disk: the SQLite files, or the PostgreSQL database folder and write-ahead log
    if _backend(db) == "sqlite":
        files = list(tmp_path.glob("store.db*"))
    else:
        server = request.getfixturevalue("postgres_server")
        with server.connect_admin() as conn:
            conn.execute("CHECKPOINT")  # flush the shared buffers into the table files
            oid = conn.execute("select oid from pg_database where datname = %s",
                               (db.engine.url.database,)).fetchone()[0]
        files = [*(server.data_dir / "base" / str(oid)).iterdir(), *(server.data_dir / "pg_wal").glob("0*")]
    on_disk = b"".join(f.read_bytes() for f in files if f.is_file())
    assert b"Plaintextname" not in on_disk and b"P-TEST0001" in on_disk


def test_passwords_use_argon2id() -> None:
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-pass")
    assert not verify_password(h, "s3cret-pasS")
    assert not verify_password("not a hash", "s3cret-pass")
