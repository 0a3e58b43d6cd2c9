"""Attacks on the VR-client protocol over a real WebSocket (the standalone session server).

The protocol's promise, tested literally: an error rejects only that message (nothing of it is used), and after any
bad message the same connection still accepts a valid message and gets its normal answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect

from attunexr.recording import Chunk, RecordingMeta
from attunexr.session import SessionLog
from attunexr.session._wire import encode_binary_samples

HUGE = "1" + "0" * 399  # a JSON integer with 400 digits: valid JSON, far beyond float64
NOW = 100.0


async def _open(host: str, token: str, subscribe: list[str] | None = None) -> ClientConnection:
    ws = await connect(f"ws://{host}/live/ws/vr", compression=None, max_size=1 << 22)
    await ws.send(
        json.dumps(
            {
                "v": 1,
                "type": "hello",
                "token": token,
                "t_now": NOW,
                "subscribe": subscribe or ["command", "end"],
            }
        )
    )
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert welcome["type"] == "welcome", welcome
    return ws


async def _reply(ws: ClientConnection) -> dict[str, Any]:
    """The server's answer to the last message (an error, a pong or a welcome)."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] in ("error", "pong", "welcome"):
            return msg  # type: ignore[no-any-return]


async def _valid_message_still_works(ws: ClientConnection, n: int) -> None:
    await ws.send(json.dumps({"v": 1, "type": "ping", "id": n}))
    pong = await _reply(ws)
    assert pong["type"] == "pong" and pong["id"] == n, pong


def _samples(**stream: Any) -> str:
    entry = {"stream": "eda", "kind": "eda", "rate": 4, "t0": NOW - 1, "values": [1.0, 1.1]} | stream
    return json.dumps({"v": 1, "type": "samples", "seq": 5, "streams": [entry]})


# (frame, expected error code, words the error message must contain)
HUGE_NUMBER_ATTACKS = [
    (
        f'{{"v":1,"type":"head_pose","t":{HUGE},"position":[0,1.6,0],"rotation":[0,0,0,1]}}',
        "bad_message",
        "'t'",
    ),
    (
        f'{{"v":1,"type":"head_pose","t":99.5,"position":[0,{HUGE},0],"rotation":[0,0,0,1]}}',
        "bad_message",
        "'position'",
    ),
    (_samples(values=[1.0, "HUGE"]).replace('"HUGE"', HUGE), "bad_message", "values"),
    (_samples(values=[[1.0], ["HUGE"]]).replace('"HUGE"', HUGE), "bad_message", "values"),
    (_samples(t0="HUGE").replace('"HUGE"', HUGE), "bad_message", "t0"),
    (_samples(rate="HUGE").replace('"HUGE"', HUGE), "bad_message", "rate"),
    (_samples(rate=None, t=[99.0, "HUGE"]).replace('"HUGE"', HUGE), "bad_message", "t"),
    (
        f'{{"v":1,"type":"samples","sent_at":{HUGE},"streams":[{{"stream":"eda","kind":"eda","rate":4,"t0":99,'
        '"values":[1]}]}',
        "bad_message",
        "sent_at",
    ),
    (f'{{"v":1,"type":"event","t":99.5,"label":"suds","value":{HUGE}}}', "bad_message", "value"),
    (
        f'{{"v":1,"type":"gaze","t":99.5,"direction":[0,0,1],"pupil_mm":{HUGE}}}',
        "bad_message",
        "pupil_mm",
    ),
    (f'{{"v":1,"type":"ping","id":{HUGE}}}', "bad_message", "id"),
    (
        f'{{"v":1,"type":"head_pose","t":-{HUGE},"position":[0,1.6,0],"rotation":[0,0,0,1]}}',
        "bad_message",
        "'t'",
    ),
]


@pytest.mark.parametrize("frame,code,words", HUGE_NUMBER_ATTACKS, ids=range(len(HUGE_NUMBER_ATTACKS)))
async def test_huge_integers_are_rejected_and_the_link_stays(
    live_server, frame: str, code: str, words: str
) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-huge"))
    ws = await _open(host, token)
    await ws.send(frame)
    err = await _reply(ws)
    assert err["type"] == "error" and err["code"] == code, err
    assert words in err["message"] and "range" in err["message"], err
    await _valid_message_still_works(ws, 1)
    await ws.close()
    await asyncio.sleep(0.05)
    assert session.samples_in == 0  # nothing of a rejected message is used
    await manager.close_session(session.session_id)


async def test_huge_t_now_in_hello_is_refused_without_signing_in(live_server) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-hello"))
    async with connect(f"ws://{host}/live/ws/vr") as ws:
        await ws.send(f'{{"v":1,"type":"hello","token":"{token}","t_now":{HUGE}}}')
        err = await _reply(ws)
        assert err["code"] == "bad_message" and "t_now" in err["message"]
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": 3}))
        assert (await _reply(ws))["code"] == "not_authenticated"
    await manager.close_session(session.session_id)


@pytest.mark.parametrize("channels", [1, 6, 8])
async def test_head_pose_samples_with_wrong_channel_count_are_rejected(live_server, channels: int) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-pose"))
    ws = await _open(host, token)
    pose = Chunk("head", "head_pose", NOW - 1 + np.arange(3) / 72, np.ones((3, channels)).squeeze(), 72.0)
    for frame in (
        json.dumps(
            {
                "v": 1,
                "type": "samples",
                "streams": [
                    {
                        "stream": "head",
                        "kind": "head_pose",
                        "rate": 72,
                        "t0": NOW - 1,
                        "values": [[0.0] * channels if channels > 1 else 0.0] * 3,
                    }
                ],
            }
        ),
        encode_binary_samples([pose]),
    ):
        await ws.send(frame)
        err = await _reply(ws)
        assert err["code"] == "bad_message" and "7 channels" in err["message"], err
        await _valid_message_still_works(ws, channels)
    good = Chunk("head", "head_pose", NOW - 1 + np.arange(3) / 72, np.ones((3, 7)), 72.0)
    await ws.send(encode_binary_samples([good]))
    await _valid_message_still_works(ws, 99)
    await ws.close()
    await asyncio.sleep(0.05)
    assert session.samples_in == 3
    await manager.close_session(session.session_id)


async def test_a_stream_keeps_its_channel_count(live_server) -> None:
    """A stream that changes its channel count mid-session would break every buffer behind it."""
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-channels"))
    ws = await _open(host, token)
    await ws.send(_samples(stream="pupil", kind="pupil", values=[3.0, 3.1]))
    await _valid_message_still_works(ws, 1)
    await ws.send(_samples(stream="pupil", kind="pupil", t0=NOW - 0.5, values=[[3.0, 3.2], [3.1, 3.3]]))
    err = await _reply(ws)
    assert err["code"] == "bad_message" and "channel" in err["message"], err
    await _valid_message_still_works(ws, 2)
    await ws.close()
    await asyncio.sleep(0.05)
    assert session.samples_in == 2
    await manager.close_session(session.session_id)


async def test_a_rejected_gaze_message_uses_nothing(live_server) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-gaze"))
    ws = await _open(host, token)
    for bad_pupil in ('"3.4"', "true", "[3.4]", HUGE, "1e999"):
        await ws.send(f'{{"v":1,"type":"gaze","t":99.5,"direction":[0,0,1],"pupil_mm":{bad_pupil}}}')
        err = await _reply(ws)
        assert err["type"] == "error" and "pupil_mm" in err["message"], (bad_pupil, err)
        await _valid_message_still_works(ws, 1)
    await ws.close()
    await asyncio.sleep(0.1)
    assert session.samples_in == 0, "a rejected gaze message still had its sample used"
    await manager.close_session(session.session_id)
    log = SessionLog.open(manager.record_dir / f"{session.session_id}.axr", manager.master_key)
    assert not log.chunks


@pytest.mark.parametrize("subscribe", ['"estimate"', "[1, 2]", '["estimate", null]', '["estimates"]', "{}"])
async def test_hello_with_invalid_subscribe_leaves_the_connection_signed_out(
    live_server, subscribe: str
) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-sub"))
    async with connect(f"ws://{host}/live/ws/vr") as ws:
        await ws.send(
            f'{{"v":1,"type":"hello","token":"{token}","t_now":100,"subscribe":{subscribe}}}'
        )
        err = await _reply(ws)
        assert err["code"] == "bad_message" and "subscribe" in err["message"]
        # refused means refused: telemetry is not accepted on this connection
        await ws.send(_samples())
        assert (await _reply(ws))["code"] == "not_authenticated"
        # and a correct hello on the same connection then works
        await ws.send(json.dumps({"v": 1, "type": "hello", "token": token, "t_now": NOW}))
        assert (await _reply(ws))["type"] == "welcome"
        await _valid_message_still_works(ws, 7)
    await asyncio.sleep(0.05)
    assert session.samples_in == 0
    assert [
        s.name for s in session.subscriptions if s.name == "vr-client"
    ] == []  # the refused hello left none
    await manager.close_session(session.session_id)


async def test_a_rejected_samples_message_does_not_bind_a_stream_kind(live_server) -> None:
    """The second stream of a message is wrong: nothing of the message counts, not even the first stream's kind."""
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-kind"))
    ws = await _open(host, token)
    bad = {
        "v": 1,
        "type": "samples",
        "streams": [
            {"stream": "x", "kind": "eda", "rate": 4, "t0": NOW - 1, "values": [1.0]},
            {"stream": "y", "kind": "eda", "rate": 4, "t0": NOW - 1, "values": ["one"]},
        ],
    }
    await ws.send(json.dumps(bad))
    assert (await _reply(ws))["code"] == "bad_message"
    await ws.send(_samples(stream="x", kind="temp", values=[33.0]))
    await _valid_message_still_works(ws, 1)
    await ws.close()
    await asyncio.sleep(0.05)
    assert session.samples_in == 1 and session.buffers["x"].kind == "temp"
    await manager.close_session(session.session_id)


async def test_strings_that_cannot_be_stored_are_rejected(live_server) -> None:
    """Lone surrogates are valid JSON escapes but not Unicode text: they must not reach logs or the database."""
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-str"))
    ws = await _open(host, token)
    for frame, field in (
        ('{"v":1,"type":"event","t":99.5,"label":"scene\\ud800"}', "label"),
        ('{"v":1,"type":"ack","command_id":"c\\udfff1"}', "command_id"),
        (
            '{"v":1,"type":"samples","streams":[{"stream":"e\\ud800","kind":"eda","rate":4,"t0":99,"values":[1]}]}',
            "stream",
        ),
    ):
        await ws.send(frame)
        err = await _reply(ws)
        assert err["code"] == "bad_message" and field in err["message"], err
        await _valid_message_still_works(ws, 1)
    await ws.close()
    async with connect(f"ws://{host}/live/ws/vr") as ws2:
        await ws2.send('{"v":1,"type":"hello","token":"\\ud800\\u00e9"}')
        err = await _reply(ws2)
        assert err["code"] in ("bad_message", "unauthorized") and "token" in err["message"]
        await ws2.send(json.dumps({"v": 1, "type": "hello", "token": token, "t_now": NOW}))
        assert (await _reply(ws2))["type"] == "welcome"
    await manager.close_session(session.session_id)


def _binary_with_header(header: bytes, payload: bytes) -> bytes:
    return b"AXB1" + len(header).to_bytes(4, "little") + header + payload


# Messages the published schema rejects that the server used to accept (found by tests/fuzz).
SCHEMA_INVALID = [
    # "t" must be a list when present; it used to be read as "absent" and t0 used instead
    _samples(t=None),
    # a t0 of the wrong type next to explicit times used to be ignored
    _samples(rate=None, t=[99.0, 99.5], t0="soon"),
    # true is not the protocol version 1
    json.dumps({"v": True, "type": "ping", "id": 1}),
    # numbers are numbers: booleans and numeric strings inside values used to be converted
    _samples(values=[True, 1.0]),
    _samples(values=["1.5", 1.0]),
    # a binary header with an encoded surrogate (not UTF-8) used to decode leniently
    _binary_with_header(
        b'{"v":1,"type":"samples","streams":[{"stream":"e\xed\xa0\x80","kind":"eda","rate":4,"n":1,"t0":99}]}',
        np.array([1.0]).tobytes(),
    ),
]


@pytest.mark.parametrize("frame", SCHEMA_INVALID, ids=range(len(SCHEMA_INVALID)))
async def test_schema_invalid_messages_are_rejected(live_server, frame: str | bytes) -> None:
    host, manager = live_server
    session, token = await manager.open_session(RecordingMeta(subject="p-schema"))
    ws = await _open(host, token)
    await ws.send(frame)
    err = await _reply(ws)
    assert err["type"] == "error" and err["code"] in ("bad_message", "unsupported_version", "bad_frame"), err
    await _valid_message_still_works(ws, 5)
    await ws.close()
    await asyncio.sleep(0.05)
    assert session.samples_in == 0
    await manager.close_session(session.session_id)
