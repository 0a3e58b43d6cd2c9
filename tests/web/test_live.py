"""Live sessions through the API with the real components: virtual patient, feature pipeline, exposure controller,
safety supervisor, encrypted session log; clinician control; the VR protocol; the report."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from attunexr.errors import AuthorizationError
from attunexr.privacy import load_master_key
from attunexr.session import SessionLog, VRClient
from attunexr.store import SessionEvent, TherapySession

from .conftest import LiveServer, wait_for


@pytest.fixture(scope="module")
def clinician(live_server: LiveServer) -> dict[str, Any]:
    demo = live_server.services.ensure_demo("live-test-pw", scenario="spiders")
    return {"token": live_server.token("clinician", "live-test-pw"), "pid": demo.patient_id}


def _plan(c: Any, pid: int, **extra: Any) -> int:
    body = {"scenario": "spiders", "source": "virtual", "speed": 60,
            "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}, **extra}
    r = c.post(f"/api/patients/{pid}/sessions", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_live_session_with_real_components(live_server: LiveServer, clinician: dict[str, Any],
                                           artifacts_dir: Path) -> None:
    with live_server.client(clinician["token"]) as c:
        sid = _plan(c, clinician["pid"])
        assert c.post(f"/api/sessions/{sid}/ssq", json={"when": "pre", "items": [0] * 15 + [1]}).status_code == 201
        assert c.post(f"/api/sessions/{sid}/start").json()["state"] == "running"
        snap = c.get(f"/api/sessions/{sid}/live").json()
        info = snap["info"]
        assert info["source_kind"] == "virtual" and "attunexr.simulation" in info["source"]
        assert "ExposureController" in info["controller"] and "SafetySupervisor" in info["safety"]
        assert info["model"] == "stress" and "FeatureStream" in info["features"]
        # the virtual patient's ECG gives a plausible heart rate; estimates arrive after the first window
        snap = wait_for(lambda: (s := c.get(f"/api/sessions/{sid}/live").json())["estimate"] and s)
        assert 40 < snap["vitals"]["hr"] < 150 and snap["quality"]["hr"] == "good"
        assert len(snap["series"]["t"]) > 60
        # the controller proposes; the clinician approves; the level follows
        prop = wait_for(lambda: (s := c.get(f"/api/sessions/{sid}/live").json())["proposals"] and s["proposals"][0],
                     timeout=60)
        r = c.post(f"/api/sessions/{sid}/proposals/{prop['id']}/approve")
        assert r.status_code == 200, r.text
        assert r.json()["level"] == prop["to_level"]
        assert c.post(f"/api/sessions/{sid}/proposals/{prop['id']}/approve").status_code == 409  # only once
        # pause blocks every escalation; stop works from pause
        assert c.post(f"/api/sessions/{sid}/pause").json()["state"] == "paused"
        assert c.post(f"/api/sessions/{sid}/level", json={"level": 6}).status_code == 409
        assert c.post(f"/api/sessions/{sid}/notes", json={"text": "patient asked for a break"}).status_code == 201
        assert c.post(f"/api/sessions/{sid}/stop").json()["state"] == "stopped"
        assert c.post(f"/api/sessions/{sid}/ssq", json={"when": "post", "items": [1] * 16}).status_code == 201
        wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped")
        events = c.get(f"/api/sessions/{sid}/events").json()
        kinds = {e["kind"] for e in events}
        assert {"vitals", "estimate", "proposal", "decision", "level", "pause", "note", "end", "ssq"} <= kinds
        decision = next(e for e in events if e["kind"] == "decision" and e["payload"]["decision"] == "approved")
        assert decision["actor"] == "clinician"
        report = c.get(f"/sessions/{sid}/report")
        assert report.status_code == 200 and "approved" in report.text and "patient asked for a break" in report.text
        assert "before" in report.text and "after" in report.text
        assert 'href="/models/stress"' in report.text  # the model version with a link to its card
        pdf = c.get(f"/sessions/{sid}/report.pdf")
        assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 10_000
        (artifacts_dir / "report-live-test.pdf").write_bytes(pdf.content)
    # the encrypted session log holds the chunks and decisions, and no plaintext identifiers
    with live_server.services.db.begin() as db:
        ts = db.get(TherapySession, sid)
        assert ts is not None
        log_path = Path(live_server.services.settings.data_dir).resolve() / ts.summary["session_log"]
        pseudonym = ts.patient.pseudonym
        n_vitals = db.query(SessionEvent).filter_by(session_id=sid, kind="vitals").count()
    master = load_master_key(Path(live_server.services.settings.data_dir) / "master.key")
    log = SessionLog.open(log_path, master)
    assert any(r.data.get("decision") == "approved" for r in log.records_of("decision"))
    ecg = [ch for ch in log.iter_chunks("ecg")]
    assert len(ecg) >= n_vitals - 2
    raw = log_path.read_bytes()
    assert pseudonym.encode() not in raw and b"approved" not in raw


async def test_reference_vr_client_joins_and_follows_commands(live_server: LiveServer,
                                                             clinician: dict[str, Any]) -> None:
    """The project's reference client (attunexr.session.VRClient) speaks the published protocol to a web session."""
    with live_server.client(clinician["token"]) as c:
        sid = _plan(c, clinician["pid"], speed=5)
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        with live_server.services.db.begin() as db:
            token = db.get(TherapySession, sid).vr_token
    url = live_server.url.replace("http", "ws") + f"/ws/vr/{sid}"
    with pytest.raises(AuthorizationError):
        await VRClient(url, "a guessed token").connect()
    async with httpx.AsyncClient(base_url=live_server.url,
                                 headers={"Authorization": f"Bearer {clinician['token']}"}) as ac:
        client = VRClient(url, token, subscribe=("command", "end"))
        welcome = await client.connect()
        assert welcome["type"] == "welcome" and welcome["session_id"] == str(sid)
        first = await asyncio.wait_for(client.commands.get(), 10)  # brought to the current state on joining
        assert first["command"] == "set_level" and first["level"] == 0 and first["params"]
        t0 = time.monotonic()
        await client.send_head_pose(t0, [0.0, 1.6, 0.0], [0.0, 0.0, 0.0, 1.0])
        await client.send_suds(t0, 40)
        await client.send_raw(json.dumps({"v": 1, "type": "event", "t": t0, "label": "suds", "value": 250}))
        err = await asyncio.wait_for(client.errors.get(), 10)
        assert err["code"] == "bad_message" and "0 and 100" in err["message"]
        await client.send_raw('{"v": 1, "type": "head_pose", "t": NaN, "position": [0,0,0], "rotation": [0,0,0,1]}')
        err = await asyncio.wait_for(client.errors.get(), 10)
        assert err["code"] in ("not_finite", "bad_json")
        await client.send_raw(json.dumps({"v": 1, "type": "head_pose", "t": t0 - 3600, "position": [0, 0, 0],
                                          "rotation": [0, 0, 0, 1]}))
        err = await asyncio.wait_for(client.errors.get(), 10)
        assert err["code"] == "bad_timestamp"

        async def live() -> dict[str, Any]:
            return (await ac.get(f"/api/sessions/{sid}/live")).json()

        for _ in range(100):
            snap = await live()
            if snap["head_pose"] and any(s["value"] == 40 for s in snap["suds"]):
                break
            await asyncio.sleep(0.1)
        assert snap["head_pose"]["position"] == [0.0, 1.6, 0.0]
        assert any(s["value"] == 40 and s["by"] == "patient" for s in snap["suds"])
        # clinician actions reach the client as commands, which it acknowledges (auto_ack)
        assert (await ac.post(f"/api/sessions/{sid}/pause")).status_code == 200
        cmd = await asyncio.wait_for(client.commands.get(), 10)
        while cmd["command"] != "pause":
            cmd = await asyncio.wait_for(client.commands.get(), 10)
        assert cmd["id"].startswith("c")
        assert (await ac.post(f"/api/sessions/{sid}/stop")).status_code == 200
        cmd = await asyncio.wait_for(client.commands.get(), 10)
        while cmd["command"] != "end":
            cmd = await asyncio.wait_for(client.commands.get(), 10)
        end = await asyncio.wait_for(client.other.get(), 10)
        while end.get("type") != "end":
            end = await asyncio.wait_for(client.other.get(), 10)
        await client.close()
        events = (await ac.get(f"/api/sessions/{sid}/events", params={"kind": "command"})).json()
        assert {e["payload"]["command"] for e in events} >= {"set_level", "pause", "end"}


async def test_detector_analyzer_runs_a_registered_model_in_a_live_session() -> None:
    """Virtual-patient signals → a LiveSession (FeatureStream, a model from the registry) → dashboard estimates."""
    from attunexr.models import list_models, load_model
    from attunexr.session import LiveSession
    from attunexr.simulation import VirtualPatientSource
    from attunexr.web._adapters import DetectorAnalyzer

    names = list_models()
    assert names, "no model is registered in attunexr.models"
    name = "stress" if "stress" in names else names[0]
    analyzer = DetectorAnalyzer(load_model(name), model_name=name)
    out: list[dict[str, Any]] = []
    session = LiveSession("analyzer-test", window=analyzer.window, hop=analyzer.hop,
                          features=analyzer.feature_stream("", "analyzer-test"), detector=analyzer.estimate,
                          hooks=[lambda u: out.append(analyzer.to_dashboard(u.estimate, u.row or {}).to_message())
                                 if u.kind == "estimate" else None])
    source = VirtualPatientSource(8, seed=5)
    for s in range(130):
        for chunk in source.next_second(float(s), 4, False):
            session.process(chunk)
    assert [e["t_end"] for e in out] == [60.0 + 10.0 * k for k in range(len(out))] and len(out) >= 7
    assert len(session.estimates) == len(out)
    for e in out:
        assert e["model"] and isinstance(e["abstained"], bool)
        if not e["abstained"]:
            assert 0.0 <= e["lower"] <= e["probability"] <= e["upper"] <= 1.0
        assert 0.0 <= e["window_quality"]["q_cardiac"] <= 1.0 and "bias" not in e["contributions"]


async def test_client_source_feeds_the_pipeline(live_server: LiveServer, clinician: dict[str, Any]) -> None:
    """Plan source ``client``: a real Stress-Predict recording sent as protocol samples drives the session."""
    from attunexr.web._live_bridge import load_replay_recording

    rec = load_replay_recording("stress-predict:S02").crop(0.0, 95.0)
    with live_server.client(clinician["token"]) as c:
        sid = _plan(c, clinician["pid"], source="client")
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        with live_server.services.db.begin() as db:
            token = db.get(TherapySession, sid).vr_token
        client = VRClient(live_server.url.replace("http", "ws") + f"/ws/vr/{sid}", token, subscribe=("command",))
        await client.connect(t_now=rec.t_end + 5.0)  # the recording lies in the client's recent past
        t0 = rec.t_start
        batch: list[Any] = []
        for ch in rec.iter_chunks(1.0):
            ch.timestamps = ch.timestamps - t0
            if batch and ch.stream in {b.stream for b in batch}:
                await client.send_chunks(batch)  # one message per second of signals, as the protocol recommends
                batch = []
            batch.append(ch)
        await client.send_chunks(batch)
        await asyncio.sleep(0.5)
        assert client.errors.empty(), client.errors.get_nowait()

        def estimated() -> Any:
            ev = c.get(f"/api/sessions/{sid}/events").json()
            est = [e for e in ev if e["kind"] == "estimate"]
            hr = [e["payload"]["hr"] for e in ev if e["kind"] == "vitals" and e["payload"]["hr"] is not None]
            return (est, hr) if len(est) >= 3 and hr else None

        est, hr = await asyncio.to_thread(wait_for, estimated, 30.0)
        # windows of 60 s every 10 s on the client's timeline: ends at 60, 70, 80, 90 s of the recording
        assert all((e["payload"]["t_end"] - 60.0) % 10.0 == 0.0 for e in est)
        assert 40 < hr[0] < 150
        assert c.get(f"/api/sessions/{sid}/live").json()["info"]["source_kind"] == "client"
        await client.close()
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200


def test_dashboard_socket_sees_the_end_and_updates_after_it(live_server: LiveServer,
                                                           clinician: dict[str, Any]) -> None:
    """The dashboard's mailbox lives in the session's LiveSession; it survives the pipeline's end (notes still come)."""
    from websockets.sync.client import connect

    with live_server.client(clinician["token"]) as c:
        sid = _plan(c, clinician["pid"], speed=20)
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        ws_url = live_server.url.replace("http", "ws") + f"/ws/sessions/{sid}"
        with connect(ws_url, additional_headers={"Authorization": f"Bearer {clinician['token']}"}) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            seen: list[dict[str, Any]] = []
            while not any(u["type"] == "vitals" for u in seen):
                seen.append(json.loads(ws.recv(timeout=10)))
            assert c.post(f"/api/sessions/{sid}/stop").json()["state"] == "stopped"
            while not any(u["type"] == "state" and u["state"] == "stopped" for u in seen):
                seen.append(json.loads(ws.recv(timeout=10)))
            runner = live_server.services.live.get(sid)
            assert runner is not None and wait_for(lambda: runner.live.state == "stopped", timeout=10)
            assert c.post(f"/api/sessions/{sid}/notes", json={"text": "debrief after the end"}).status_code == 201
            while not any(u["type"] == "note" for u in seen):
                seen.append(json.loads(ws.recv(timeout=10)))
        note = next(u for u in seen if u["type"] == "note")
        assert note["text"] == "debrief after the end" and note["session"] == sid
