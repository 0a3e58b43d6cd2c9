"""The live pipeline: live = offline on a real recording, ordering and gaps, back-pressure, hooks, recording."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pandas as pd
import pytest

from attunexr.features import extract
from attunexr.io.datasets import get_dataset
from attunexr.models import ArousalDetector, DetectorState, load_model
from attunexr.models._tasks import targets
from attunexr.recording import Chunk, Event
from attunexr.sensors import IteratorSource, ReplaySource
from attunexr.session import Command, HookContext, LiveSession, SessionLog, SessionRecorder, SessionUpdate


async def _replay(session: LiveSession, rec, speed=math.inf) -> None:
    await session.start()
    await session.attach(ReplaySource(rec, speed=speed))
    await session.stop()


@pytest.fixture(scope="module")
def arousal_detector(data_dir) -> ArousalDetector:
    """A real ArousalDetector (baseline-normalized) fitted on three other Stress-Predict subjects."""
    ds = get_dataset("stress-predict")
    frames = [extract(ds.load(s, data_dir=data_dir), 60.0, 10.0) for s in ("S03", "S04", "S05")]
    rows = pd.concat(frames, ignore_index=True)
    y = targets(rows["label"], ("stroop", "interview", "hyperventilation"), ("baseline", "rest"))
    return ArousalDetector(normalize="baseline").fit(rows, y)


async def test_live_estimates_equal_offline_with_real_detector(s02, arousal_detector) -> None:
    rec = s02.crop(s02.t_start, s02.t_start + 1200.0)
    session = LiveSession("live-eq", window=60.0, hop=10.0, origin=0.0, detector=arousal_detector)
    await _replay(session, rec)
    offline_rows = extract(rec, 60.0, 10.0).drop(columns=["label"])
    offline = arousal_detector.estimate(offline_rows)
    live = list(session.estimates)
    assert len(live) == len(offline) > 100
    assert [e.t_end for e in live] == [e.t_end for e in offline]
    np.testing.assert_allclose([e.probability for e in live], [e.probability for e in offline], rtol=1e-9)
    np.testing.assert_allclose([e.lower for e in live], [e.lower for e in offline], rtol=1e-9)
    assert [e.reason for e in live] == [e.reason for e in offline]
    assert any(e.reason != "collecting_baseline" for e in live)  # the live baseline completes


async def test_sessions_sharing_one_detector_each_own_their_state_and_drop_it_on_stop(s02, arousal_detector) -> None:
    """Two concurrent sessions on one fitted detector give each the estimates it gives alone, even with the same
    recording key (the baseline-normalized detector would mix two people's baselines if they shared a state)."""
    first = s02.crop(s02.t_start, s02.t_start + 600.0)
    second = s02.crop(s02.t_start + 600.0, s02.t_start + 1200.0)  # another stretch: another baseline

    def summary(session: LiveSession) -> list[tuple[float, float, str]]:
        return [(e.t_end, e.probability, e.reason) for e in session.estimates]

    alone = []
    for rec in (first, second):
        session = LiveSession("same-person", window=60.0, hop=10.0, detector=arousal_detector)
        await _replay(session, rec)
        alone.append(summary(session))
    assert alone[0] and alone[1] and alone[0] != alone[1]

    a = LiveSession("same-person", window=60.0, hop=10.0, detector=arousal_detector)
    b = LiveSession("same-person", window=60.0, hop=10.0, detector=arousal_detector)
    assert a.detector_state is None  # created at start
    await a.start()
    await b.start()
    assert isinstance(a.detector_state, DetectorState) and isinstance(b.detector_state, DetectorState)
    assert a.detector_state is not b.detector_state
    await asyncio.gather(a.attach(ReplaySource(first, speed=math.inf)), b.attach(ReplaySource(second, speed=math.inf)))
    state_a = a.detector_state
    assert len(state_a) == 1  # one recording key seen, its history kept in this session's state
    await a.stop()
    assert a.detector_state is None and b.detector_state is not None  # stop drops only its own state
    await b.stop()
    assert b.detector_state is None
    together = [summary(a), summary(b)]
    for got, want in zip(together, alone, strict=True):
        assert [t for t, _, _ in got] == [t for t, _, _ in want]
        assert [r for _, _, r in got] == [r for _, _, r in want]
        np.testing.assert_allclose([p for _, p, _ in got], [p for _, p, _ in want], rtol=1e-12)
    assert any(r != "collecting_baseline" for _, _, r in together[1])


async def test_live_equals_offline_with_the_shipped_stress_model(s02) -> None:
    """The registry's `stress` model behind the live pipeline gives the offline answers, answered windows included."""
    detector = load_model("stress")
    rec = s02.crop(s02.t_start, s02.t_start + 1200.0)
    session = LiveSession("live-eq-shipped", window=60.0, hop=10.0, origin=0.0, detector=detector)
    await _replay(session, rec)
    offline = detector.estimate(extract(rec, 60.0, 10.0).drop(columns=["label"]))
    live = list(session.estimates)
    assert [e.t_end for e in live] == [e.t_end for e in offline]
    assert [(e.abstained, e.reason) for e in live] == [(e.abstained, e.reason) for e in offline]
    answered = [i for i, e in enumerate(offline) if not e.abstained]
    assert len(answered) >= 20  # the comparison covers real answers, not only abstentions
    np.testing.assert_allclose(
        [live[i].probability for i in answered], [offline[i].probability for i in answered], rtol=1e-9
    )
    for i in answered[:5]:
        assert live[i].contributions.keys() == offline[i].contributions.keys()
        np.testing.assert_allclose(
            list(live[i].contributions.values()), list(offline[i].contributions.values()), rtol=1e-9, atol=1e-12
        )


async def test_live_equals_offline_under_shuffled_late_chunks(s02_short, detector) -> None:
    rec = s02_short
    chunks = list(rec.iter_chunks(1.0))
    rng = np.random.default_rng(3)
    # swap neighbours of each stream now and then: late, out-of-order arrival
    for i in range(0, len(chunks) - 8, 9):
        j = i + int(rng.integers(1, 7))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    session = LiveSession("ooo", detector=detector, reorder_timeout=5.0)
    await session.start()
    await session.attach(IteratorSource(chunks))
    await session.stop()
    offline = detector(extract(rec, 60.0, 10.0))
    assert [e.t_end for e in session.estimates] == [e.t_end for e in offline]
    np.testing.assert_allclose([e.probability for e in session.estimates], [e.probability for e in offline])
    assert all(b.late_samples == 0 and not b.gaps for b in session.buffers.values())


async def test_sensor_gap_shows_as_quality_not_zeros(s02_short, detector) -> None:
    rec = s02_short
    hole = (100.0, 130.0)
    chunks = [c for c in rec.iter_chunks(1.0) if not (c.stream == "bvp" and hole[0] <= c.t_first < hole[1])]
    session = LiveSession("gap", detector=detector, reorder_timeout=0.0)
    sub = session.subscribe({"quality"})
    seen: list[Chunk] = []

    class Spy:
        def __init__(self, inner) -> None:
            self.inner = inner

        def push(self, c: Chunk):
            seen.append(c)
            return self.inner.push(c)

        def flush(self):
            return self.inner.flush()

    session.features = Spy(session.features)
    await session.start()
    await session.attach(IteratorSource(chunks))
    await session.stop()
    gaps = session.buffers["bvp"].gaps
    assert (
        len(gaps) == 1
        and gaps[0][0] == pytest.approx(hole[0], abs=0.1)
        and gaps[0][1] == pytest.approx(hole[1], abs=0.1)
    )
    bvp_t = np.concatenate([c.timestamps for c in seen if c.stream == "bvp"])
    assert not np.any((bvp_t >= hole[0] + 0.1) & (bvp_t < hole[1] - 0.1))  # nothing invented inside the hole
    msgs = [m async for m in sub]
    gap_msgs = [m for m in msgs if m["type"] == "quality" and m["status"] == "gap"]
    assert gap_msgs and gap_msgs[0]["stream"] == "bvp"
    affected = [e for e in session.estimates if e.t_end - 60 < hole[1] and e.t_end > hole[0]]
    assert affected and all(e.quality["q_cardiac"] < 1.0 for e in affected)


async def test_slow_subscriber_never_stalls_and_recorder_keeps_everything(
    tmp_path, master_key, s02_short, detector
) -> None:
    recorder = SessionRecorder(tmp_path / "slow.axr", master_key, flush_interval=0.2)
    session = LiveSession("slow", detector=detector, recorder=recorder)
    slow = session.subscribe({"samples", "estimate"}, maxsize=8, name="never-reads")
    fast = session.subscribe({"estimate"}, maxsize=1000)
    await _replay(session, s02_short)
    n_chunks = sum(1 for _ in s02_short.iter_chunks(1.0))
    n_samples = sum(s.n_samples for s in s02_short.streams.values())
    assert slow.dropped > 0 and slow.dropped_samples > 0 and len(slow) <= 8 + 1
    assert fast.dropped == 0
    got = [m async for m in fast]
    assert sum(m["type"] == "estimate" for m in got) == len(session.estimates) > 0
    log = SessionLog.open(tmp_path / "slow.axr", master_key)
    assert log.complete and len(log.chunks) == n_chunks
    assert sum(len(c) for c in log.chunks) == n_samples == session.samples_in
    assert len(log.records_of("estimate")) == len(session.estimates)


async def test_hooks_get_estimates_and_events_and_their_commands_are_delivered(s02_short, detector) -> None:
    updates: list[SessionUpdate] = []

    def controller(update: SessionUpdate):
        updates.append(update)
        if update.kind == "event" and update.event is not None and update.event.label == "suds":
            update.context.record("decision", {"why": "SUDS in window"}, t=update.t)
            return [Command("set_level", level=2, params={"height_m": 10}, reason="SUDS in window")]
        return None

    def broken(update: SessionUpdate):
        raise RuntimeError("a buggy monitor")

    session = LiveSession("hooks", detector=detector, hooks=[controller, broken])
    vr = session.subscribe({"command"}, maxsize=1)
    decisions = session.subscribe({"decision"})
    await session.start()
    await session.attach(ReplaySource(s02_short, speed=math.inf))
    await session.add_event(Event(150.0, "suds", 45.0))
    msg = await asyncio.wait_for(vr.get(), 5)
    assert msg["command"] == "set_level" and msg["level"] == 2 and msg["params"] == {"height_m": 10}
    session.acknowledge(msg["id"])
    assert (await session.wait_ack(msg["id"], 1.0))["status"] == "ok"
    await session.stop()
    kinds = {u.kind for u in updates}
    assert {"estimate", "event", "quality", "ack"} <= kinds
    # hooks see a narrow context (id, clock, record, send), never the session object
    assert all(isinstance(u.context, HookContext) and u.context.session_id == "hooks" for u in updates)
    assert not any(hasattr(u, "session") or hasattr(u.context, "buffers") for u in updates)
    decision = [m async for m in decisions]
    assert [m["data"]["why"] for m in decision if m["type"] == "decision"] == ["SUDS in window"]
    assert session.context.now() == session.now() == max(b.last_t for b in session.buffers.values())
    assert all(u.row is not None and "hr_mean" in u.row for u in updates if u.kind == "estimate")
    assert session.hook_errors >= len(updates) - 1  # the broken hook failed every time, the session went on


async def test_backpressure_put_waits_instead_of_dropping(s02_short, detector) -> None:
    session = LiveSession("bp", detector=detector, queue_size=2)
    chunks = list(s02_short.iter_chunks(1.0))
    # not started: the queue fills and put() must wait, not drop
    await session.put(chunks[0])
    await session.put(chunks[1])
    blocked = asyncio.create_task(session.put(chunks[2]))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    await session.start()
    await asyncio.wait_for(blocked, 2)
    for c in chunks[3:]:
        await session.put(c)
    await session.stop()
    assert session.samples_in == sum(len(c) for c in chunks)


async def test_a_failing_stage_is_counted_and_the_session_goes_on(tmp_path, master_key, s02_short) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.n = 0

        def push(self, c: Chunk):
            self.n += 1
            if self.n == 5:
                raise IndexError("a bug in a feature stage")
            return [{"t_start": c.t_first, "t_end": c.t_last, "hr_mean": 70.0}] if c.stream == "hr" else []

    recorder = SessionRecorder(tmp_path / "flaky.axr", master_key)
    session = LiveSession("flaky", features=Flaky(), detector=lambda rows: [], recorder=recorder)
    await _replay(session, s02_short)
    assert session.pipeline_errors == 1 and session.state == "stopped"
    n_chunks = sum(1 for _ in s02_short.iter_chunks(1.0))
    assert session.features.n == n_chunks  # every chunk after the failure was still processed
    assert len(SessionLog.open(tmp_path / "flaky.axr", master_key).chunks) == n_chunks  # and recorded


async def test_application_topics_reach_only_their_subscribers_and_commands_are_never_dropped(
    s02_short, detector
) -> None:
    """``extra_topics`` + ``publish``: an app (the web dashboard) shares the session's mailboxes."""
    from attunexr.errors import ConfigurationError

    session = LiveSession("app-topics", detector=detector, extra_topics=("dashboard",))
    with pytest.raises(ConfigurationError, match="unknown topics"):
        session.subscribe({"nonsense"})
    with pytest.raises(ConfigurationError, match="unknown topic 'nonsense'"):
        session.publish("nonsense", {"type": "x"})
    with pytest.raises(ConfigurationError):
        LiveSession("plain").subscribe({"dashboard"})
    dash = session.subscribe({"dashboard"}, maxsize=3, name="dashboard")
    vr = session.subscribe({"estimate", "command", "end"}, maxsize=2, name="vr")
    await session.start()
    for i in range(10):
        session.publish("dashboard", {"type": "vitals", "i": i})
        session.publish("command", {"v": 1, "type": "command", "id": f"x{i}", "command": "pause"})
    await session.attach(ReplaySource(s02_short, speed=math.inf))
    await session.stop()
    got_dash = [m async for m in dash]
    assert [m["i"] for m in got_dash] == [7, 8, 9] and dash.dropped == 7  # bounded: oldest dropped
    got_vr = [m async for m in vr]
    assert [m["id"] for m in got_vr if m["type"] == "command"] == [f"x{i}" for i in range(10)]
    assert [m["type"] for m in got_vr].count("end") == 1 and not any(m["type"] == "vitals" for m in got_vr)
    assert len(session.estimates) > 0 and vr.dropped > 0  # estimates flowed and were dropped, commands never
