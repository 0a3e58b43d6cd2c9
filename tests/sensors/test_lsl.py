"""Real LSL outlets (pylsl, in-process, in a thread) streaming a real Stress-Predict recording into a live session."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pylsl
import pytest

from attunexr.errors import ConfigurationError
from attunexr.features import FeatureStream, extract
from attunexr.sensors import LSLSource
from attunexr.session import LiveSession, SessionLog, SessionRecorder


def _hr_detector(rows):
    from attunexr.models import Estimate

    out = []
    for t, hr in zip(rows["t_end"], rows["hr_mean"], strict=True):
        p = float(1 / (1 + np.exp(-(hr - 80) / 8))) if np.isfinite(hr) else float("nan")
        out.append(Estimate(float(t), p, p, p, not np.isfinite(p), "", {}, "hr-logistic"))
    return out


async def test_lsl_stream_of_real_recording_is_received_processed_and_recorded(
    tmp_path, s02_minutes, outlet_player
) -> None:
    from attunexr.privacy import MasterKey, generate_data_key

    key = MasterKey(generate_data_key())
    player = outlet_player(s02_minutes, prefix="axr-test-", speed=30.0)
    recorder = SessionRecorder(tmp_path / "lsl.axr", key, flush_interval=0.5)
    # replayed 30x faster than real time, a thread hiccup of 0.4 s is 12 s of signal: the feature driver must not
    # treat that as a stalled sensor (its stall timeout is on the signal clock), so it gets a generous one here
    session = LiveSession(
        "lsl",
        detector=_hr_detector,
        recorder=recorder,
        window=60.0,
        hop=10.0,
        features=lambda: FeatureStream(60.0, 10.0, stall_timeout=120.0),
    )
    sources = [
        LSLSource(type=t, name=f"axr-test-{n}", stream=n, clock_zero=player.base, pull_interval=0.05)
        for n, t in (("bvp", "PPG"), ("eda", "EDA"), ("temp", "TEMP"), ("acc", "ACC"), ("hr", "HR"))
    ]
    await session.start()
    for s in sources:
        session.attach(s)
    await asyncio.sleep(0.3)  # inlets connect before the first sample is pushed
    player.start()
    expected = {n: s02_minutes.streams[n].n_samples for n in player.outlets}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = {n: b.n_samples for n, b in session.buffers.items()}
        if player.done.is_set() and got == expected:
            break
        await asyncio.sleep(0.1)
    assert {n: b.n_samples for n, b in session.buffers.items()} == expected
    for s in sources:
        assert s.kind is not None and s.rate == s02_minutes.streams[s.stream].rate
        await s.stop()
    await session.stop()
    player.close()
    # recorded: every sample, values equal; timestamps are LSL's clock-synced, dejittered stamps on the session
    # clock, within microseconds of the recording's
    rec = SessionLog.open(tmp_path / "lsl.axr", key).to_recording()
    for name in expected:
        np.testing.assert_array_equal(rec.streams[name].values, s02_minutes.streams[name].values)
        np.testing.assert_allclose(
            rec.streams[name].timestamps, s02_minutes.streams[name].timestamps, atol=1e-4
        )
    # processed: the live estimates equal the offline ones computed on exactly what was received
    offline = _hr_detector(extract(rec, 60.0, 10.0))
    live = list(session.estimates)
    assert len(offline) >= 12
    # the last window ends exactly at the last sample; whether it is complete depends on the last stamp's
    # rounding, so it may be missing live; every other window must match
    assert len(offline) - 1 <= len(live) <= len(offline)
    assert [e.t_end for e in live] == [e.t_end for e in offline[: len(live)]]
    np.testing.assert_allclose(
        [e.probability for e in live], [e.probability for e in offline[: len(live)]], rtol=1e-9, atol=1e-12
    )


async def test_lsl_source_reconnects_when_the_outlet_returns() -> None:
    def play(stop_after: float, start_value: float) -> None:
        info = pylsl.StreamInfo("axr-reconnect", "EDA", 1, 32.0, pylsl.cf_double64, "axr-reconnect-uid")
        out = pylsl.StreamOutlet(info)
        t_end = time.perf_counter() + stop_after
        v = start_value
        while time.perf_counter() < t_end:
            out.push_chunk([[v + k] for k in range(4)])
            v += 4
            time.sleep(4 / 32)
        del out

    source = LSLSource(name="axr-reconnect", pull_interval=0.05, resolve_timeout=5.0)
    t1 = threading.Thread(target=play, args=(1.5, 0.0))
    t1.start()
    await source.start()
    values: list[float] = []

    async def collect() -> None:
        async for c in source.chunks():
            values.extend(c.values.tolist())

    task = asyncio.create_task(collect())
    await asyncio.to_thread(t1.join)
    await asyncio.sleep(1.0)  # the outlet is gone
    first = len(values)
    t2 = threading.Thread(target=play, args=(1.5, 10_000.0))
    t2.start()
    await asyncio.to_thread(t2.join)
    await asyncio.sleep(0.5)
    await source.stop()
    await task
    assert first > 10 and source.reconnects >= 1
    assert any(v >= 10_000 for v in values[first:]), "no data after the outlet came back"
    assert source.kind == "eda" and source.stream == "axr-reconnect"


async def test_missing_lsl_stream_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no LSL stream"):
        await LSLSource(name="axr-does-not-exist", resolve_timeout=0.2).start()
    with pytest.raises(ConfigurationError):
        LSLSource()
