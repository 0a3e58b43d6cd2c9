"""Cues from a VR client in a clinician session: recorded, scored live, in the session report; live = offline."""

from __future__ import annotations

import asyncio
import io
import math
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from attunexr.features import cues_from_recording, score_cues
from attunexr.privacy import load_master_key
from attunexr.session import SessionLog, VRClient
from attunexr.store import TherapySession

from .conftest import LiveServer, wait_for

CUES = [(30.0, "trauma"), (55.0, "neutral"), (80.0, "trauma"), (105.0, "neutral"), (130.0, "trauma"),
        (155.0, "neutral")]



@pytest.fixture(scope="module")
def clinician(live_server: LiveServer) -> dict[str, Any]:
    demo = live_server.services.ensure_demo("cue-test-passphrase", scenario="spiders")
    return {"token": live_server.token("clinician", "cue-test-passphrase"), "pid": demo.patient_id}


async def test_vr_cues_are_scored_live_and_reported(live_server: LiveServer, clinician: dict[str, Any]) -> None:
    from attunexr.web._live_bridge import load_replay_recording

    rec = load_replay_recording("stress-predict:S02").crop(0.0, 190.0)
    with live_server.client(clinician["token"]) as c:
        r = c.post(f"/api/patients/{clinician['pid']}/sessions",
                   json={"scenario": "spiders", "source": "client", "controller": {"mode": "propose"}})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        with live_server.services.db.begin() as db:
            token = db.get(TherapySession, sid).vr_token
        client = VRClient(live_server.url.replace("http", "ws") + f"/ws/vr/{sid}", token, subscribe=("command",))
        await client.connect(t_now=rec.t_end + 5.0)
        t0 = rec.t_start
        pending = list(CUES)
        batch: list[Any] = []
        for ch in rec.iter_chunks(1.0):
            ch.timestamps = ch.timestamps - t0
            if batch and ch.stream in {b.stream for b in batch}:
                await client.send_chunks(batch)
                batch = []
                while pending and pending[0][0] <= ch.t_first:
                    t, cat = pending.pop(0)
                    await client.send_cue(t, cat, f"{cat}-{t:.0f}")
            batch.append(ch)
        await client.send_chunks(batch)
        await client.send_cue(185.0, "x" * 65)  # a bad cue is refused on its own and changes nothing
        await asyncio.sleep(0.5)
        err = client.errors.get_nowait()
        assert err["code"] == "bad_message" and "'category'" in err["message"]
        await client.close()

        def responses() -> Any:
            ev = c.get(f"/api/sessions/{sid}/events").json()
            got = [e["payload"] for e in ev if e["kind"] == "cue_response"]
            return got if len(got) == len(CUES) else None

        # every cue's epoch (up to 167 s) lies within the 190 s sent: each is scored while the session runs
        live = await asyncio.to_thread(wait_for, responses)
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
        wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped")
        assert [(x["onset"], x["category"]) for x in live] == CUES
        assert [x["index"] for x in live] == [0, 0, 1, 1, 2, 2]
        assert all(x["sc_change"] is not None and x["hr_change_mean"] is not None for x in live), [(x["onset"], x["sc_change"], x["hr_change_mean"], x["quality"]) for x in live]
        report = c.get(f"/sessions/{sid}/report").text
        assert 'data-testid="report-reactivity"' in report and "trauma" in report
        assert 'data-testid="reactivity-sentence"' in report
        # the PDF a clinician files has the same section, with the sentence and the per-category table
        pdf = PdfReader(io.BytesIO(c.get(f"/sessions/{sid}/report.pdf").content))
        text = re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in pdf.pages))
        assert "Reaction to cues" in text and "trauma" in text and "mean skin-conductance response" in text
    # live = offline: the recorded session, analysed afterwards, gives the same per-cue responses
    with live_server.services.db.begin() as db:
        ts = db.get(TherapySession, sid)
        log_path = Path(live_server.services.settings.data_dir).resolve() / ts.summary["session_log"]
    log = SessionLog.open(log_path, load_master_key(Path(live_server.services.settings.data_dir) / "master.key"))
    logged = log.records_of("cue_response")
    recording = log.to_recording()
    offline = score_cues(recording, cues_from_recording(recording, ["trauma", "neutral"]))
    assert len(logged) == len(offline) == len(CUES)
    for rec_live, off in zip(logged, offline, strict=True):
        assert rec_live.data["onset"] == off.cue.onset and rec_live.data["index"] == off.index
        for m, v in off.measures().items():
            got = rec_live.data[m]
            assert (got is None and math.isnan(v)) or got == pytest.approx(v, rel=1e-9, abs=1e-12), m
