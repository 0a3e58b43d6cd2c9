"""The store on a real SQLite file: migrations, hash-chained audit log, encrypted identifying fields, passwords."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from attunexr.errors import IntegrityError
from attunexr.store import (
    GENESIS_HASH,
    AuditEntry,
    Clinic,
    Database,
    FieldCipher,
    Patient,
    User,
    append_audit,
    canonical_json,
    entry_hash,
    hash_password,
    load_store_key,
    sqlite_url,
    verify_audit_chain,
    verify_password,
)


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(sqlite_url(tmp_path / "store.db"))
    database.upgrade()
    return database


def test_migrations_create_every_table_and_are_idempotent(db: Database) -> None:
    names = set(inspect(db.engine).get_table_names())
    assert {"clinics", "users", "login_sessions", "patients", "consents", "therapy_sessions", "session_events",
            "audit_log", "alembic_version"} <= names
    db.upgrade()  # second run: nothing to do, no error
    with db.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == "0001"


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
        # the documented construction: sha256(prev_hash + canonical JSON of the content)
        r = rows[2]
        content = {"at": r.at, "actor_id": r.actor_id, "actor": r.actor, "action": r.action, "resource": r.resource,
                   "resource_id": r.resource_id, "clinic_id": r.clinic_id, "detail": r.detail}
        assert r.hash == entry_hash(r.prev_hash, content)
        assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
        assert verify_audit_chain(s) == 5


@pytest.mark.parametrize("tamper", ["edit_detail", "edit_actor", "delete_middle", "rehash_edited"])
def test_audit_tampering_is_detected(db: Database, tmp_path: Path, tamper: str) -> None:
    _fill(db)
    con = sqlite3.connect(tmp_path / "store.db")  # an attacker with file access, bypassing the ORM
    if tamper == "edit_detail":
        con.execute("""update audit_log set detail='{"i": 99, "note": "x"}' where id=3""")
    elif tamper == "edit_actor":
        con.execute("update audit_log set actor='someone else' where id=2")
    elif tamper == "delete_middle":
        con.execute("delete from audit_log where id=3")
    else:  # edit entry 3 and recompute its own hash: the next entry no longer follows it
        row = con.execute("select at, actor_id, actor, action, resource, resource_id, clinic_id, prev_hash "
                          "from audit_log where id=3").fetchone()
        content = {"at": row[0], "actor_id": row[1], "actor": "forger", "action": row[3], "resource": row[4],
                   "resource_id": row[5], "clinic_id": row[6], "detail": {"i": 2, "note": "ünïcode"}}
        con.execute("update audit_log set actor='forger', hash=? where id=3", (entry_hash(row[7], content),))
    con.commit()
    con.close()
    with db.begin() as s, pytest.raises(IntegrityError, match=r"audit log entry [2-4]"):
        verify_audit_chain(s)


def test_identifying_fields_are_encrypted_at_rest(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
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
    db.dispose()
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("store.db*"))
    assert b"Plaintextname" not in raw and b"P-TEST0001" in raw


def test_passwords_use_argon2id() -> None:
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-pass")
    assert not verify_password(h, "s3cret-pasS")
    assert not verify_password("not a hash", "s3cret-pass")
