"""Trials over HTTP: conduct end to end, every trial route as every role, allocation concealment through every
route (API, pages, database rows, audit log, logs, exports) and a blinded assessor who never sees an arm."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from attunexr.store import (
    AuditEntry,
    Clinic,
    Consent,
    TrialAllocationSlot,
    TrialParticipant,
    TrialVisit,
    User,
    hash_password,
    verify_audit_chain,
)
from attunexr.trials import SealedSlot, default_protocol, reveal_slot

from .conftest import LiveServer, start_server, stop_server

PASSWORD = "correct horse battery"
ROLES = ("coordinator_a", "assessor_a", "researcher_a", "clinician_a", "admin", "coordinator_b", "anonymous")
ARM_WORDS = [w for a in default_protocol().arms for w in (a.id, a.name)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("trials-web"), None, speed=10.0)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def world(server: LiveServer) -> dict[str, Any]:
    services = server.services
    with services.db.begin() as db:
        a, b = Clinic(name="Trial clinic A"), Clinic(name="Trial clinic B")
        db.add_all([a, b])
        db.commit()
        roles = {"coordinator_a": ("coordinator", a.id), "assessor_a": ("assessor", a.id),
                 "researcher_a": ("researcher", a.id), "clinician_a": ("clinician", a.id), "admin": ("admin", None),
                 "coordinator_b": ("coordinator", b.id)}
        pw = hash_password(PASSWORD)
        users = {n: User(username=n, role=r, clinic_id=c, password_hash=pw) for n, (r, c) in roles.items()}
        db.add_all(users.values())
        db.commit()
        patients = [services.create_patient(db, a.id, users["clinician_a"].id, {"name": f"Person {i}"})
                    for i in range(4)]
        for p in patients:
            db.add(Consent(patient_id=p.id, scope="research", granted=True, recorded_by=users["clinician_a"].id))
        db.commit()
        pids = [p.id for p in patients]
    tokens = {n: server.token(n, PASSWORD) for n in roles}
    return {"tokens": tokens, "pids": pids}


def _client(server: LiveServer, world: dict[str, Any], who: str) -> httpx.Client:
    return server.client(None if who == "anonymous" else world["tokens"][who])


@pytest.fixture(scope="module")
def trial(server: LiveServer, world: dict[str, Any]) -> dict[str, Any]:
    """A registered trial with two randomized participants, one enrolled only, and outcomes."""
    with _client(server, world, "coordinator_a") as c:
        r = c.post("/api/trials", json={})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        prot = c.get(f"/api/trials/{sid}").json()["protocol"]
        prot["target_sample_size"] = 60
        assert c.put(f"/api/trials/{sid}/protocol", json={"protocol": prot}).status_code == 200
        r = c.post(f"/api/trials/{sid}/register", json={"seed": 20261206})
        assert r.status_code == 200 and r.json()["status"] == "registered"
        parts = []
        for i, pid in enumerate(world["pids"][:3]):
            r = c.post(f"/api/trials/{sid}/participants", json={
                "patient_id": pid, "site": "site_1", "strata": {"severity": "severe"}, "study_consent": True,
                "treatment_consent": i != 1, "characteristics": {"age": 30 + i, "sex": "female"}})
            assert r.status_code == 201, r.text
            parts.append(r.json()["id"])
        arms = {}
        for part in parts[:2]:
            r = c.post(f"/api/trials/{sid}/participants/{part}/randomize")
            assert r.status_code == 200, r.text
            arms[part] = r.json()["arm"]
            c.post(f"/api/trials/{sid}/participants/{part}/visits",
                   json={"visit": "baseline", "day": 0, "scores": {"aq_anxiety": 80}})
    return {"sid": sid, "parts": parts, "arms": arms}


def test_locked_protocol_refuses_edits_and_amendments_are_versions(server: LiveServer, world: dict[str, Any],
                                                                   trial: dict[str, Any]) -> None:
    sid = trial["sid"]
    with _client(server, world, "coordinator_a") as c:
        prot = c.get(f"/api/trials/{sid}").json()["protocol"]
        prot["target_sample_size"] = 999
        r = c.put(f"/api/trials/{sid}/protocol", json={"protocol": prot})
        assert r.status_code == 409 and "locked" in r.json()["detail"] and "amendment" in r.json()["detail"]
        assert c.get(f"/api/trials/{sid}").json()["protocol"]["target_sample_size"] == 60
        bad = dict(prot, version=2, arms=prot["arms"][:2], analysis=prot["analysis"])
        r = c.post(f"/api/trials/{sid}/amendments", json={"protocol": bad, "note": "drop usual care"})
        assert r.status_code == 400 and "arms" in r.json()["detail"]
        amended = dict(prot, version=2)
        r = c.post(f"/api/trials/{sid}/amendments", json={"protocol": amended, "note": "larger sample"})
        assert r.status_code == 201 and r.json()["version"] == 2 and r.json()["amendments"] == 1
    with server.services.db.begin() as db:
        acts = [e.action for e in db.execute(select(AuditEntry)).scalars()]
        assert "trial.amend" in acts and "denied:trial.edit" in acts and "trial.register" in acts
        assert verify_audit_chain(db) > 10


def test_duplicate_enrolment_out_of_range_outcome_and_window_deviation(server: LiveServer, world: dict[str, Any],
                                                                       trial: dict[str, Any]) -> None:
    sid, parts = trial["sid"], trial["parts"]
    with _client(server, world, "coordinator_a") as c:
        r = c.post(f"/api/trials/{sid}/participants", json={"patient_id": world["pids"][0], "site": "site_1",
                                                            "strata": {"severity": "severe"}, "study_consent": True})
        assert r.status_code == 400 and "already enrolled" in r.json()["detail"]
        r = c.post(f"/api/trials/{sid}/participants", json={"patient_id": world["pids"][3], "site": "site_1",
                                                            "strata": {"severity": "severe"},
                                                            "study_consent": False, "treatment_consent": True})
        assert r.status_code == 400 and "study consent" in r.json()["detail"]
        assert c.post(f"/api/trials/{sid}/participants/{parts[0]}/randomize").status_code == 400
    with _client(server, world, "assessor_a") as c:
        with server.services.db.begin() as db:
            before = len(db.execute(select(TrialVisit)).all())
        r = c.post(f"/api/trials/{sid}/participants/{parts[0]}/visits",
                   json={"visit": "post", "day": 35, "scores": {"aq_anxiety": 121}})
        assert r.status_code == 400 and "outside the instrument's range 0..120" in r.json()["detail"]
        r = c.post(f"/api/trials/{sid}/participants/{parts[0]}/visits",
                   json={"visit": "post", "day": 60, "scores": {"aq_anxiety": 50}})
        assert r.status_code == 201 and "outside day 35 +/- 7" in r.json()["deviation"]
        r = c.post(f"/api/trials/{sid}/participants/{parts[1]}/visits",
                   json={"visit": "post", "day": 36, "scores": {"aq_anxiety": 70},
                         "items": {"phq9": [1, 1, 0, 0, 1, 0, 0, 0, 1]}})
        assert r.status_code == 201 and r.json()["deviation"] == ""
        assert r.json()["safety_alerts"] and "item 9" in r.json()["safety_alerts"][0]
        r = c.post(f"/api/trials/{sid}/outcomes.csv", content="participant,visit,day,instrument,score\n"
                   "NOPE-1,fu_1m,65,aq_anxiety,40\n")
        assert r.status_code == 400 and "unknown participant" in r.json()["detail"]
        with server.services.db.begin() as db:
            after = len(db.execute(select(TrialVisit)).all())
            alerts = [e for e in db.execute(select(AuditEntry).where(AuditEntry.action == "safety.alert")).scalars()]
        assert after == before + 2 and len(alerts) == 1 and alerts[0].detail["notify_user_id"] is not None


def _trial_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        ctxs = r.effective_route_contexts() if hasattr(r, "effective_route_contexts") else [r]
        for ctx in ctxs:
            route = getattr(ctx, "starlette_route", None) or ctx
            path = getattr(route, "path", "")
            if path.startswith(("/api/trials", "/trials")):
                out += [(m, path) for m in sorted(getattr(route, "methods", None) or []) if m != "HEAD"]
    return out


def _call(c: httpx.Client, method: str, path: str, trial: dict[str, Any], who: str) -> httpx.Response:
    part = trial["parts"][2]  # enrolled, not randomized: nobody's request may randomize it except the sweep's own
    url = path.replace("{study_id}", str(trial["sid"])).replace("{participant_id}", str(part))
    if method == "GET":
        return c.get(url)
    if url.endswith("/randomize"):
        return c.post(url)
    return c.request(method, url, json={})


def test_every_trial_route_as_every_role(server: LiveServer, world: dict[str, Any], trial: dict[str, Any],
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    routes = _trial_routes(server.app)
    assert len(routes) >= 20
    with server.services.db.begin() as db:
        revealed_before = {s.id for s in db.execute(select(TrialAllocationSlot).where(
            TrialAllocationSlot.participant_id.is_not(None))).scalars()}
        sealed = [s for s in db.execute(select(TrialAllocationSlot)).scalars() if s.participant_id is None]
    markers = set()
    for s in sealed[:50]:
        markers |= {s.ciphertext.hex()[:24], base64.b64encode(s.ciphertext).decode()[:24]}
    bodies: dict[str, list[str]] = {}
    for who in ROLES:
        with _client(server, world, who) as c:
            for method, path in routes:
                if who == "coordinator_a" and path.endswith("/randomize"):
                    continue  # would reveal an allocation legitimately; covered by the fixture
                r = _call(c, method, path, trial, who)
                text = r.content.decode("utf-8", "replace")
                bodies.setdefault(who, []).append(text)
                assert not any(m in text for m in markers), f"{who} {method} {path} shows a sealed slot"
                assert r.status_code < 500, f"{who} {method} {path}: {r.status_code} {text[:200]}"
                if who in ("anonymous",):
                    assert r.status_code in (401, 403, 303), (who, method, path, r.status_code)
                if who == "coordinator_b" and path in ("/api/trials", "/trials"):  # its own clinic's trials
                    sid = trial["sid"]
                    assert f'"id":{sid},' not in text and f'/trials/{sid}"' not in text, "clinic B sees clinic A"
                elif who in ("admin", "clinician_a", "coordinator_b"):
                    assert r.status_code in (401, 403, 404, 303, 422), (who, method, path, r.status_code, text[:200])
                if who == "assessor_a":
                    for w in ARM_WORDS:
                        assert w not in text, f"assessor saw arm {w!r} in {method} {path}"
                if path.endswith("/randomize"):
                    assert r.status_code in (401, 403, 404, 303), (who, path, r.status_code)
                if who in ("assessor_a", "coordinator_a") and method == "GET" and path in (
                        "/api/trials/{study_id}", "/api/trials/{study_id}/participants", "/trials/{study_id}",
                        "/api/trials/{study_id}/visits-due", "/trials"):
                    assert r.status_code == 200, (who, path, r.status_code)  # the checks above saw real content
                if who == "coordinator_a" and method == "GET":
                    assert r.status_code == 200, (who, path, r.status_code, text[:200])
    # nothing was revealed by anybody's reading
    with server.services.db.begin() as db:
        revealed_after = {s.id for s in db.execute(select(TrialAllocationSlot).where(
            TrialAllocationSlot.participant_id.is_not(None))).scalars()}
        assert revealed_after == revealed_before
        # database rows: sealed slots and participants hold no plaintext arm
        for s in db.execute(select(TrialAllocationSlot)).scalars():
            assert not any(a.id.encode() in s.ciphertext for a in default_protocol().arms)
        for p in db.execute(select(TrialParticipant)).scalars():
            assert p.arm_enc is None or not any(a.id.encode() in p.arm_enc for a in default_protocol().arms)
            assert not any(a.id in str(p.characteristics) + str(p.strata) for a in default_protocol().arms)
        # audit log: reveals are audited with the slot index, never with an arm
        audit = [e for e in db.execute(select(AuditEntry)).scalars()]
        reveals = [e for e in audit if e.action == "trial.randomize"]
        assert len(reveals) == 2 and all("slot" in e.detail for e in reveals)
        assert not any(a.id in str(e.detail) for e in audit for a in default_protocol().arms)
    # logs of the whole sweep name no arm
    assert not any(a.id in rec.getMessage() for rec in caplog.records for a in default_protocol().arms)
    # exports: the dataset names arms only for the two randomized participants
    with _client(server, world, "coordinator_a") as c:
        csv_text = c.get(f"/api/trials/{trial['sid']}/dataset.csv").text
        codes = set(re.findall(r"^([A-Z_]+-\d{4}),", csv_text, flags=re.M))
        assert len(codes) == 2
        parts = c.get(f"/api/trials/{trial['sid']}/participants").json()
        assert sum(1 for x in parts if x["arm"]) == 2


def test_next_allocation_is_sealed_until_randomization(server: LiveServer, world: dict[str, Any],
                                                       trial: dict[str, Any]) -> None:
    """Only the randomize call of an enrolled participant turns the stratum's next slot into an allocation."""
    services = server.services
    key = services_key(server)
    prot = default_protocol()
    with services.db.begin() as db:
        nxt = db.execute(select(TrialAllocationSlot).where(
            TrialAllocationSlot.study_id == trial["sid"], TrialAllocationSlot.stratum == "site_1|severity=severe",
            TrialAllocationSlot.participant_id.is_(None)).order_by(TrialAllocationSlot.idx).limit(1)).scalar_one()
        expected = reveal_slot(prot, SealedSlot(nxt.stratum, nxt.idx, nxt.block, nxt.ciphertext), key)
    with _client(server, world, "coordinator_a") as c:
        r = c.post(f"/api/trials/{trial['sid']}/participants/{trial['parts'][2]}/randomize")
        assert r.status_code == 200 and r.json()["arm"] == expected


def test_csv_upload_page_is_all_or_nothing(server: LiveServer, world: dict[str, Any], trial: dict[str, Any]) -> None:
    sid = trial["sid"]
    with _client(server, world, "coordinator_a") as c:
        codes = [x["code"] for x in c.get(f"/api/trials/{sid}/participants").json()]
    rows = f"participant,visit,day,instrument,score\n{codes[0]},fu_1m,66,aq_anxiety,45\n{codes[1]},fu_1m,66,aq_anxiety,-3\n"
    with server.services.db.begin() as db:
        before = len(db.execute(select(TrialVisit)).all())
    with _client(server, world, "assessor_a") as c:
        r = c.post(f"/trials/{sid}/outcomes", files={"csv": ("o.csv", rows.encode(), "text/csv")})
        assert r.status_code == 303 and "nothing%20imported" in r.headers["location"]
        with server.services.db.begin() as db:
            assert len(db.execute(select(TrialVisit)).all()) == before
        r = c.post(f"/trials/{sid}/outcomes", files={"csv": ("o.csv", rows.replace(",-3", ",44").encode(),
                                                               "text/csv")})
        assert r.status_code == 303 and "Imported%202%20visits" in r.headers["location"]
        for w in ARM_WORDS:
            assert w not in c.get(r.headers["location"]).text


def services_key(server: LiveServer) -> bytes:
    return server.app.state.trials._key  # type: ignore[attr-defined, no-any-return]


def test_report_and_pages(server: LiveServer, world: dict[str, Any], trial: dict[str, Any]) -> None:
    with _client(server, world, "researcher_a") as c:
        rep = c.get(f"/api/trials/{trial['sid']}/report")
        assert rep.status_code == 200
        d = rep.json()
        assert d["consort"]["enrolled"] == sum(d["consort"]["allocated"].values())
        assert c.get(f"/api/trials/{trial['sid']}/flow.svg").text.lstrip().startswith("<?xml")
        page = c.get(f"/trials/{trial['sid']}/report")
        assert page.status_code == 200 and "/flow.svg" in page.text and "<script" not in page.text
    with _client(server, world, "coordinator_a") as c:
        fhir = c.get(f"/api/trials/{trial['sid']}/fhir").json()
        kinds = [e["resource"]["resourceType"] for e in fhir["entry"]]
        assert kinds[0] == "ResearchStudy" and kinds.count("ResearchSubject") >= 2
