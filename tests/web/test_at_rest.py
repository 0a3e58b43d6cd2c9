"""Data at rest, as someone who copies the data folder would see it: a session run through the web app leaves no
clinical free text, event payload, VR token or CSRF token in clear in the SQLite files, and every file and folder
the app writes is private to its owner (0600/0700)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx

from attunexr.store import SessionEvent, TherapySession

from .conftest import start_server, stop_server, wait_for

NAME = "Wilhelmina Quastenberg"
PHONE = "+49 170 5550 1234"
NOTE = f"Sister {NAME} will pick her up, call {PHONE}"
SUDS = 73.25  # a value no other payload holds



def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_session_through_the_web_app_leaves_no_plaintext_on_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    live = start_server(data, None, speed=60.0)
    try:
        live.services.ensure_demo("at-rest-pw-0001", scenario="spiders")
        token = live.token("clinician", "at-rest-pw-0001")
        with live.client(token) as c:
            r = c.post("/api/patients", json={"identifying": {"name": NAME}})
            assert r.status_code == 201, r.text
            pid = r.json()["id"]
            r = c.post(f"/api/patients/{pid}/consents", json={"scope": "treatment", "granted": True, "note": NOTE})
            assert r.status_code == 201, r.text
            assert c.get(f"/api/patients/{pid}/consents").json()[0]["note"] == NOTE  # callers read plain text
            r = c.post(f"/api/patients/{pid}/sessions", json={"scenario": "spiders", "source": "virtual",
                                                               "speed": 60, "controller": {"mode": "propose"}})
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            assert c.post(f"/api/sessions/{sid}/start").status_code == 200
            wait_for(lambda: c.get(f"/api/sessions/{sid}/live").json()["estimate"])
            assert c.post(f"/api/sessions/{sid}/notes", json={"text": NOTE}).status_code == 201
            assert c.post(f"/api/sessions/{sid}/suds", json={"value": SUDS}).status_code == 201
            assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
            wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped")
            events = c.get(f"/api/sessions/{sid}/events").json()
            assert any(e["kind"] == "note" and e["payload"]["text"] == NOTE for e in events)
            assert any(e["kind"] == "suds" and e["payload"]["value"] == SUDS for e in events)
        # a browser login: its CSRF token is derived from the login token, never stored
        with httpx.Client(base_url=live.url) as b:
            assert b.post("/login", data={"username": "clinician", "password": "at-rest-pw-0001"}).status_code == 303
            m = re.search(r'name="csrf-token" content="([^"]+)"', b.get(f"/sessions/{sid}").text)
            assert m is not None
            csrf = m.group(1)
            r = b.post(f"/api/sessions/{sid}/notes", json={"text": "late note"}, headers={"X-CSRF-Token": csrf})
            assert r.status_code in (201, 409), r.text  # the session has ended: 409, but the CSRF check passed
            assert b.post(f"/api/sessions/{sid}/notes", json={"text": "x"},
                          headers={"X-CSRF-Token": "forged"}).status_code == 403
        live.services.writer.flush()
        with live.services.db.begin() as db:
            ts = db.get(TherapySession, sid)
            assert ts is not None
            vr_token = ts.vr_token
            assert ts.vr_token_hash != vr_token and len(ts.vr_token_hash) == 64
            n_events = db.query(SessionEvent).filter_by(session_id=sid).count()
            vitals = db.query(SessionEvent).filter_by(session_id=sid, kind="vitals").first()
            assert vitals is not None and "hr" in repr(vitals.payload)
        assert n_events > 20
        # while the app runs, SQLite's write-ahead log and shared-memory files exist, private like the database
        for suffix in ("", "-wal", "-shm"):
            f = data / f"attunexr.db{suffix}"
            assert f.exists() and _mode(f) == 0o600, (f, oct(_mode(f)) if f.exists() else "missing")
        # the VR link works with the token and not without it
        with live.client() as anon:
            assert anon.get(f"/vr/{sid}?token={vr_token}").status_code == 200
            assert anon.get(f"/vr/{sid}?token={vr_token[:-1]}x").status_code == 404
    finally:
        stop_server(live)
    live.services.db.dispose()
    files = sorted(data.glob("attunexr.db*"))
    raw = b"".join(f.read_bytes() for f in files)
    assert len(raw) > 10_000
    for secret in (NAME, PHONE, "Quastenberg", "5550 1234", vr_token, csrf):
        assert secret.encode() not in raw, f"{secret!r} found in clear in {[f.name for f in files]}"
    # event payloads: neither the SUDS answer nor any vitals, estimate or proposal JSON is in clear
    for fragment in (f"{SUDS}".encode(), b'"value":', b'"hr":', b'"probability"', b'"to_level"', b'"by":'):
        assert fragment not in raw, fragment
    # what stays in clear, on purpose: event kinds (timelines are filtered by kind)
    assert b"vitals" in raw and b"suds" in raw
    # modes: the folder 0700, every file the app wrote 0600 (SQLite's -wal/-shm included)
    assert _mode(data) == 0o700
    written = [p for p in data.rglob("*")]
    assert {p.name for p in written} >= {"attunexr.db", "master.key", "checkpoints.jsonl", "sessions"}
    for p in written:
        assert _mode(p) == (0o700 if p.is_dir() else 0o600), (p, oct(_mode(p)))
