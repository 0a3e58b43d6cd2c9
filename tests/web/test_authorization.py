"""Authorization over every route of the app × role × other clinic: nothing of clinic A leaks to clinic B, to the
wrong role or to anonymous callers; cookie logins need the CSRF token; every access lands in the audit log.

Routes are enumerated from ``app.routes`` so that a route added later is covered automatically (a new route with a
body needs an entry in ``BODIES`` for the owner's positive control)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from attunexr.store import (
    AuditEntry,
    Clinic,
    Consent,
    LoginSession,
    TherapySession,
    User,
    hash_password,
    verify_audit_chain,
)

from .conftest import LiveServer

SECRET_NAME = "Zebulon Secretname"
PASSWORD = "correct horse battery"
PUBLIC = {"/login", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/api/auth/token"}
BODIES: dict[str, Any] = {
    "/api/clinics": {"name": "Clinic C"},
    "/api/users": {"username": "newuser", "password": "long-enough-pw", "role": "researcher", "clinic_id": 1},
    "/api/patients": {"identifying": {"name": "New Person"}},
    "/api/patients/{patient_id}/consents": {"scope": "research", "granted": True},
    "/api/patients/{patient_id}/sessions": {"scenario": "spiders", "source": "replay:stress-predict:S03"},
    "/api/sessions/{session_id}/level": {"level": 0},
    "/api/sessions/{session_id}/bounds": {"max_level": 6},
    "/api/sessions/{session_id}/notes": {"text": "note"},
    "/api/sessions/{session_id}/suds": {"value": 10},
    "/api/sessions/{session_id}/ssq": {"when": "pre", "items": [0] * 16},
    "/api/sessions/{session_id}/proposals/{proposal_id}/reject": {"reason": "test"},
}
FORMS: dict[str, dict[str, str]] = {
    "/patients": {"name": "Form Person"},
    "/patients/{patient_id}/consent": {"scope": "research", "granted": "yes"},
    "/patients/{patient_id}/plan": {"scenario": "heights"},
    "/account/password": {"old_password": PASSWORD, "new_password": "a new long passphrase",
                          "new_password_again": "a new long passphrase"},
}
# routes that end or change the caller's own login or password: the route sweep below checks them anonymously only
# (a signed-in sweep would sign its caller out); test_account_routes_by_role checks each for every role
SELF_ENDING = {
    "/logout", "/api/auth/logout", "/api/me/logins/{login_id}/revoke", "/api/me/logins/revoke-others",
    "/api/me/password", "/account/logins/{login_id}/revoke", "/account/logins/revoke-others", "/account/password",
}
# admin routes that change another account; the sweep checks non-admins, test_account_routes_by_role the admin
ACCOUNT_ADMIN = {
    "/api/users/{user_id}/deactivate", "/api/users/{user_id}/activate", "/api/users/{user_id}/revoke-logins",
    "/admin/users/{user_id}/deactivate", "/admin/users/{user_id}/activate", "/admin/users/{user_id}/revoke-logins",
}


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> dict[str, Any]:
    services = live_server.services
    with services.db.begin() as db:
        a, b = Clinic(name="Clinic A"), Clinic(name="Clinic B")
        db.add_all([a, b])
        db.commit()
        users = {
            "clinician_a": User(username="clinician_a", role="clinician", clinic_id=a.id),
            "researcher_a": User(username="researcher_a", role="researcher", clinic_id=a.id),
            "clinician_b": User(username="clinician_b", role="clinician", clinic_id=b.id),
            "researcher_b": User(username="researcher_b", role="researcher", clinic_id=b.id),
            "admin": User(username="admin", role="admin", clinic_id=None),
        }
        pw = hash_password(PASSWORD)
        for u in users.values():
            u.password_hash = pw
        db.add_all(users.values())
        db.commit()
        patient = services.create_patient(db, a.id, users["clinician_a"].id, {"name": SECRET_NAME})
        db.add(Consent(patient_id=patient.id, scope="treatment", granted=True, recorded_by=users["clinician_a"].id))
        db.commit()
        pseudonym, pid, clinic_a, uid_a = patient.pseudonym, patient.id, a.id, users["clinician_a"].id
    tokens = {name: live_server.token(name, PASSWORD) for name in users}
    with live_server.client(tokens["clinician_a"]) as c:
        r = c.post(f"/api/patients/{pid}/sessions", json={"scenario": "heights", "source": "replay:stress-predict:S02",
                                                          "controller": {"mode": "propose"}})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
    return {"pid": pid, "sid": sid, "pseudonym": pseudonym, "tokens": tokens, "clinic_a": clinic_a,
            "uid_a": uid_a}


def _flat_routes(app: Any) -> list[Any]:
    """Every route of the app, including those of included routers (FastAPI wraps them since 0.16x)."""
    out: list[Any] = []
    for r in app.routes:
        if hasattr(r, "effective_route_contexts"):
            out.extend(getattr(c, "starlette_route", None) or c for c in r.effective_route_contexts())
        else:
            out.append(r)
    return out


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route; websocket routes are covered in their own test."""
    out = []
    for r in _flat_routes(app):
        methods = getattr(r, "methods", None)
        if methods and r.path:
            out += [(m, r.path) for m in sorted(methods) if m != "HEAD"]
    return out


def test_route_enumeration_sees_websockets(live_server: LiveServer) -> None:
    paths = {r.path for r in _flat_routes(live_server.app)}
    assert {"/ws/sessions/{session_id}", "/ws/vr/{session_id}"} <= paths


def _fill(path: str, w: dict[str, Any]) -> str:
    return (path.replace("{patient_id}", str(w["pid"])).replace("{session_id}", str(w["sid"]))
            .replace("{proposal_id}", "d000001").replace("{name}", "stress")
            .replace("{user_id}", str(w["uid_a"])).replace("{login_id}", "1"))


def _request(c: httpx.Client, method: str, path: str, w: dict[str, Any], csrf: str | None = None) -> httpx.Response:
    url = _fill(path, w)
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if path in FORMS:
        data = dict(FORMS[path])
        if csrf:
            data["csrf_token"] = csrf
        return c.request(method, url, data=data, headers=headers)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        return c.request(method, url, json=BODIES.get(path, {}), headers=headers)
    return c.request(method, url, headers=headers)


def _leaks(resp: httpx.Response, w: dict[str, Any]) -> list[str]:
    body = resp.content.decode("utf-8", "replace")
    found = [s for s in (w["pseudonym"], SECRET_NAME) if s in body]
    return found


@pytest.mark.parametrize("caller", ["anonymous", "clinician_b", "researcher_b", "admin"])
def test_no_route_leaks_clinic_a(live_server: LiveServer, world: dict[str, Any], caller: str) -> None:
    token = None if caller == "anonymous" else world["tokens"][caller]
    routes = _routes(live_server.app)
    assert len(routes) >= 30, "route enumeration broke"
    checked = 0
    with live_server.client(token) as c:
        for method, path in routes:
            if path in PUBLIC or path.startswith("/static"):
                continue
            if caller == "admin" and path in ("/api/clinics", "/api/users") and method == "POST":
                continue  # admins manage these; they hold no patient data (checked in the admin test)
            if caller != "anonymous" and (path in SELF_ENDING or (caller == "admin" and path in ACCOUNT_ADMIN)):
                continue  # checked role by role in test_account_routes_by_role
            resp = _request(c, method, path, world)
            leaks = _leaks(resp, world)
            assert not leaks, f"{caller} {method} {path} leaked {leaks} (status {resp.status_code})"
            touches_a = "{patient_id}" in path or "{session_id}" in path
            if touches_a or caller == "anonymous":
                assert resp.status_code in (401, 403, 404) or (resp.status_code == 303 and
                                                                resp.headers["location"] == "/login"), \
                    f"{caller} {method} {path} answered {resp.status_code}: {resp.text[:200]}"
            if path.startswith(("/api/clinics", "/api/users", "/api/audit", "/admin")) and caller != "admin":
                assert resp.status_code in (401, 403) or (resp.status_code == 303 and caller == "anonymous"
                                                          and resp.headers["location"] == "/login"), \
                    f"{caller} reached admin route {method} {path}: {resp.status_code}"
            checked += 1
    assert checked >= 25
    # clinic A's session is untouched: still running, nobody from B wrote into it
    with live_server.services.db.begin() as db:
        ts = db.get(TherapySession, world["sid"])
        assert ts is not None and ts.status == "running"
        n_consents = db.execute(select(func.count()).select_from(Consent)
                                .where(Consent.patient_id == world["pid"])).scalar_one()
        assert n_consents == 1
    runner = live_server.services.live.get(world["sid"])
    assert runner is not None and runner.state == "running" and not runner.notes


def test_owner_positive_control(live_server: LiveServer, world: dict[str, Any]) -> None:
    """The same requests succeed for clinic A's clinician, so the refusals above come from authorization."""
    with live_server.client(world["tokens"]["clinician_a"]) as c:
        ok = 0
        for method, path in _routes(live_server.app):
            if path in PUBLIC or path.startswith(("/api/clinics", "/api/users", "/api/audit", "/static", "/admin",
                                                  "/api/trials", "/trials")):
                continue  # trial routes: every role is tried in tests/web/test_trials_web.py
            if path in SELF_ENDING:
                continue  # ends the owner's login; checked in test_account_routes_by_role
            if path.endswith(("/stop", "/pause", "/approve", "/reject", "/logout")) or path == "/models/{name}":
                continue  # state-ending or data-dependent; exercised in the browser test
            if path == "/vr/{session_id}":
                continue  # needs the session's VR token, not a login (checked below)
            resp = _request(c, method, path, world)
            assert resp.status_code < 400 or resp.status_code == 409, f"owner {method} {path}: {resp.status_code} {resp.text[:300]}"
            ok += 1
        assert ok >= 20
        patient = c.get(f"/api/patients/{world['pid']}").json()
        assert patient["identifying"] == {"name": SECRET_NAME}
    with live_server.services.db.begin() as db:
        vr_token = db.get(TherapySession, world["sid"]).vr_token
    with live_server.client() as anon:
        assert anon.get(f"/vr/{world['sid']}?token={vr_token}").status_code == 200
        page = anon.get(f"/vr/{world['sid']}?token={vr_token}").text
        assert world["pseudonym"] not in page and SECRET_NAME not in page


def test_researcher_sees_pseudonymized_data_only(live_server: LiveServer, world: dict[str, Any]) -> None:
    with live_server.client(world["tokens"]["researcher_a"]) as c:
        p = c.get(f"/api/patients/{world['pid']}")
        assert p.status_code == 200 and p.json()["pseudonym"] == world["pseudonym"]
        assert p.json()["identifying"] is None and SECRET_NAME not in p.text
        page = c.get(f"/patients/{world['pid']}")
        assert page.status_code == 200 and SECRET_NAME not in page.text
        assert c.get(f"/api/sessions/{world['sid']}/events").status_code == 200
        for action in ("pause", "stop", "prompt_suds"):
            assert c.post(f"/api/sessions/{world['sid']}/{action}").status_code == 403
        assert c.post("/api/patients", json={"identifying": {}}).status_code == 403


def test_admin_manages_accounts_but_not_patients(live_server: LiveServer, world: dict[str, Any]) -> None:
    with live_server.client(world["tokens"]["admin"]) as c:
        r = c.post("/api/clinics", json={"name": "Clinic Z"})
        assert r.status_code == 201
        r = c.post("/api/users", json={"username": "clin_z", "password": "long-enough-pw", "role": "clinician",
                                       "clinic_id": r.json()["id"]})
        assert r.status_code == 201
        assert c.get("/api/patients").status_code == 403
        assert c.get("/api/audit/verify").json()["verified"] is True
        audit = c.get("/api/audit").text
        assert world["pseudonym"] not in audit and SECRET_NAME not in audit


def test_cookie_login_needs_csrf_token(live_server: LiveServer, world: dict[str, Any]) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        r = c.post("/login", data={"username": "clinician_a", "password": PASSWORD})
        assert r.status_code == 303 and "attunexr_session" in r.cookies
        page = c.get(f"/sessions/{world['sid']}")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf is not None
        url = f"/api/sessions/{world['sid']}/notes"
        assert c.post(url, json={"text": "no token"}).status_code == 403
        assert c.post(url, json={"text": "wrong"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert c.post(url, json={"text": "with token"}, headers={"X-CSRF-Token": csrf.group(1)}).status_code == 201
        assert c.post("/login", data={"username": "clinician_a", "password": "wrong"}).status_code == 200
    runner = live_server.services.live.get(world["sid"])
    texts = [n["text"] for n in runner.notes] if runner is not None else []
    assert "with token" in texts and "no token" not in texts and "wrong" not in texts


def test_websockets_refuse_other_clinics(live_server: LiveServer, world: dict[str, Any]) -> None:
    ws_url = live_server.url.replace("http", "ws")
    for caller in ("clinician_b", "researcher_b", "admin"):
        with pytest.raises(InvalidStatus) as info, connect(
                f"{ws_url}/ws/sessions/{world['sid']}",
                additional_headers={"Authorization": f"Bearer {world['tokens'][caller]}"}) as ws:
            ws.recv(timeout=5)
        assert info.value.response.status_code == 403
    with connect(f"{ws_url}/ws/vr/{world['sid']}") as ws:  # the VR endpoint needs the session's token in hello
        ws.send(json.dumps({"v": 1, "type": "hello", "token": "guess", "t_now": 0.0}))
        reply = json.loads(ws.recv(timeout=5))
        assert reply["type"] == "error" and reply["code"] == "unauthorized"
        ws.send(json.dumps({"v": 1, "type": "event", "t": 0.0, "label": "suds", "value": 99}))
        assert json.loads(ws.recv(timeout=5))["code"] == "not_authenticated"
    # the owner gets the live snapshot
    with connect(f"{ws_url}/ws/sessions/{world['sid']}",
                 additional_headers={"Authorization": f"Bearer {world['tokens']['clinician_a']}"}) as ws:
        snap = json.loads(ws.recv(timeout=10))
        assert snap["type"] == "snapshot" and snap["session"] == world["sid"]


def test_a_dashboard_feed_ends_with_its_login(live_server: LiveServer, world: dict[str, Any]) -> None:
    """A feed opened before sign-out stops within the re-check interval (it used to keep streaming live data)."""
    from websockets.exceptions import ConnectionClosed

    from attunexr.web._ws import LOGIN_RECHECK_S

    token = live_server.token("clinician_a", PASSWORD)  # a login of its own, so the world's token stays valid
    ws_url = live_server.url.replace("http", "ws")
    with connect(f"{ws_url}/ws/sessions/{world['sid']}",
                 additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        with live_server.client(token) as c:
            assert c.post("/api/auth/logout").status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # updates may still arrive until the next check
                ws.recv(timeout=LOGIN_RECHECK_S * 4)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # the world's own login still watches
    with connect(f"{ws_url}/ws/sessions/{world['sid']}",
                 additional_headers={"Authorization": f"Bearer {world['tokens']['clinician_a']}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"


def test_every_access_is_audited_and_chain_verifies(live_server: LiveServer, world: dict[str, Any]) -> None:
    with live_server.services.db.begin() as db:
        n = verify_audit_chain(db)
        assert n > 50
        denied = db.execute(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action.like("denied:%"))).scalar_one()
        reads = db.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "read", AuditEntry.resource == "patient",
                                  AuditEntry.resource_id == str(world["pid"]))).scalar_one()
        assert denied > 20 and reads >= 1


def test_model_cards_are_served_to_signed_in_users(live_server: LiveServer, world: dict[str, Any]) -> None:
    from attunexr.models import list_models

    name = list_models()[0]
    with live_server.client(world["tokens"]["researcher_a"]) as c:
        r = c.get(f"/models/{name}")
        assert r.status_code == 200 and name in r.text
        assert c.get("/models/no-such-model").status_code == 404
    with live_server.client() as anon:
        assert anon.get(f"/models/{name}").status_code in (303, 401)


ROLE_USERS = {"clinician": "acct_clinician", "researcher": "acct_researcher", "admin": "acct_admin"}
ADMIN_ONLY_API = {"/api/users/{user_id}/logins"}
_HASH: list[str] = []


def _pw_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


@pytest.fixture(scope="module")
def account_users(live_server: LiveServer, world: dict[str, Any]) -> None:
    """One user per role for the account routes (they change passwords and end logins, so not the world's)."""
    with live_server.services.db.begin() as db:
        db.add_all(User(username=name, role=role, clinic_id=None if role == "admin" else world["clinic_a"],
                        password_hash=_pw_hash()) for role, name in ROLE_USERS.items())
        db.commit()


def _fresh_token(live_server: LiveServer, username: str) -> tuple[str, int]:
    """A new bearer login of ``username`` and its login id (the route under test may end it); made in the database
    as ``POST /api/auth/token`` makes it (only the token's SHA-256 is stored), to spare an Argon2 check per route."""
    token = secrets.token_urlsafe(32)
    with live_server.services.db.begin() as db:
        user = db.execute(select(User).where(User.username == username)).scalar_one()
        row = LoginSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), csrf_token="unused",
                           kind="bearer", user_id=user.id, expires_at=datetime.now(UTC) + timedelta(hours=1))
        db.add(row)
        db.commit()
        login_id = row.id
    with live_server.client(token) as c:
        current = [lg for lg in c.get("/api/me/logins").json() if lg["current"]]
    assert [lg["id"] for lg in current] == [login_id]
    return token, login_id


def _target_user(live_server: LiveServer) -> tuple[int, str]:
    """A throwaway account for the admin routes to act on."""
    with live_server.services.db.begin() as db:
        existing = db.execute(select(User).where(User.username.like("target_%"))).scalars().all()
        name = f"target_{len(existing)}"
        u = User(username=name, role="researcher", clinic_id=1, password_hash=_pw_hash())
        db.add(u)
        db.commit()
        return u.id, name


@pytest.mark.parametrize("role", ["anonymous", "clinician", "researcher", "admin"])
def test_account_routes_by_role(live_server: LiveServer, world: dict[str, Any], account_users: None,
                                role: str) -> None:
    """Every account route (own logins, password, sign-out; admin: other users' logins and activation) as every
    role: a signed-in user manages only their own logins, only an admin manages other accounts, and anonymous
    callers reach none of them."""
    routes = [(m, p) for m, p in _routes(live_server.app) if p in SELF_ENDING or p in ACCOUNT_ADMIN
              or p in ADMIN_ONLY_API or p in ("/api/me/logins", "/account", "/admin/users")]
    assert len(routes) >= 17, routes
    for method, path in routes:
        target_id, target_name = _target_user(live_server)
        target_token, _ = _fresh_token(live_server, target_name)
        if role == "anonymous":
            token, login_id = None, 1
        else:
            token, login_id = _fresh_token(live_server, ROLE_USERS[role])
        url = (path.replace("{user_id}", str(target_id)).replace("{login_id}", str(login_id)))
        with live_server.client(token) as c:
            if path in FORMS or (path.startswith(("/account", "/admin", "/logout")) and method == "POST"):
                resp = c.request(method, url, data=FORMS.get(path, {}))
            elif method == "POST":
                body = ({"old_password": PASSWORD, "new_password": "another long passphrase"}
                        if path == "/api/me/password" else {})
                resp = c.request(method, url, json=body)
            else:
                resp = c.request(method, url)
        code, where = resp.status_code, f"{role} {method} {path}: {resp.status_code} {resp.text[:200]}"
        admin_only = path in ACCOUNT_ADMIN or path in ADMIN_ONLY_API or path == "/admin/users"
        if role == "anonymous":
            assert code == 401 or (code == 303 and resp.headers["location"] == "/login"), where
        elif admin_only and role != "admin":
            assert code == 403, where
        else:
            assert code in (200, 204, 303), where
        with live_server.client(target_token) as t:
            target_alive = t.get("/api/me").status_code == 200
        if role == "admin" and path.endswith(("/deactivate", "/revoke-logins")):
            assert not target_alive, f"{where}: the target's login survived"
        else:
            assert target_alive, f"{where}: touched another user's login"
        if path in ("/account/password", "/api/me/password") and role != "anonymous":
            with live_server.services.db.begin() as db:  # put the password back for the next routes
                u = db.execute(select(User).where(User.username == ROLE_USERS[role])).scalar_one()
                u.password_hash = _pw_hash()
                db.commit()
    # the world's tokens were not touched by any of this
    with live_server.client(world["tokens"]["clinician_a"]) as c:
        assert c.get("/api/me").status_code == 200


def test_a_user_cannot_end_another_users_login(live_server: LiveServer, world: dict[str, Any]) -> None:
    victim, victim_login = _fresh_token(live_server, "clinician_a")
    for caller in ("clinician_b", "researcher_a", "admin"):
        token, _ = _fresh_token(live_server, caller)
        with live_server.client(token) as c:
            assert c.post(f"/api/me/logins/{victim_login}/revoke").status_code == 404
            assert c.post("/api/me/logins/revoke-others").json()["revoked"] >= 0
    with live_server.client(victim) as c:
        assert c.get("/api/me").status_code == 200


def test_cookie_login_needs_csrf_token_on_account_forms(live_server: LiveServer, world: dict[str, Any]) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        assert c.post("/login", data={"username": "researcher_a", "password": PASSWORD}).status_code == 303
        page = c.get("/account")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf is not None
        for path in ("/account/logins/revoke-others", "/logout", "/api/auth/logout", "/api/me/logins/revoke-others"):
            assert c.post(path).status_code == 403, path
            assert c.post(path, data={"csrf_token": "forged"}).status_code == 403, path
        assert c.get("/api/me").status_code == 200  # nothing above ended the login
        assert c.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
