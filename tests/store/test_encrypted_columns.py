"""Encrypted columns: transparent to callers, bound to their column, refused without the master key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import StatementError

from attunexr.errors import ConfigurationError, IntegrityError
from attunexr.store import (
    Clinic,
    Consent,
    Database,
    Patient,
    SessionEvent,
    TherapySession,
    User,
    sqlite_url,
    token_digest,
)


def _world(db: Database) -> int:
    with db.begin() as s:
        s.add(Clinic(id=1, name="c"))
        s.commit()
        s.add(User(id=1, username="u", password_hash="x", role="clinician", clinic_id=1))
        s.commit()
        s.add(Patient(id=1, clinic_id=1, pseudonym="P-1", identifying_enc=b"\0" * 32, created_by=1))
        s.commit()
        s.add(Consent(patient_id=1, scope="treatment", granted=True, note="call 0170 1111", recorded_by=1))
        ts = TherapySession(patient_id=1, clinic_id=1, scenario="heights", plan={"seed": 1}, vr_token="tok-1",
                            created_by=1)
        s.add(ts)
        s.commit()
        s.add(SessionEvent(session_id=ts.id, t=1.0, kind="suds", actor="u", payload={"value": 42.5}))
        s.commit()
        return ts.id


def test_round_trip_and_binding_to_the_column(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "a.db"), data_dir=tmp_path)
    db.upgrade()
    sid = _world(db)
    with db.begin() as s:
        ts = s.get(TherapySession, sid)
        assert ts is not None and ts.vr_token == "tok-1" and ts.vr_token_hash == token_digest("tok-1")
        assert ts.plan == {"seed": 1} and ts.summary == {}
        assert s.query(SessionEvent).one().payload == {"value": 42.5}
    con = sqlite3.connect(tmp_path / "a.db")
    (note,) = con.execute("select note from consents").fetchone()
    assert isinstance(note, bytes) and b"0170" not in note
    # a ciphertext copied into another encrypted column does not decrypt there
    con.execute("update therapy_sessions set vr_token = ?", (note,))
    con.commit()
    con.close()
    with db.begin() as s, pytest.raises(IntegrityError):
        s.get(TherapySession, sid)
    db.dispose()


def test_without_the_master_key_nothing_clinical_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNEXR_MASTER_KEY", raising=False)
    db = Database("sqlite://")  # no file, no data folder, no key
    db.upgrade()
    with pytest.raises(StatementError) as err:  # SQLAlchemy wraps what a column type raises
        _world(db)
    assert isinstance(err.value.orig, ConfigurationError) and "without the master key" in str(err.value.orig)
    db.dispose()
