"""The VR-client protocol over a real WebSocket: telemetry in, estimates and commands out, malformed input rejected."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources

import jsonschema
import numpy as np
import pytest

from attunexr.errors import AuthorizationError
from attunexr.recording import Chunk, RecordingMeta
from attunexr.session import Command, SessionLog, VRClient
from attunexr.session._wire import encode_binary_samples, encode_json_samples


def _schema(name: str) -> dict:
    return json.loads(resources.files("attunexr.session").joinpath("schema", name).read_text())


async def _next_error(client: VRClient) -> dict:
    return await asyncio.wait_for(client.errors.get(), 5)


async def test_malformed_messages_are_rejected_and_the_session_continues(live_server) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-test"))
    client = VRClient(f"ws://{host}/live/ws/vr", token, binary=False)
    await client.connect(t_now=100.0)
    now = 100.0
    good = Chunk("eda", "eda", now - 1 + np.arange(4) / 4, np.array([1.0, 1.1, 1.2, 1.3]), 4.0)
    cases = {
        "bad_json": "{not json",
        "not_finite": '{"v":1,"type":"event","t":100,"label":"x","value":NaN}',
        "bad_message": json.dumps(
            {
                "v": 1,
                "type": "samples",
                "streams": [{"stream": "eda", "kind": "eda", "rate": "4", "t0": 99, "values": [1]}],
            }
        ),
        "unknown_type": json.dumps({"v": 1, "type": "teleport"}),
        "unsupported_version": json.dumps({"v": 2, "type": "ping"}),
        "frame_too_large": "x" * ((1 << 20) + 1),
    }
    for code, frame in cases.items():
        await client.send_raw(frame)
        err = await _next_error(client)
        assert err["code"] == code, (code, err)
        assert err["message"]
    more = [
        ('{"v":1,"type":"head_pose","t":100,"position":[0,Infinity,0],"rotation":[0,0,0,1]}', "not_finite"),
        (
            json.dumps({"v": 1, "type": "head_pose", "t": 100, "position": [0, 1], "rotation": [0, 0, 0, 1]}),
            "bad_message",
        ),
        (json.dumps({"v": 1, "type": "event", "t": 100, "label": "suds", "value": 140}), "bad_message"),
        (json.dumps({"v": 1, "type": "event", "t": "now", "label": "suds", "value": 40}), "bad_message"),
        (
            json.dumps(
                {
                    "v": 1,
                    "type": "samples",
                    "streams": [
                        {"stream": "eda", "kind": "eda", "rate": 4, "t0": 100 - 3600.0, "values": [1.0]}
                    ],
                }
            ),
            "bad_timestamp",
        ),
        (
            json.dumps(
                {
                    "v": 1,
                    "type": "samples",
                    "streams": [
                        {"stream": "eda", "kind": "eda", "rate": 4, "t0": 100 + 3600.0, "values": [1.0]}
                    ],
                }
            ),
            "bad_timestamp",
        ),
        (
            json.dumps(
                {
                    "v": 1,
                    "type": "samples",
                    "streams": [
                        {"stream": "eda", "kind": "eda", "rate": None, "t": [100, 100.5], "values": [1.0]}
                    ],
                }
            ),
            "bad_message",
        ),
        (json.dumps([1, 2, 3]), "bad_message"),
        (b"garbage-binary", "bad_frame"),
        (encode_binary_samples([good])[:-3], "bad_frame"),
        (
            encode_binary_samples([Chunk("eda", "eda", good.timestamps, np.array([1.0, np.nan, 1, 1]), 4.0)]),
            "not_finite",
        ),
        (json.dumps({"v": 1, "type": "hello", "token": token}), "bad_message"),
    ]
    for frame, code in more:
        await client.send_raw(frame)
        err = await _next_error(client)
        assert err["code"] == code, (frame[:80], err)
    # the session is still running and accepts valid telemetry on the same connection
    await client.send_chunks([good], binary=False)
    await client.send_chunks([Chunk("eda", "eda", good.timestamps + 1, good.values, 4.0)], binary=True)
    await client.send_suds(100.0, 35)
    assert (await client.ping())["type"] == "pong"
    await asyncio.sleep(0.1)
    assert session.state == "running" and session.samples_in == 8
    assert client.errors.empty()
    for m in await _drain_server_messages(client):
        jsonschema.validate(m, _schema("server-messages.json"))
    await client.close()
    await manager.close_session(session.session_id)
    log = SessionLog.open(manager.record_dir / f"{session.session_id}.axr", manager.master_key)
    assert sum(len(c) for c in log.chunks) == 8
    assert [(e.label, e.value) for e in log.to_recording().events] == [("suds", 35.0)]


async def _drain_server_messages(client: VRClient) -> list[dict]:
    out = []
    for q in (client.other, client.estimates, client.commands):
        while not q.empty():
            out.append(q.get_nowait())
    return out


async def test_wrong_token_and_messages_before_hello(live_server) -> None:
    host, manager = live_server
    with pytest.raises(AuthorizationError):
        await VRClient(f"ws://{host}/live/ws/vr", "not-a-token").connect()
    from websockets.asyncio.client import connect

    async with connect(f"ws://{host}/live/ws/vr") as ws:
        await ws.send(json.dumps({"v": 1, "type": "samples", "streams": []}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["code"] == "not_authenticated"


async def test_replayed_real_recording_gives_estimates_and_commands_roundtrip(live_server, s02_short) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-replay", dataset="stress-predict"))
    client = VRClient(f"ws://{host}/live/ws/vr", token, binary=True)
    # the client clock is the recording clock: announce "now" as the end of the data it will send
    await client.connect(t_now=s02_short.t_end)
    by_second: dict[int, list[Chunk]] = {}
    for c in s02_short.iter_chunks(1.0):
        by_second.setdefault(int(c.t_first), []).append(c)
    for k in sorted(by_second):
        await client.send_chunks(by_second[k])
    cmd = Command("set_level", level=3, params={"spiders": 2})
    session.send_command(cmd)
    ack = await session.wait_ack(cmd.id, timeout=5)
    assert ack["status"] == "ok"
    got = await asyncio.wait_for(client.commands.get(), 5)
    jsonschema.validate(got, _schema("server-messages.json"))
    assert got["id"] == cmd.id and got["level"] == 3
    deadline = time.monotonic() + 10
    while len(session.estimates) < 14 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(session.estimates) == 14  # windows ending at 60, 70, ..., 190 s
    received = [await asyncio.wait_for(client.estimates.get(), 5) for _ in range(14)]
    assert [m["t"] for m in received] == [e.t_end for e in session.estimates]
    assert all(m["trigger"] is not None for m in received) and len(client.e2e_ms) == 14
    for m in received:
        jsonschema.validate(m, _schema("server-messages.json"))
    assert session.samples_in == sum(s.n_samples for s in s02_short.streams.values())
    await client.close()


def test_reference_client_messages_follow_the_published_schema() -> None:
    client_schema = _schema("client-messages.json")
    bin_schema = _schema("binary-samples-header.json")
    jsonschema.Draft202012Validator.check_schema(client_schema)
    regular = Chunk("bvp", "ppg", np.arange(64) / 64, np.sin(np.arange(64.0)), 64.0)
    irregular = Chunk("ibi", "ibi", np.array([0.8, 1.6]), np.array([0.8, 0.8]), None)
    multi = Chunk("head", "head_pose", np.arange(3) / 72, np.ones((3, 7)), 72.0)
    jsonschema.validate(json.loads(encode_json_samples([regular, irregular, multi], 1, 2.0)), client_schema)
    frame = encode_binary_samples([regular, irregular, multi], 1, 2.0)
    hlen = int.from_bytes(frame[4:8], "little")
    jsonschema.validate(json.loads(frame[8 : 8 + hlen]), bin_schema)
    for msg in (
        {"v": 1, "type": "hello", "token": "abc", "t_now": 1.0},
        {"v": 1, "type": "event", "t": 1.0, "label": "suds", "value": 40},
        {"v": 1, "type": "head_pose", "t": 1.0, "position": [0, 1.6, 0], "rotation": [0, 0, 0, 1]},
        {"v": 1, "type": "gaze", "t": 1.0, "direction": [0, 0, 1], "pupil_mm": 3.1},
        {"v": 1, "type": "ack", "command_id": "c1", "status": "ok"},
    ):
        jsonschema.validate(msg, client_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"v": 1, "type": "head_pose", "t": 1.0, "position": [0, 1], "rotation": [0, 0, 0, 1]},
            client_schema,
        )
