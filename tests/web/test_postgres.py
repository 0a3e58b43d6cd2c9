"""The web app end to end on a real PostgreSQL server (the throwaway cluster of ``postgres_server``): migrations on
start, admin set-up, login, a patient with encrypted identifying fields, consent, a live session whose timeline is
stored, and the audit chain, all through the HTTP API."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from .conftest import start_server, stop_server, wait_for

SECRET = "Ottilie Pgsecretname"



def test_web_app_end_to_end_on_postgresql(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    live = start_server(tmp_path / "web", None, speed=60.0, database_url=postgres_url)
    try:
        assert live.services.db.engine.dialect.name == "postgresql"
        live.services.ensure_admin("postgres-test-secret-1")
        admin = live.token("admin", "postgres-test-secret-1")
        with live.client(admin) as a:
            r = a.post("/api/clinics", json={"name": "PostgreSQL Clinic"})
            assert r.status_code == 201, r.text
            clinic_id = r.json()["id"]
            r = a.post(
                "/api/users",
                json={
                    "username": "pg_clinician",
                    "password": "long-enough-pw",
                    "role": "clinician",
                    "clinic_id": clinic_id,
                },
            )
            assert r.status_code == 201, r.text
            assert a.post("/api/clinics", json={"name": "PostgreSQL Clinic"}).status_code == 409
            # PostgreSQL refuses NUL characters in text, which SQLite stores: a clean 422, not a server error
            r = a.post("/api/clinics", json={"name": "bad\u0000name"})
            assert r.status_code == 422 and "NUL" in r.json()["detail"][0]["msg"], r.text
        with live.client() as anon:
            assert (
                anon.post(
                    "/api/auth/token", json={"username": "pg_clinician", "password": "wrong-pw-1"}
                ).status_code
                == 401
            )
        token = live.token("pg_clinician", "long-enough-pw")
        with live.client(token) as c:
            r = c.post("/api/patients", json={"identifying": {"name": SECRET}})
            assert r.status_code == 201, r.text
            pid, pseudonym = r.json()["id"], r.json()["pseudonym"]
            assert c.get(f"/api/patients/{pid}").json()["identifying"] == {"name": SECRET}
            assert [p["id"] for p in c.get("/api/patients").json()] == [pid]
            r = c.post(f"/api/patients/{pid}/consents", json={"scope": "treatment", "granted": True})
            assert r.status_code == 201, r.text
            r = c.post(
                f"/api/patients/{pid}/sessions",
                json={
                    "scenario": "heights",
                    "source": "virtual",
                    "speed": 60,
                    "controller": {"mode": "propose"},
                },
            )
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            r = c.post(
                f"/api/patients/{pid}/sessions",
                json={"scenario": "heights", "source": "replay:" + "x" * 80 + ":" + "y" * 80},
            )
            # text longer than its column: refused by PostgreSQL, a clean 422
            assert r.status_code == 422 and "fit its field" in r.json()["detail"][0]["msg"], r.text
            assert c.post(f"/api/sessions/{sid}/start").json()["state"] == "running"
            wait_for(lambda: c.get(f"/api/sessions/{sid}/live").json()["estimate"])
            assert c.post(f"/api/sessions/{sid}/notes", json={"text": "steady breathing"}).status_code == 201
            assert c.post(f"/api/sessions/{sid}/stop").json()["state"] == "stopped"
            wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped")
            events = c.get(f"/api/sessions/{sid}/events").json()
            assert {"vitals", "estimate", "note", "end"} <= {e["kind"] for e in events}
        with live.client(admin) as a:
            verified = a.get("/api/audit/verify").json()
            assert verified["verified"] is True and verified["entries"] >= 8
    finally:
        stop_server(live)
        live.services.db.dispose()
    # no batch of timeline events was refused by the server (the writer only logs such failures)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]
    # what is stored, read with plain SQL: the pseudonym in clear, the name in no column of any table
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select pseudonym from patients")).scalars().all() == [pseudonym]
            assert conn.execute(
                text("select count(*) from session_events where session_id = :s"), {"s": sid}
            ).scalar_one() == len(events)
            for table in inspect(engine).get_table_names():
                assert SECRET not in repr(conn.execute(text(f"select * from {table}")).all()), table
    finally:
        engine.dispose()
