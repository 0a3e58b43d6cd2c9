"""The sources a clinician session attaches: a recording replayed on the session clock, samples a VR client pushes,
several sensors as one group, and a simulator stepped one second at a time that follows the exposure."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk, Recording
from attunexr.sensors import (
    ClientSource,
    ExposureDriven,
    IteratorSource,
    QueueSource,
    ReplaySource,
    SensorGroup,
    Source,
    SteppedSource,
)


async def test_replay_on_the_session_clock_and_a_speed_change_midway(s02_minutes: Recording) -> None:
    rec = s02_minutes.crop(0.0, 30.0)
    zero = rec.t_start + 5.0
    src = ReplaySource(rec, speed=math.inf, tmin=zero, clock_zero=zero)
    chunks = [c async for c in src.chunks()]
    eda = rec.streams["eda"]
    keep = eda.timestamps >= zero
    got = [c for c in chunks if c.stream == "eda"]
    np.testing.assert_array_equal(np.concatenate([c.timestamps for c in got]), eda.timestamps[keep] - zero)
    np.testing.assert_array_equal(np.concatenate([c.values for c in got]), eda.values[keep])
    assert min(c.t_first for c in chunks) >= 0.0
    # 10 s at 40x, then the rest as fast as possible: the pace follows the speed from the next chunk on
    src = ReplaySource(rec.crop(rec.t_start, rec.t_start + 20.0), speed=40.0, streams=["eda"])
    t0 = time.perf_counter()
    n = 0
    async for c in src.chunks():
        n += 1
        if c.t_last - rec.t_start > 10.0 and src.speed != math.inf:
            src.speed = math.inf
    assert n >= 19 and time.perf_counter() - t0 < 10.0 / 40.0 + 0.5


async def test_client_source_maps_the_client_clock_to_the_session_clock() -> None:
    now = [12.0]
    src = ClientSource(session_clock=lambda: now[0])
    assert isinstance(src, Source)
    await src.start()
    await src.put(Chunk("eda", "eda", 1000.0 + np.arange(4) / 4, np.full(4, 2.0), 4.0))
    await src.put(Chunk("eda", "eda", 1001.0 + np.arange(4) / 4, np.full(4, 2.1), 4.0))
    await src.stop()
    got = [c async for c in src.chunks()]
    assert [c.t_first for c in got] == [12.0, 13.0]  # the first chunk lands at the session's now
    np.testing.assert_array_equal(got[1].values, np.full(4, 2.1))


class _Dying(QueueSource):
    async def chunks(self):  # type: ignore[override]
        yield Chunk("ppg", "ppg", np.arange(4) / 64, np.zeros(4), 64.0)
        raise ConnectionError("strap out of range")


async def test_sensor_group_shares_one_clock_and_survives_a_failing_member() -> None:
    class Clocked(IteratorSource):
        clock_zero: float | None = None

    a = Clocked([Chunk("eda", "eda", [0.0, 0.25], [1.0, 1.1], 4.0)], name="eda")
    b = _Dying(name="ppg")
    group = SensorGroup([a, b], "test sensors", clock=lambda: 123.5)
    await group.start()
    assert a.clock_zero == 123.5
    got = [c async for c in group.chunks()]
    await group.stop()
    assert sorted(c.stream for c in got) == ["eda", "ppg"]
    assert group.errors == ["ppg: strap out of range"]
    with pytest.raises(ConfigurationError):
        SensorGroup([], "nothing")


async def test_a_member_that_cannot_start_fails_the_group_start() -> None:
    class Missing(QueueSource):
        async def start(self) -> None:
            raise ConfigurationError("no LSL stream with name 'EDA' found")

    ok = QueueSource(name="ok")
    group = SensorGroup([ok, Missing(name="eda")], "LSL EDA")
    with pytest.raises(ConfigurationError, match="no LSL stream"):
        await group.start()
    assert ok.stopped  # the member that had started is closed again


async def test_stepped_source_follows_level_pause_and_speed() -> None:
    seen: list[tuple[float, int, bool]] = []

    def step(t: float, level: int, paused: bool) -> list[Chunk] | None:
        seen.append((t, level, paused))
        return None if t >= 6 else [Chunk("hr", "hr", [t + 0.5], [60.0 + 10 * level])]

    src = SteppedSource(step, speed=50.0, level=1)
    assert isinstance(src, ExposureDriven)
    out = []
    t0 = time.perf_counter()
    async for c in src.chunks():
        out.append(c)
        if c.t_first == 1.5:
            src.set_level(3)
        if c.t_first == 3.5:
            src.set_paused(True)
    wall = time.perf_counter() - t0
    assert [c.values[0] for c in out] == [70.0, 70.0, 90.0, 90.0, 90.0, 90.0]
    assert [p for _, _, p in seen] == [False] * 4 + [True] * 3
    assert 6 / 50.0 * 0.8 <= wall < 2.0  # paced: second t is delivered at (t + 1) / speed
    with pytest.raises(ConfigurationError):
        SteppedSource(step, speed=0)
    fast = SteppedSource(step, speed=math.inf)
    assert len([c async for c in fast.chunks()]) == 6
    await asyncio.sleep(0)
