"""File replay at 1x..Nx, the iterator (simulator) hook, the queue source, and the public API."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

import attunexr.privacy
import attunexr.sensors
import attunexr.session
from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk
from attunexr.sensors import IteratorSource, QueueSource, ReplaySource, SimulatorSource, Source


async def test_replay_speed_and_content(s02_minutes) -> None:
    rec = s02_minutes.crop(0.0, 40.0)
    src = ReplaySource(rec, speed=20.0, chunk_seconds=1.0)
    assert isinstance(src, Source)
    t0 = time.perf_counter()
    chunks = [c async for c in src.chunks()]
    wall = time.perf_counter() - t0
    span = rec.t_end - rec.t_start
    assert span / 20.0 * 0.85 <= wall <= span / 20.0 + 1.0  # paced at 20x, not as fast as possible
    for name, s in rec.streams.items():
        got = [c for c in chunks if c.stream == name]
        if s.n_samples:
            np.testing.assert_array_equal(np.concatenate([c.values for c in got]), s.values)
            np.testing.assert_array_equal(np.concatenate([c.timestamps for c in got]), s.timestamps)
    assert all(c.received_at > 0 for c in chunks)
    fast = [c async for c in ReplaySource(rec, speed=math.inf, streams=["eda"]).chunks()]
    assert {c.stream for c in fast} == {"eda"} and sum(len(c) for c in fast) == rec.streams["eda"].n_samples
    with pytest.raises(ConfigurationError):
        ReplaySource(rec, speed=0)
    with pytest.raises(ConfigurationError, match="no stream"):
        ReplaySource(rec, streams=["nope"])


async def test_iterator_and_queue_sources() -> None:
    async def patient():
        for k in range(5):
            yield Chunk("ecg", "ecg", k + np.arange(130) / 130, np.zeros(130), 130.0)
            await asyncio.sleep(0)

    got = [c async for c in SimulatorSource(patient()).chunks()]
    assert [c.t_first for c in got] == [0, 1, 2, 3, 4]
    got = [c async for c in IteratorSource([Chunk("hr", "hr", [0.0], [70.0])]).chunks()]
    assert got[0].values[0] == 70.0
    q = QueueSource(maxsize=1)
    await q.start()
    await q.put(Chunk("hr", "hr", [0.0], [70.0]))
    blocked = asyncio.create_task(q.put(Chunk("hr", "hr", [1.0], [71.0])))
    await asyncio.sleep(0.02)
    assert not blocked.done()  # bounded: waits, never drops
    out = []

    async def consume():
        async for c in q.chunks():
            out.append(c.values[0])

    task = asyncio.create_task(consume())
    await blocked
    await q.stop()
    await task
    assert out == [70.0, 71.0]


@pytest.mark.parametrize("module", [attunexr.sensors, attunexr.session, attunexr.privacy])
def test_public_api_is_deliberate(module) -> None:
    names = module.__all__
    assert len(names) == len(set(names))
    for n in names:
        assert hasattr(module, n), f"{module.__name__}.__all__ names missing {n}"
    public = {
        n for n in dir(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(module))
    }
    assert public <= set(names) | {"annotations"}, public - set(names)
