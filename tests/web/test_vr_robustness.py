"""Attacks on the web app's VR endpoint (``/ws/vr/{id}``): a bad message costs that message only, never the link.

Each test sends the attack over a real WebSocket to the real app, then proves the promise of docs/vr-protocol.md
literally: the same connection still accepts a valid message and gets its normal answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect

from attunexr.recording import Chunk
from attunexr.session._wire import encode_binary_samples
from attunexr.store import TherapySession

from .conftest import LiveServer

HUGE = "1" + "0" * 399


@pytest.fixture(scope="module")
def clinician(live_server: LiveServer) -> dict[str, Any]:
    demo = live_server.services.ensure_demo("vr-robust-pw", scenario="spiders")
    return {"token": live_server.token("clinician", "vr-robust-pw"), "pid": demo.patient_id}


def _start(live_server: LiveServer, clinician: dict[str, Any], source: str = "virtual") -> tuple[int, str]:
    with live_server.client(clinician["token"]) as c:
        r = c.post(f"/api/patients/{clinician['pid']}/sessions",
                   json={"scenario": "spiders", "source": source, "speed": 5,
                         "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
    with live_server.services.db.begin() as db:
        token = db.get(TherapySession, sid).vr_token
    return sid, token


def _stop(live_server: LiveServer, clinician: dict[str, Any], sid: int) -> None:
    with live_server.client(clinician["token"]) as c:
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200


async def _reply(ws: ClientConnection) -> dict[str, Any]:
    """The answer to the last message (error, pong or welcome); commands the runner sends meanwhile are skipped."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] in ("error", "pong", "welcome"):
            return msg  # type: ignore[no-any-return]


async def _hello(live_server: LiveServer, sid: int, token: str, subscribe: Any = ("command",)) -> ClientConnection:
    ws = await connect(live_server.url.replace("http", "ws") + f"/ws/vr/{sid}", compression=None)
    await ws.send(json.dumps({"v": 1, "type": "hello", "token": token, "t_now": time.monotonic(),
                              "subscribe": list(subscribe)}))
    assert (await _reply(ws))["type"] == "welcome"
    return ws


async def _still_works(ws: ClientConnection, n: int) -> None:
    await ws.send(json.dumps({"v": 1, "type": "ping", "id": n}))
    pong = await _reply(ws)
    assert pong["type"] == "pong" and pong["id"] == n, pong


async def test_bad_head_pose_never_drops_the_link(live_server: LiveServer, clinician: dict[str, Any]) -> None:
    sid, token = _start(live_server, clinician)
    ws = await _hello(live_server, sid, token)
    now = time.monotonic()
    one_channel = Chunk("head", "head_pose", now - 1 + np.arange(3) / 72, np.ones(3), 72.0)
    attacks = [
        # a one-channel head_pose samples stream (JSON and binary)
        (json.dumps({"v": 1, "type": "samples", "streams": [
            {"stream": "head", "kind": "head_pose", "rate": 72, "t0": now - 1, "values": [0.1, 0.2, 0.3]}]}),
         "7 channels"),
        (encode_binary_samples([one_channel]), "7 channels"),
        # a 400-digit integer as time and inside samples
        (f'{{"v":1,"type":"head_pose","t":{HUGE},"position":[0,1.6,0],"rotation":[0,0,0,1]}}', "range"),
        (f'{{"v":1,"type":"samples","streams":[{{"stream":"eda","kind":"eda","rate":4,"t0":{now - 1:f},"values":[1,{HUGE}]}}]}}', "range"),
    ]
    for frame, words in attacks:
        await ws.send(frame)
        err = await _reply(ws)
        assert err["type"] == "error" and err["code"] == "bad_message" and words in err["message"], err
        await _still_works(ws, 1)
    # a valid head pose on the same connection reaches the dashboard
    await ws.send(json.dumps({"v": 1, "type": "head_pose", "t": time.monotonic(), "position": [0.5, 1.7, 0.0],
                              "rotation": [0.0, 0.0, 0.0, 1.0]}))
    await _still_works(ws, 2)
    runner = live_server.services.live.get(sid)
    assert runner is not None and runner.head_pose == {"position": [0.5, 1.7, 0.0],
                                                        "orientation": [0.0, 0.0, 0.0, 1.0]}
    # the runner itself ignores a head pose it cannot read instead of failing (defence in depth)
    await runner.client_chunk(Chunk("head", "head_pose", np.array([now]), np.array([0.3]), None))
    assert runner.head_pose["position"] == [0.5, 1.7, 0.0]
    await ws.close()
    _stop(live_server, clinician, sid)


async def test_rejected_gaze_and_refused_hello_use_nothing(live_server: LiveServer,
                                                          clinician: dict[str, Any]) -> None:
    sid, token = _start(live_server, clinician, source="client")
    runner = live_server.services.live.get(sid)
    assert runner is not None
    url = live_server.url.replace("http", "ws") + f"/ws/vr/{sid}"
    # a hello with an invalid subscribe is refused and leaves the connection signed out
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": 1, "type": "hello", "token": token, "subscribe": "estimate"}))
        err = await _reply(ws)
        assert err["code"] == "bad_message" and "subscribe" in err["message"]
        await ws.send(json.dumps({"v": 1, "type": "gaze", "t": 1.0, "direction": [0, 0, 1]}))
        assert (await _reply(ws))["code"] == "not_authenticated"
        assert runner.vr_clients == 0
    ws = await _hello(live_server, sid, token)
    t = time.monotonic()
    for pupil in ('"3.4"', HUGE, "-1e999"):
        await ws.send(f'{{"v":1,"type":"gaze","t":{t:f},"direction":[0,0,1],"pupil_mm":{pupil}}}')
        err = await _reply(ws)
        assert err["type"] == "error" and "pupil_mm" in err["message"], err
        await _still_works(ws, 1)
    await ws.send(json.dumps({"v": 1, "type": "gaze", "t": t + 0.01, "direction": [0, 0.1, 0.99]}))
    await _still_works(ws, 2)
    for _ in range(100):  # the client source hands samples to the pipeline once per session second
        if "gaze" in runner.live.buffers:
            break
        await asyncio.sleep(0.1)
    assert runner.live.buffers["gaze"].n_samples == 1, "a rejected gaze message had its sample used"
    assert "pupil" not in runner.live.buffers
    await ws.close()
    _stop(live_server, clinician, sid)
