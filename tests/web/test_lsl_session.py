"""A clinician session whose signals come from real LSL outlets (a real Stress-Predict recording, E4 streams):
the plan form lists them, the dashboard shows estimates and an AI proposal, and live = offline holds."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from attunexr.features import extract
from attunexr.io import read_empatica
from attunexr.models import load_model
from attunexr.privacy import load_master_key
from attunexr.session import SessionLog
from attunexr.store import TherapySession

from ..sensors.conftest import OutletPlayer
from .conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser
PREFIX = "axr-web-"


@pytest.fixture()
def player(stress_predict_dir: Path) -> Iterator[OutletPlayer]:
    # S08: clean wrist PPG in its first minutes (S02's first minutes are poor, and the safety monitors rightly
    # block and pause a session on them)
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S08", dataset="stress-predict")
    p = OutletPlayer(rec.crop(rec.t_start, rec.t_start + 480.0), prefix=PREFIX, speed=10.0)
    yield p
    p.close()


def test_lsl_streams_drive_a_clinician_session(live_server: LiveServer, player: OutletPlayer, browser: Browser,
                                               artifacts_dir: Path) -> None:
    demo = live_server.services.ensure_demo("lsl-password-1", scenario="heights")
    token = live_server.token("clinician", "lsl-password-1")
    names = sorted(f"{PREFIX}{n}" for n in player.outlets)
    with live_server.client(token) as c:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sign_in(page, live_server.url, "clinician", "lsl-password-1")
        # the server discovers the outlets: the API and the plan form list them
        found = {s["name"]: s for s in c.get("/api/sensors/lsl").json()}
        assert set(names) <= set(found) and found[f"{PREFIX}bvp"]["kind"] == "ppg"
        page.goto(f"{live_server.url}/patients/{demo.patient_id}")
        expect(page.get_by_test_id("plan-lsl-streams")).to_contain_text(f"{PREFIX}eda")
        plan = {"scenario": "heights", "source": "lsl:" + ",".join(names), "speed": 10,
                "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}}
        r = c.post(f"/api/patients/{demo.patient_id}/sessions", json=plan)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        player.start()
        page.goto(f"{live_server.url}/sessions/{sid}")
        expect(page.locator("#engine-info")).to_contain_text("live sensors (LSL")
        expect(page.get_by_test_id("live-hr")).to_have_text(re.compile(r"^\d+$"), timeout=20000)
        expect(page.get_by_test_id("live-arousal")).to_have_text(re.compile(r"^(0\.\d\d|1\.00)$"), timeout=40000)
        expect(page.get_by_test_id("proposal-approve")).to_be_visible(timeout=40000)
        page.screenshot(path=str(artifacts_dir / "dashboard-lsl-session.png"), full_page=True)
        assert player.done.wait(60)
        time.sleep(1.0)
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
        deadline = time.time() + 30
        while c.get(f"/api/sessions/{sid}").json()["status"] != "stopped" and time.time() < deadline:
            time.sleep(0.2)
        page.close()
    # live = offline: the estimates the session made equal those computed afterwards on what it recorded
    with live_server.services.db.begin() as db:
        ts = db.get(TherapySession, sid)
        log_path = Path(live_server.services.settings.data_dir).resolve() / ts.summary["session_log"]
    log = SessionLog.open(log_path, load_master_key(Path(live_server.services.settings.data_dir) / "master.key"))
    live: list[dict[str, Any]] = [r.data for r in log.records_of("estimate")]
    rec = log.to_recording()
    offline = load_model("stress").estimate(extract(rec, 60.0, 10.0).drop(columns=["label"], errors="ignore"))
    by_end = {round(e.t_end, 6): e for e in offline}
    matched = [(x, by_end[round(x["t_end"], 6)]) for x in live if round(x["t_end"], 6) in by_end]
    assert len(matched) >= len(live) - 1 and len(matched) >= 30
    assert [x["reason"] for x, _ in matched] == [o.reason for _, o in matched]
    answered = [(x, o) for x, o in matched if not o.abstained]
    assert len(answered) >= 10
    np.testing.assert_allclose([x["probability"] for x, _ in answered], [o.probability for _, o in answered],
                               rtol=1e-9)
