"""Upgrading a schema-0001 database that holds data: its plaintext notes, plans and event payloads are encrypted in
place, its VR tokens hashed, its login CSRF tokens dropped and its SHA-256 audit chain re-keyed under HMAC, with a
signed "chain re-keyed at entry N" checkpoint; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text

from attunexr.errors import ConfigurationError
from attunexr.privacy import CHECKPOINT_FILE, CheckpointFile
from attunexr.store import (
    GENESIS_HASH,
    MIGRATIONS_DIR,
    AuditEntry,
    Consent,
    Database,
    SessionEvent,
    TherapySession,
    check_audit_chain,
    entry_hash,
    sqlite_url,
    token_digest,
    verify_audit_chain,
)

NOTE = "Neighbour Bartholomew Ziegenbalg, phone 0151 2345 6789"
TOKEN = "vr-token-Kq3xPl2mZ8"
CSRF = "csrf-token-Yt5rW0aB1c"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield sqlite_url(tmp_path / "attunexr.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _schema_0001_with_data(url: str, break_entry: int | None = None) -> str:
    """A database at schema 0001 filled the way the 0001 code stored things (plaintext); returns the audit head."""
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    now = "2026-01-01 10:00:00+00:00"
    with engine.begin() as conn:
        run = conn.execute
        run(text("insert into clinics (id, name, created_at) values (1, 'c', :t)"), {"t": now})
        run(text("insert into users (id, username, password_hash, role, clinic_id, active, created_at) "
                 "values (1, 'u', 'x', 'clinician', 1, true, :t)"), {"t": now})
        run(text("insert into login_sessions (id, token_hash, csrf_token, kind, user_id, created_at, expires_at) "
                 "values (1, :h, :c, 'cookie', 1, :t, :t)"), {"h": "0" * 64, "c": CSRF, "t": now})
        run(text("insert into patients (id, clinic_id, pseudonym, identifying_enc, created_by, created_at) "
                 "values (1, 1, 'P-OLD00001', :e, 1, :t)"), {"e": b"\x00" * 40, "t": now})
        run(text("insert into consents (id, patient_id, scope, granted, note, recorded_by, recorded_at) "
                 "values (1, 1, 'treatment', true, :n, 1, :t)"), {"n": NOTE, "t": now})
        run(text("insert into therapy_sessions (id, patient_id, clinic_id, scenario, plan, status, source, vr_token, "
                 "created_by, created_at, summary) values (1, 1, 1, 'heights', :p, 'stopped', 'virtual', :v, 1, :t, "
                 ":s)"), {"p": json.dumps({"scenario": "heights", "seed": 7}), "v": TOKEN, "t": now,
                          "s": json.dumps({"final_level": 3})})
        for i in range(3):
            run(text("insert into session_events (session_id, t, kind, actor, payload, at) "
                     "values (1, :tt, :k, 'clinician', :p, :t)"),
                {"tt": float(i), "k": ["note", "suds", "vitals"][i], "t": now,
                 "p": json.dumps([{"text": NOTE}, {"value": 64.5, "by": "clinician"}, {"hr": 71.5}][i])})
        prev = GENESIS_HASH
        for i in range(1, 6):
            content = {"at": f"2026-01-01T10:00:0{i}+00:00", "actor_id": 1, "actor": "u", "action": "read",
                       "resource": "patient", "resource_id": "1", "clinic_id": 1, "detail": {"i": i}}
            h = entry_hash(prev, content)
            if i == break_entry:
                content = {**content, "actor": "edited later"}  # stored content no longer matches its hash
            run(text("insert into audit_log (at, actor_id, actor, action, resource, resource_id, clinic_id, "
                     "detail, prev_hash, hash) values (:at, 1, :actor, 'read', 'patient', '1', 1, :d, :p, :h)"),
                {"at": content["at"], "actor": content["actor"], "d": json.dumps(content["detail"]),
                 "p": prev, "h": h})
            prev = h
    engine.dispose()
    return prev


def _raw(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


def test_upgrade_encrypts_hashes_and_rekeys(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNEXR_MASTER_KEY", raising=False)
    old_head = _schema_0001_with_data(url)
    if url.startswith("postgresql"):  # without the master key the upgrade refuses, and changes nothing
        with pytest.raises(ConfigurationError, match="needs the master key"):
            Database(url).upgrade()
        assert _raw(url, "select version_num from alembic_version") == [("0001",)]
    db = Database(url, data_dir=tmp_path)
    db.upgrade()
    assert _raw(url, "select version_num from alembic_version") == [(_head(),)]  # through every later migration
    # stored: ciphertext, and neither the note, the SUDS answer, the vitals, the VR token nor the CSRF token
    stored = repr(_raw(url, "select * from consents") + _raw(url, "select * from therapy_sessions")
                  + _raw(url, "select * from session_events") + _raw(url, "select * from login_sessions"))
    for secret in ("Ziegenbalg", "2345 6789", TOKEN, CSRF, "64.5", "71.5", '"seed"'):
        assert secret not in stored, secret
    # read through the models: the same values as before
    with db.begin() as s:
        assert s.execute(select(Consent.note)).scalar_one() == NOTE
        ts = s.get(TherapySession, 1)
        assert ts is not None
        assert ts.vr_token == TOKEN and ts.vr_token_hash == token_digest(TOKEN)
        assert ts.plan == {"scenario": "heights", "seed": 7} and ts.summary == {"final_level": 3}
        payloads = [e.payload for e in s.execute(select(SessionEvent).order_by(SessionEvent.id)).scalars()]
        assert payloads == [{"text": NOTE}, {"value": 64.5, "by": "clinician"}, {"hr": 71.5}]
        # the chain: re-keyed (no entry keeps its SHA-256 link), followed by a rekey entry, verifying
        assert verify_audit_chain(s) == 6
        entries = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        assert old_head not in {e.hash for e in entries}
        rekey = entries[-1]
        assert (rekey.action, rekey.resource) == ("rekey", "audit_log")
        assert rekey.detail == {"legacy_entries": 5, "legacy_head": old_head, "legacy_intact": True,
                                "rekeyed_through": 5}
    assert db.keys is not None
    (cp,) = CheckpointFile(tmp_path / CHECKPOINT_FILE, db.keys.checkpoint).read()
    assert cp.valid and cp.record is not None
    assert cp.record["kind"] == "audit-rekey" and cp.record["entry"] == 6 and cp.record["head"] == rekey.hash
    db.upgrade()  # nothing left to do
    db.dispose()


def test_upgrade_records_a_broken_legacy_chain(url: str, tmp_path: Path) -> None:
    """History altered before the upgrade cannot be repaired by re-keying it: verify keeps reporting it."""
    _schema_0001_with_data(url, break_entry=3)
    db = Database(url, data_dir=tmp_path)
    db.upgrade()
    with db.begin() as s:
        report = check_audit_chain(s)
    db.dispose()
    assert len(report.problems) == 1
    assert "unkeyed chain before this upgrade was already broken (entry 3 did not verify" in report.problems[0]


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from attunexr.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return str(ScriptDirectory.from_config(cfg).get_heads()[0])
