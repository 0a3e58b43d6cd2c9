"""The REST API keeps its own OpenAPI schema: schemathesis generates requests for every operation from the schema
(valid ones, and invalid ones that must be refused with a 4xx), sends them to the app authenticated as a clinician
of the clinic that owns the data, and checks every answer: no 5xx, a documented status code and content type, and a
body that matches the declared response schema. Derandomized with a bounded number of examples per operation, so
the run is the same every time.

The app runs in uvicorn on a loopback port (the test server of conftest.py) rather than behind an in-process ASGI
client: a live session runs on the server's event loop, and an in-process client with its own loop cannot stop it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from attunexr.store import Clinic, Consent, LoginSession, User, hash_password

from .conftest import LiveServer, start_server, stop_server

PASSWORD = "saffron lighthouse kettle"
POSITIVE_EXAMPLES = 20
NEGATIVE_EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _login(app: Any) -> dict[str, str]:
    """A fresh bearer login of the clinician, made in the database as ``POST /api/auth/token`` makes it (only the
    token's SHA-256 is stored): every case gets its own, since some operations end the login they came with."""
    token = secrets.token_urlsafe(32)
    with app.state.services.db.begin() as db:
        user = db.execute(select(User).where(User.username == "fuzz_clinician")).scalar_one()
        db.add(LoginSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), csrf_token="unused",
                            kind="bearer", user_id=user.id, expires_at=datetime.now(UTC) + timedelta(hours=1)))
        db.commit()
    return {"Authorization": f"Bearer {token}"}


def _fuzz(app: Any, base_url: str, op: Any, mode: Any, n: int, cases: Counter[str], statuses: Counter[int],
          failures: dict[str, str]) -> None:
    """Send ``n`` derandomized cases of one operation; record the first failure of each operation and go on."""
    label = f"{op.method.upper()} {op.path}"

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        auth = _login(app)
        response = case.call(base_url=base_url, headers=auth)
        statuses[response.status_code] += 1
        cases[label] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - collected, reported together at the end
            failures.setdefault(f"{label} ({mode.value})", f"{response.status_code}: {str(err)[:600]}")

    try:
        run()
    except Unsatisfiable:
        if mode != GenerationMode.NEGATIVE:
            raise  # an operation without parameters or body has no invalid input to send


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("fuzz"), None, speed=50.0)
    services = live.services
    with services.db.begin() as db:
        clinic = Clinic(name="Fuzz clinic")
        db.add(clinic)
        db.commit()
        user = User(username="fuzz_clinician", role="clinician", clinic_id=clinic.id,
                    password_hash=hash_password(PASSWORD))
        db.add(user)
        db.commit()
        patient = services.create_patient(db, clinic.id, user.id, {"name": "Fuzz Person"})
        db.add(Consent(patient_id=patient.id, scope="treatment", granted=True, recorded_by=user.id))
        db.commit()
    yield live
    stop_server(live)


def test_api_keeps_its_schema_for_a_clinician(fuzz_server: LiveServer) -> None:
    app = fuzz_server.app
    with fuzz_server.client(fuzz_server.token("fuzz_clinician", PASSWORD)) as client:
        # a running session, so that the live routes have something to act on
        sid = client.post("/api/patients/1/sessions", json={"scenario": "heights"}).json()["id"]
        assert client.post(f"/api/sessions/{sid}/start").status_code == 200

    schema = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}
    for op in operations:
        for mode, n in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):
            _fuzz(app, fuzz_server.url, op, mode, n, cases, statuses, failures)

    total = sum(cases.values())
    print(f"\nAPI fuzz: {len(operations)} operations, {total} cases; status codes {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    assert len(operations) >= 36
    assert len(cases) == len(operations)  # every operation was exercised
    assert total >= 15 * len(operations)
    assert not any(code >= 500 for code in statuses)


def test_the_defects_the_fuzzer_found_stay_fixed(fuzz_server: LiveServer) -> None:
    """Huge ids, odd proposal ids, dates without a zone, string 422 bodies: each answered wrongly before."""
    # a login made directly: the fuzz run above may have throttled the clinician's sign-in (wrong old passwords)
    with fuzz_server.client() as c:
        c.headers.update(_login(fuzz_server.app))
        huge = "9" * 33
        r = c.post(f"/api/patients/{huge}/consents", json={"scope": "research", "granted": True})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "patient_id"]
        assert c.get(f"/api/sessions/{huge}").status_code == 422
        assert c.get("/api/sessions/1/events", params={"after_id": huge}).status_code == 422
        sid = c.post("/api/patients/1/sessions", json={"scenario": "spiders"}).json()["id"]
        c.post(f"/api/sessions/{sid}/start")
        for odd in ("%00", "a" * 300, "..", "%C3%A9", "x%0Ay"):
            r = c.post(f"/api/sessions/{sid}/proposals/{odd}/approve")
            assert r.status_code in (404, 409, 422), (odd, r.status_code, r.text)
        assert c.post(f"/api/sessions/{sid}/proposals/d999999/approve").status_code in (400, 404, 409)
        c.post(f"/api/sessions/{sid}/stop")
        for row in (c.get("/api/patients/1").json(), c.get(f"/api/sessions/{sid}").json()):
            assert row["created_at"].endswith(("Z", "+00:00")), row["created_at"]
        # a 422 raised by the app itself has the same shape as FastAPI's own validation errors
        r = c.post("/api/patients/1/sessions", json={"scenario": "heights", "levels": [{"no_name": 1}]})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)
        assert r.json()["detail"][0]["msg"] == "every level of a custom hierarchy needs a 'name'"
