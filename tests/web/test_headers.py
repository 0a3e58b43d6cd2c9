"""Response headers of every page and API answer: Content-Security-Policy (scripts only from the app or with the
response's nonce, no framing), nosniff, referrer policy, HSTS behind HTTPS; and a token is accepted only the way it
was issued, so a bearer token put in the cookie cannot skip the CSRF check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from attunexr.store import Clinic, Consent, TherapySession, User, hash_password
from attunexr.web import Settings, create_app

PASSWORD = "copper meadow tangerine"


def _app(tmp_path: Path, **kw: Any) -> Any:
    app = create_app(Settings(data_dir=tmp_path, speed=50.0, **kw))
    services = app.state.services
    with services.db.begin() as db:
        clinic = Clinic(name="Clinic")
        db.add(clinic)
        db.commit()
        user = User(username="doc", role="clinician", clinic_id=clinic.id, password_hash=hash_password(PASSWORD))
        db.add(user)
        db.add(User(username="boss", role="admin", clinic_id=None, password_hash=hash_password(PASSWORD)))
        db.commit()
        patient = services.create_patient(db, clinic.id, user.id, {"name": "Header Person"})
        db.add(Consent(patient_id=patient.id, scope="treatment", granted=True, recorded_by=user.id))
        db.commit()
    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path), follow_redirects=False) as c:
        yield c


def _csp(resp: Any) -> dict[str, str]:
    header = resp.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in header.split("; ")}


def test_every_page_has_a_csp_and_no_unnonced_inline_script(client: TestClient) -> None:
    assert client.post("/login", data={"username": "doc", "password": PASSWORD}).status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": csrf}
    sid = client.post("/api/patients/1/sessions", json={"scenario": "heights"}, headers=headers).json()["id"]
    with client.app.state.services.db.begin() as db:  # type: ignore[attr-defined]
        vr_token = db.get(TherapySession, sid).vr_token
    pages = ["/login", "/", "/account", "/patients/1", f"/sessions/{sid}", f"/sessions/{sid}/report",
             f"/vr/{sid}?token={vr_token}", "/models/stress"]
    nonces = set()
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
        csp = _csp(r)
        assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'", url
        assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"], url
        nonce = re.search(r"'nonce-([^']+)'", csp["script-src"]).group(1)  # type: ignore[union-attr]
        nonces.add(nonce)
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert "src=" in tag or f'nonce="{nonce}"' in tag, f"{url}: inline script without the nonce: {tag}"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in r.headers
    assert len(nonces) == len(pages)  # a fresh nonce for every response
    vr = client.get(f"/vr/{sid}?token={vr_token}")
    assert re.search(r'<script type="importmap" nonce="[^"]+">', vr.text)
    api = client.get("/api/me")
    assert _csp(api) == {"default-src": "'none'", "frame-ancestors": "'none'"}
    assert api.headers["cache-control"] == "no-store"
    docs = client.get("/docs")
    assert _csp(docs)["frame-ancestors"] == "'none'"


def test_hsts_only_behind_https(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path, secure_cookies=True)) as c:
        for url in ("/login", "/api/me", "/static/css/app.css"):
            assert c.get(url).headers["strict-transport-security"] == "max-age=31536000", url


def test_a_bearer_token_in_the_cookie_does_not_skip_csrf(client: TestClient) -> None:
    token = client.post("/api/auth/token", json={"username": "doc", "password": PASSWORD}).json()["access_token"]
    before = _patients(client)
    # the token is valid as a bearer header
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # as a cookie it is refused everywhere, so a cross-site form cannot ride it without a CSRF token
    client.cookies.set("attunexr_session", token)
    assert client.get("/api/me").status_code == 401
    assert client.post("/api/patients", json={"identifying": {"name": "forged"}}).status_code == 401
    assert client.post("/patients", data={"name": "forged"}).status_code in (401, 303)
    assert _patients(client) == before
    client.cookies.clear()
    # and a cookie login is not accepted as a bearer token (it would then skip its own CSRF check)
    assert client.post("/login", data={"username": "doc", "password": PASSWORD}).status_code == 303
    cookie = client.cookies["attunexr_session"]
    client.cookies.clear()
    r = client.post("/api/patients", json={"identifying": {}}, headers={"Authorization": f"Bearer {cookie}"})
    assert r.status_code == 401
    assert _patients(client) == before


def _patients(client: TestClient) -> int:
    from attunexr.store import Patient

    with client.app.state.services.db.begin() as db:  # type: ignore[attr-defined]
        return len(db.execute(select(Patient)).scalars().all())
