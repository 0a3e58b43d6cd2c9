"""Head-motion cybersickness in the web app: the tolerance estimate on a session plan and the dashboard's sickness
forecast fed by a VR client streaming a recorded ride (equal to the offline pipeline on the same ride)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest

from attunexr.io.datasets import get_dataset
from attunexr.models import fit_motion_model, fit_tolerance_model, motion_table, ride_rows
from attunexr.session import VRClient
from attunexr.store import TherapySession

from .conftest import LiveServer

RIDE = "PA10_Base_1_32_26_PM"
TRAIN_SUBJECTS = ("PA1", "PA2", "PA3", "PA4", "PA5", "PA6", "PA7", "PA8")


@pytest.fixture(scope="module")
def motion_models(vr_fms_motion_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Small head-motion models fitted on eight other participants' real rides, put in a temporary registry."""
    import attunexr.models._registry as registry
    import attunexr.web._sickness as sickness

    ds = get_dataset("vr-fms-motion")
    root = vr_fms_motion_dir.parent
    table = motion_table(root, [s for p in TRAIN_SUBJECTS for s in ds.sessions(root, p)])  # type: ignore[attr-defined]
    reg = tmp_path_factory.mktemp("registry")
    for shipped in registry.REGISTRY_DIR.iterdir():  # the shipped models stay available (the sessions use them)
        if shipped.is_dir() and shipped.name not in ("cybersickness-motion", "tolerance"):
            (reg / shipped.name).symlink_to(shipped)
    motion = fit_motion_model(table)
    for name, obj in (("cybersickness-motion", motion), ("tolerance", fit_tolerance_model(table, n_members=10))):
        (reg / name).mkdir()
        joblib.dump(obj, reg / name / "motion.joblib")
    mp = pytest.MonkeyPatch()
    mp.setattr(registry, "REGISTRY_DIR", reg)
    mp.setattr(sickness, "_MODEL", None)
    yield motion
    mp.undo()


@pytest.fixture(scope="module")
def clinician(live_server: LiveServer) -> dict[str, Any]:
    demo = live_server.services.ensure_demo("sick-test-pw", scenario="spiders")
    return {"token": live_server.token("clinician", "sick-test-pw"), "pid": demo.patient_id}


def test_tolerance_estimate_on_the_plan(live_server: LiveServer, clinician: dict[str, Any], motion_models: Any) -> None:
    with live_server.client(clinician["token"]) as c:
        r = c.post(f"/patients/{clinician['pid']}/plan",
                   data={"scenario": "heights", "mssq": "30", "age": "24", "gender": "f"})
        assert r.status_code == 303, r.text
        page = c.get(f"/patients/{clinician['pid']}").text
        block = page[page.index('data-testid="tolerance-estimate"'):]
        block = block[: block.index("</div>")]
        m = re.search(r"(\d+) % chance.*?95 % interval (\d+)–(\d+) %", block, re.S)
        assert m is not None, block
        p, lo, hi = (int(x) for x in m.groups())
        assert 0 <= lo <= p <= hi <= 100
        assert "Rests on: MSSQ, age and gender only" in block
        bad = c.post(f"/patients/{clinician['pid']}/plan", data={"scenario": "heights", "mssq": "lots"})
        assert bad.status_code == 422 and "MSSQ must be a number" in bad.text


async def test_dashboard_forecast_from_a_streamed_ride(live_server: LiveServer, clinician: dict[str, Any],
                                                       motion_models: Any, vr_fms_motion_dir: Path) -> None:
    ride = get_dataset("vr-fms-motion").load_session(RIDE, vr_fms_motion_dir.parent)  # type: ignore[attr-defined]
    with live_server.client(clinician["token"]) as c:
        r = c.post(f"/api/patients/{clinician['pid']}/sessions",
                   json={"scenario": "spiders", "source": "client", "speed": 60,
                         "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        started = c.post(f"/api/sessions/{sid}/start")
        assert started.status_code == 200, started.text
        assert 'data-testid="sickness-forecast"' in c.get(f"/sessions/{sid}").text
        waiting = c.get(f"/api/sessions/{sid}/sickness-forecast").json()
        assert waiting["available"] is False
        with live_server.services.db.begin() as db:
            token = db.get(TherapySession, sid).vr_token
    imu = ride.streams["head_imu"]
    fms = {e.onset: e.value for e in ride.events if e.label == "fms"}
    ride_end = float(ride.meta.extra["ride_end"])
    url = live_server.url.replace("http", "ws") + f"/ws/vr/{sid}"
    client = VRClient(url, token, subscribe=("end",))
    await client.connect(t_now=float(imu.timestamps[-1]) + 1.0)
    for t, v in zip(imu.timestamps, imu.values, strict=True):
        if t > ride_end + 2.0:  # the moving part of the ride only: its last window ends before ride_end
            break
        if t in fms:
            await client.send_event(float(t), "fms", fms[t])
        acc = v[:3].tolist() if np.isfinite(v[:3]).all() else None
        gyro = v[3:].tolist() if np.isfinite(v[3:]).all() else None
        await client.send_head_pose(float(t), [0.0, 1.6, 0.0], [0.0, 0.0, 0.0, 1.0], acc, gyro)
    assert client.errors.empty()
    async with httpx.AsyncClient(base_url=live_server.url,
                                 headers={"Authorization": f"Bearer {clinician['token']}"}) as ac:
        view: dict[str, Any] = {}
        for _ in range(200):
            view = (await ac.get(f"/api/sessions/{sid}/sickness-forecast")).json()
            if view.get("available") and view["t"] >= ride_end - 5.0:
                break
            await asyncio.sleep(0.05)
        await ac.post(f"/api/sessions/{sid}/stop")
    await client.close()
    assert view["available"] and view["mssq_known"] is False
    # offline: the same ride through the offline pipeline; time in VR from the first head sample, MSSQ unknown
    rows = ride_rows(ride)
    rows["time_in_vr"] = rows["t_end"] - float(imu.timestamps[0])
    rows["mssq"] = np.nan
    offline = motion_models.assess(rows).assign(t_end=rows["t_end"].to_numpy())
    at = offline[np.isclose(offline["t_end"], view["t"])]
    assert len(at) == 1
    assert view["p_cross_60s"] == pytest.approx(float(at["p_cross_60s"].iloc[0]), abs=1e-9)
    assert view["p_sick_now"] == pytest.approx(float(at["p_sick_now"].iloc[0]), abs=1e-9)
