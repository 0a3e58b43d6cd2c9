"""A session plan names a model; it never loads a file from a path the request supplies. Only the shipped registry
and the folder the operator configured (``Settings.models_dir`` / ``attunexr serve --models-dir``) are searched."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from attunexr.errors import ModelError
from attunexr.models import REGISTRY_DIR, available_models, load_named_model
from attunexr.store import Clinic, TherapySession, User, hash_password
from attunexr.web import Settings, create_app

PASSWORD = "granite orchard violin"


class _Exploit:
    """Unpickling this writes a marker file: the attack of a crafted model.joblib."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


@pytest.fixture
def evil_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``<cwd>/evil/model.joblib`` that runs code when loaded; returns the marker path it would write."""
    work = tmp_path / "cwd"
    (work / "evil").mkdir(parents=True)
    marker = tmp_path / "MARKER"
    joblib.dump(_Exploit(marker), work / "evil" / "model.joblib")
    (work / "evil" / "card.json").write_text("{}")
    monkeypatch.chdir(work)
    return marker


def _client(tmp_path: Path, models_dir: Path | None = None) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    app = create_app(Settings(data_dir=tmp_path / "data", models_dir=models_dir, speed=50.0))
    services = app.state.services
    with services.db.begin() as db:
        clinic = Clinic(name="Clinic")
        db.add(clinic)
        db.commit()
        db.add(User(username="doc", role="clinician", clinic_id=clinic.id, password_hash=hash_password(PASSWORD)))
        db.commit()
    with TestClient(app) as c:
        token = c.post("/api/auth/token", json={"username": "doc", "password": PASSWORD}).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        pid = c.post("/api/patients", json={"identifying": {}}).json()["id"]
        assert c.post(f"/api/patients/{pid}/consents", json={"scope": "treatment", "granted": True}).status_code == 201
        yield c, {"pid": pid, "services": services}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    yield from _client(tmp_path)


def test_a_plan_cannot_load_a_pickle_from_the_working_directory(evil_cwd: Path,
                                                                client: tuple[TestClient, dict[str, Any]]) -> None:
    c, w = client
    r = c.post(f"/api/patients/{w['pid']}/sessions", json={"scenario": "heights", "model": "evil"})
    assert r.status_code == 422 and "no model named 'evil'" in r.json()["detail"][0]["msg"]
    for bad in (".", "..", "../evil", "evil/", "./evil", "/tmp/evil", "evil\\x", "ev.il"):
        r = c.post(f"/api/patients/{w['pid']}/sessions", json={"scenario": "heights", "model": bad})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list), (bad, r.text)
    # a plan stored with such a name (e.g. by an older version) still cannot load it when started
    r = c.post(f"/api/patients/{w['pid']}/sessions", json={"scenario": "heights", "model": "stress"})
    sid = r.json()["id"]
    with w["services"].db.begin() as db:
        ts = db.get(TherapySession, sid)
        ts.plan = {**ts.plan, "model": "evil"}
        db.commit()
    r = c.post(f"/api/sessions/{sid}/start")
    assert r.status_code == 400 and "no model named 'evil'" in r.json()["detail"]
    assert not evil_cwd.exists(), "the crafted model.joblib was unpickled"


def test_named_models_never_resolve_paths(evil_cwd: Path, tmp_path: Path) -> None:
    for name in ("evil", "./evil", "../cwd/evil", str(evil_cwd.parent / "cwd" / "evil"), "..", "."):
        with pytest.raises(ModelError):
            load_named_model(name, models_dir=tmp_path)
    assert not evil_cwd.exists()


def test_operator_models_folder_adds_models(tmp_path: Path) -> None:
    models = tmp_path / "clinic-models"
    shutil.copytree(REGISTRY_DIR / "stress", models / "clinic-stress")
    (models / "not a name").mkdir()
    assert available_models(models)[-1] == "clinic-stress"
    assert "not a name" not in available_models(models)
    gen = _client(tmp_path, models_dir=models)
    c, w = next(gen)
    try:
        r = c.post(f"/api/patients/{w['pid']}/sessions", json={"scenario": "heights", "model": "clinic-stress"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").json()["state"] == "running"
        live = c.get(f"/api/sessions/{sid}/live").json()
        assert "clinic-stress" in str(live["info"])
        c.post(f"/api/sessions/{sid}/stop")
        with w["services"].db.begin() as db:
            assert db.execute(select(TherapySession)).scalars().all()
    finally:
        gen.close()
