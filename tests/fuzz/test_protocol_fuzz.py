"""Fuzzing the VR-client protocol: tens of thousands of mutated messages, and the link never drops.

Valid messages are made from a real recording (Stress-Predict S02, Empatica E4) by the reference encoders, then
mutated (huge integers, NaN/Infinity literals, wrong types, wrong channel counts, missing and extra fields, deep
nesting, huge strings, lone surrogates, truncated text; for binary frames truncations, byte flips, invalid UTF-8
in the header, wrong header lengths, non-finite payload samples). For every message:

* no exception escapes and the server never answers ``internal_error``;
* every reply follows the published server schema;
* a message the published client schema rejects (or that carries a number beyond float64, a NaN literal or a lone
  surrogate) gets an ``error`` naming the broken field; valid messages with unknown extra fields are accepted;
* a rejected message changes nothing (no sample, event, acknowledgement or stream registration);
* after it, a valid message on the same connection gets its normal answer.

The bulk drives :class:`attunexr.session.ProtocolHandler` directly (fast, every case counted); a representative
sample then goes over real WebSockets to the standalone session server and to the web app's VR endpoint.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from attunexr.io import read_empatica
from attunexr.recording import Chunk
from attunexr.session import (
    LiveSession,
    ProtocolHandler,
    SessionManager,
    create_live_app,
    encode_binary_samples,
    encode_json_samples,
)

from .conftest import REPORT, fuzz_settings
from .protocol_cases import Case, Template, mutated

T_NOW = 1000.0  # the fuzzing client's clock at hello; every template lies a few seconds before it
BULK_EXAMPLES = 550  # x 40 messages each: >= 20,000 messages through the handler
BULK_PER_EXAMPLE = 40
TARGET_MESSAGES = 20_000
HELLO_EXAMPLES = 1_500  # mutated hellos, each on a fresh connection
WS_EXAMPLES = 60  # x 20 messages each over the standalone server, and again over the web app
CODES = {"bad_json", "bad_frame", "bad_message", "not_finite", "bad_timestamp", "frame_too_large",
         "unsupported_version", "unknown_type", "not_authenticated", "unauthorized"}


# --------------------------------------------------------------------------------------------- templates
def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("attunexr.session").joinpath("schema", name).read_text())


class Schemas:
    """Validators of the published schemas; client messages are checked against their own type's definition."""

    def __init__(self) -> None:
        client, server = _schema("client-messages.json"), _schema("server-messages.json")
        self.by_type = {name: jsonschema.Draft202012Validator({**d, "$defs": client["$defs"]})
                        for name, d in client["$defs"].items()}
        self.binary = jsonschema.Draft202012Validator(_schema("binary-samples-header.json"))
        self.server_by_type = {name: jsonschema.Draft202012Validator({**d, "$defs": server["$defs"]})
                               for name, d in server["$defs"].items()}

    def check_server(self, reply: dict[str, Any]) -> None:
        """A reply follows the published server schema (the definition of its type)."""
        assert reply.get("type") in self.server_by_type, reply
        self.server_by_type[reply["type"]].validate(reply)

    def valid(self, obj: Any, which: str | None) -> bool:
        if which == "binary":
            return bool(self.binary.is_valid(obj))
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or obj["type"] not in self.by_type:
            return False
        return bool(self.by_type[obj["type"]].is_valid(obj))


def _retime(c: Chunk, end: float) -> Chunk:
    return Chunk(c.stream, c.kind, c.timestamps - c.timestamps[-1] + end, c.values, c.rate)


@pytest.fixture(scope="module")
def templates(stress_predict_dir: Path) -> list[Template]:
    """Valid messages of every client type, the samples taken from a real E4 recording (S02)."""
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S02", dataset="stress-predict")
    t0 = rec.t_start + 600.0
    real: dict[str, Chunk] = {}
    for s in rec.streams.values():
        i0 = int(np.searchsorted(s.timestamps, t0))
        n = {"ibi": 3, "hr": 2, "ppg": 8}.get(s.kind, 4)
        real[s.kind] = Chunk(s.name, s.kind, s.timestamps[i0 : i0 + n], s.values[i0 : i0 + n], s.rate)
    end = T_NOW - 2.0
    e4 = [_retime(real[k], end) for k in ("ppg", "eda", "temp", "acc", "hr", "ibi")]
    assert all(len(c) for c in e4) and e4[3].values.shape[1] == 3
    tt = end - 0.1 + np.arange(5) / 50.0
    rng = np.random.default_rng(7)
    quat = rng.normal(size=(5, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    vr = [
        Chunk("head", "head_pose", tt, np.hstack([rng.normal(0, 0.1, (5, 3)) + [0, 1.6, 0], quat]), 50.0),
        Chunk("gaze_s", "gaze", tt, np.tile([0.0, 0.1, 0.995], (5, 1)), 50.0),
        Chunk("pupil_s", "pupil", tt, np.tile([3.1, 3.3], (5, 1)), 50.0),
    ]

    def msg(frame: str | bytes) -> dict[str, Any]:
        if isinstance(frame, bytes):
            hlen = int.from_bytes(frame[4:8], "little")
            return json.loads(frame[8 : 8 + hlen])  # type: ignore[no-any-return]
        return json.loads(frame)  # type: ignore[no-any-return]

    def binary(name: str, chunks: list[Chunk], dtype: str) -> Template:
        frame = encode_binary_samples(chunks, seq=3, sent_at=end, dtype=dtype)
        hlen = int.from_bytes(frame[4:8], "little")
        return Template(name, msg(frame), frame[8 + hlen :])

    t = end - 0.5
    return [
        Template("samples-e4", msg(encode_json_samples(e4, seq=1, sent_at=end))),
        Template("samples-vr", msg(encode_json_samples(vr, seq=2, sent_at=end))),
        Template("head_pose", {"v": 1, "type": "head_pose", "t": t, "position": [0.01, 1.62, 0.0],
                               "rotation": [0.0, 0.1, 0.0, 0.995]}),
        Template("gaze", {"v": 1, "type": "gaze", "t": t, "direction": [0.0, -0.1, 0.995], "pupil_mm": 3.4}),
        Template("event-suds", {"v": 1, "type": "event", "t": t, "label": "suds", "value": 45, "seq": 9}),
        Template("event", {"v": 1, "type": "event", "t": t, "label": "scene_loaded", "value": None}),
        Template("ack", {"v": 1, "type": "ack", "command_id": "c12", "status": "failed", "detail": "no scene"}),
        Template("ping", {"v": 1, "type": "ping", "id": 7}),
        binary("binary-e4-f8", e4, "f8"),  # irregular IBI: timestamps travel in the payload
        binary("binary-f4", [e4[1], e4[3], vr[0]], "f4"),
    ]


# --------------------------------------------------------------------------------------------- the oracle
def _parsed(case: Case) -> Any:
    """The message as the server reads it, for cases whose text was altered blindly (garbage, flips)."""
    if case.obj is not None:
        return case.obj
    try:
        if isinstance(case.frame, bytes):
            hlen = int.from_bytes(case.frame[4:8], "little")
            return json.loads(case.frame[8 : 8 + hlen])
        return json.loads(case.frame)
    except (ValueError, RecursionError):
        return None


def check_reply(case: Case, replies: list[dict[str, Any]], schemas: Schemas) -> dict[str, Any] | None:
    """Assert what the protocol promises about the answer to one message; returns the error, if any."""
    for r in replies:
        schemas.check_server(r)
    errors = [r for r in replies if r["type"] == "error"]
    assert len(errors) <= 1 and len(replies) <= 1, replies
    err = errors[0] if errors else None
    what = f"{case.mutation} of {case.template} at {case.path}: {str(case.frame)[:160]!r}"
    if err is not None:
        assert err["code"] in CODES, (what, err)  # never internal_error
        assert err["message"], what
    expect_error = case.must_fail or (case.schema_decides and not schemas.valid(case.obj, case.schema))
    if case.must_pass:
        assert err is None, (what, err)
    if expect_error:
        assert err is not None, f"accepted a bad message: {what}"
        if case.codes is not None:
            assert err["code"] in case.codes, (what, err)
        structural = err["code"] in ("frame_too_large", "unsupported_version", "not_authenticated") or (
            isinstance(case.frame, bytes) and err["code"] == "bad_frame")
        if case.names and not structural:
            words = set()
            for n in case.names:
                words |= {f"'{n}'", f".{n}", f"{n}["} if len(n) <= 2 else {n}
            assert any(w in err["message"] for w in words), f"error does not name {sorted(case.names)}: {err}"
    return err


class _NoFeatures:
    def push(self, chunk: Chunk) -> list[Any]:
        return []


class CountingSession:
    """The session interface the handler drives, counting what reaches a real LiveSession."""

    def __init__(self, live: LiveSession) -> None:
        self.live = live
        self.session_id = live.session_id
        self.window = live.window
        self.hop = live.hop
        self.samples = self.events = self.acks = 0

    def subscribe(self, topics: set[str], maxsize: int = 256, name: str = "") -> Any:
        return self.live.subscribe(topics, maxsize=maxsize, name=name)

    def unsubscribe(self, sub: Any) -> None:
        self.live.unsubscribe(sub)

    async def put(self, chunk: Chunk) -> None:
        self.samples += len(chunk)
        await self.live.put(chunk)

    async def add_event(self, event: Any, source: str = "vr") -> None:
        self.events += 1
        await self.live.add_event(event, source)

    def acknowledge(self, command_id: str, status: str = "ok", detail: str = "") -> None:
        self.acks += 1
        self.live.acknowledge(command_id, status, detail)

    def state(self) -> tuple[int, int, int]:
        return (self.samples, self.events, self.acks)


async def _send(handler: ProtocolHandler, frame: str | bytes) -> list[dict[str, Any]]:
    return await (handler.handle_bytes(frame) if isinstance(frame, bytes) else handler.handle_text(frame))


def _record(name: str, **row: float) -> None:
    REPORT[name] = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


# --------------------------------------------------------------------------------------------- bulk
def test_protocol_handler_fuzz(templates: list[Template]) -> None:
    """>= 20,000 mutated messages through one connection's handler; none escapes, none drops the link."""
    schemas = Schemas()
    loop = asyncio.new_event_loop()
    # the real session runtime (queue, buffers, quality) without feature extraction: the bulk is about the
    # protocol; the WebSocket passes below run the full pipeline
    manager = SessionManager(window=60.0, hop=10.0, features=_NoFeatures())
    live, token = loop.run_until_complete(manager.open_session(session_id="fuzz"))
    spy = CountingSession(live)
    handler = ProtocolHandler(lambda tok: spy if tok == token else manager.authorize(tok))  # type: ignore[arg-type,return-value]
    welcome = loop.run_until_complete(handler.handle_text(json.dumps(
        {"v": 1, "type": "hello", "token": token, "t_now": T_NOW, "subscribe": ["estimate"]})))
    assert welcome[0]["type"] == "welcome"
    for t in templates:  # every template stream is known before the mutations start
        frame = encode_frame(t)
        replies = loop.run_until_complete(_send(handler, frame))
        assert all(r["type"] != "error" for r in replies), (t.name, replies)
    stats = {"messages": 0, "errors": 0, "accepted": 0, "valid_after": 0}
    by_mutation: dict[str, int] = {}
    started, cpu = time.perf_counter(), time.process_time()

    @fuzz_settings(BULK_EXAMPLES)
    @given(batch=st.lists(mutated(templates), min_size=BULK_PER_EXAMPLE, max_size=BULK_PER_EXAMPLE))
    def run(batch: list[Case]) -> None:
        for case in batch:
            before = (spy.state(), dict(handler._streams))
            replies = loop.run_until_complete(_send(handler, case.frame))
            stats["messages"] += 1
            by_mutation[case.mutation] = by_mutation.get(case.mutation, 0) + 1
            err = check_reply(case, replies, schemas)
            assert not handler.closed and handler.session is spy
            if err is not None:
                stats["errors"] += 1
                assert (spy.state(), dict(handler._streams)) == before, f"a rejected message was used: {case}"
                # the promise, literally: the same connection answers the next valid message normally
                pong = loop.run_until_complete(handler.handle_text('{"v":1,"type":"ping","id":"after"}'))
                assert pong[0]["type"] == "pong" and pong[0]["id"] == "after"
                stats["valid_after"] += 1
            else:
                stats["accepted"] += 1
                parsed = _parsed(Case(case.frame, case.mutation, case.template, obj=case.obj))
                if parsed is not None:
                    accepted = Case(case.frame, case.mutation, case.template, obj=parsed)
                    assert spy.samples - before[0][0] == accepted.samples(), case

    try:
        run()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        loop.run_until_complete(_drain(live, spy.samples))
        assert live.state == "running" and live.samples_in == spy.samples
        _record("protocol-handler", messages=stats["messages"], rejected=stats["errors"],
                accepted=stats["accepted"], valid_after_error=stats["valid_after"], seconds=elapsed, cpu_seconds=cpu,
                mutation_kinds=len(by_mutation))
        assert stats["messages"] >= TARGET_MESSAGES, stats
        assert stats["errors"] > 0.5 * stats["messages"] and stats["accepted"] > 0.05 * stats["messages"]
        assert len(by_mutation) >= 20, by_mutation
    finally:
        handler.close()
        loop.run_until_complete(manager.close_all())
        loop.close()


def encode_frame(t: Template) -> str | bytes:
    from .protocol_cases import pack

    if t.payload is None:
        return json.dumps(t.msg)
    return pack(t.msg, t.payload)


async def _drain(live: LiveSession, expected: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while live.samples_in < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


@st.composite
def hellos(draw: st.DrawFn, token: str) -> Case:
    hello = Template("hello", {"v": 1, "type": "hello", "token": token, "t_now": T_NOW,
                               "client": {"name": "fuzz", "version": "1"}, "subscribe": ["estimate", "quality"]})
    return draw(mutated([hello]))


def test_protocol_hello_fuzz() -> None:
    """Mutated hellos on fresh connections: a refused hello never signs in, and a valid one then works."""
    schemas = Schemas()
    loop = asyncio.new_event_loop()
    manager = SessionManager()
    live, token = loop.run_until_complete(manager.open_session(session_id="fuzz-hello"))
    counts = {"messages": 0, "refused": 0}
    started, cpu = time.perf_counter(), time.process_time()

    @fuzz_settings(HELLO_EXAMPLES)
    @given(case=hellos(token))
    def run(case: Case) -> None:
        handler = ProtocolHandler(manager.authorize)
        replies = loop.run_until_complete(_send(handler, case.frame))
        counts["messages"] += 1
        try:
            if replies and replies[0]["type"] == "welcome":
                schemas.check_server(replies[0])
                assert not case.must_fail, (case.mutation, case.path, case.frame[:300])
                assert handler.session is live
                return
            counts["refused"] += 1
            # an unknown token is schema-valid but refused; any refusal leaves the connection signed out
            if case.mutation == "identity":
                raise AssertionError(f"valid hello refused: {replies}")
            if replies[0]["code"] != "unauthorized":
                check_reply(case, replies, schemas)
            assert handler.session is None and handler.outbox is None
            n_subs = len(live.subscriptions)
            again = loop.run_until_complete(handler.handle_text(json.dumps(
                {"v": 1, "type": "hello", "token": token, "t_now": T_NOW})))
            assert again[0]["type"] == "welcome" and len(live.subscriptions) == n_subs + 1
        finally:
            handler.close()

    try:
        run()
        _record("protocol-hello", messages=counts["messages"], refused=counts["refused"],
                seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu)
        assert counts["messages"] >= HELLO_EXAMPLES and counts["refused"] > HELLO_EXAMPLES // 2
        assert [s for s in live.subscriptions if s.name == "vr-client"] == []  # closed connections leave none
    finally:
        loop.run_until_complete(manager.close_all())
        loop.close()


# --------------------------------------------------------------------------------------------- real WebSockets
class _Server:
    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                                                    ws_max_size=1 << 22))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def session_server() -> Iterator[tuple[str, SessionManager, _Server]]:
    manager = SessionManager(window=60.0, hop=10.0)
    server = _Server(create_live_app(manager))
    yield f"ws://127.0.0.1:{server.port}/live/ws/vr", manager, server
    server.stop()


def _reply(ws: ClientConnection) -> dict[str, Any]:
    while True:
        msg = json.loads(ws.recv(timeout=10))
        if msg["type"] in ("error", "pong", "welcome"):
            return msg  # type: ignore[no-any-return]


def _websocket_pass(url: str, token: str, templates: list[Template], name: str) -> tuple[int, int, int]:
    """Send mutated messages over one real connection: each one answered, the link kept. Returns (messages,
    rejected, samples of the accepted messages)."""
    schemas = Schemas()
    with connect(url, max_size=1 << 22, compression=None) as ws:
        ws.send(json.dumps({"v": 1, "type": "hello", "token": token, "t_now": T_NOW, "subscribe": ["command"]}))
        assert _reply(ws)["type"] == "welcome"
        counts = {"messages": 0, "errors": 0, "samples": 0}
        for t in templates:
            ws.send(encode_frame(t))
            ws.send('{"v":1,"type":"ping","id":0}')
            assert _reply(ws)["type"] == "pong", t.name
            counts["samples"] += Case(encode_frame(t), "identity", t.name, obj=t.msg).samples()
        n = {"i": 0}

        @fuzz_settings(WS_EXAMPLES)
        @given(batch=st.lists(mutated(templates), min_size=20, max_size=20))
        def run(batch: list[Case]) -> None:
            n["i"] += 1  # resynchronise (a failed example, replayed while shrinking, may have left replies unread)
            ws.send(json.dumps({"v": 1, "type": "ping", "id": f"sync-{n['i']}"}))
            while (r := _reply(ws)).get("id") != f"sync-{n['i']}":
                pass
            for case in batch:
                n["i"] += 1
                ws.send(case.frame)
                ws.send(json.dumps({"v": 1, "type": "ping", "id": n["i"]}))  # the next valid message
                replies = []  # the answers to the case, then the pong of the valid message after it
                while (r := _reply(ws)).get("id") != n["i"] or r["type"] != "pong":
                    replies.append(r)
                counts["messages"] += 1
                err = check_reply(case, replies, schemas)
                if err is not None:
                    counts["errors"] += 1
                else:
                    parsed = _parsed(case)
                    if parsed is not None:
                        counts["samples"] += Case(case.frame, case.mutation, case.template, obj=parsed).samples()

        started, cpu = time.perf_counter(), time.process_time()
        run()
        _record(name, messages=counts["messages"], rejected=counts["errors"], seconds=time.perf_counter() - started,
                cpu_seconds=time.process_time() - cpu)
        assert counts["messages"] >= WS_EXAMPLES * 20 and counts["errors"] > 0
        return counts["messages"], counts["errors"], counts["samples"]


def test_protocol_fuzz_over_the_session_server(session_server: tuple[str, SessionManager, _Server],
                                               templates: list[Template]) -> None:
    url, manager, server = session_server
    created = httpx.post(f"http://127.0.0.1:{server.port}/live/sessions", json={"subject": "fuzz"}, timeout=10)
    created.raise_for_status()
    live, token = manager.get(created.json()["session_id"]), created.json()["token"]
    messages, rejected, samples = _websocket_pass(url, token, templates, "protocol-websocket-session-server")
    deadline = time.monotonic() + 20
    while live.samples_in < samples and time.monotonic() < deadline:
        time.sleep(0.05)
    # end to end: exactly the samples of accepted messages reached the session, none of a rejected one
    assert live.samples_in == samples and live.state == "running"


@pytest.fixture(scope="module")
def web_vr_session(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[tuple[str, str, Any]]:
    """The web app on a loopback port with a running session whose signals come from the VR client."""
    from attunexr.store import TherapySession
    from attunexr.web import Settings, create_app

    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("fuzz-web"), dataset_dir=data_dir, speed=5.0))
    server = _Server(app)
    services = app.state.services
    demo = services.ensure_demo("fuzz-web-password-7Q2x", scenario="spiders")
    base = f"http://127.0.0.1:{server.port}"
    login = httpx.post(f"{base}/api/auth/token", json={"username": "clinician",
                                                       "password": "fuzz-web-password-7Q2x"}, timeout=30)
    login.raise_for_status()
    with httpx.Client(base_url=base, timeout=30,
                      headers={"Authorization": f"Bearer {login.json()['access_token']}"}) as c:
        r = c.post(f"/api/patients/{demo.patient_id}/sessions",
                   json={"scenario": "spiders", "source": "client", "speed": 5,
                         "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        with services.db.begin() as db:
            token = db.get(TherapySession, sid).vr_token
        yield f"ws://127.0.0.1:{server.port}/ws/vr/{sid}", token, services.live.get(sid)
        c.post(f"/api/sessions/{sid}/stop")
    server.stop()


def test_protocol_fuzz_over_the_web_app(web_vr_session: tuple[str, str, Any], templates: list[Template]) -> None:
    url, token, runner = web_vr_session
    messages, rejected, samples = _websocket_pass(url, token, templates, "protocol-websocket-web-app")
    deadline = time.monotonic() + 20
    while runner.live.samples_in < samples and time.monotonic() < deadline:
        time.sleep(0.05)
    # the client's samples feed the session's pipeline: exactly those of accepted messages, and it still runs
    assert runner.live.samples_in == samples
    assert runner.state == "running" and not any(a.get("monitor") == "runtime" for a in runner.alerts)
