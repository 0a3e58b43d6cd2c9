"""Fixtures for sensor tests: real LSL outlets streaming a real Stress-Predict recording from a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attunexr.io import read_empatica
from attunexr.recording import Recording

LSL_TYPES = {"ppg": "PPG", "eda": "EDA", "temp": "TEMP", "acc": "ACC", "hr": "HR"}


@pytest.fixture(scope="session")
def s02_minutes(stress_predict_dir: Path) -> Recording:
    """Three minutes of Stress-Predict S02 read with ``read_empatica``."""
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S02", dataset="stress-predict")
    return rec.crop(rec.t_start, rec.t_start + 180.0)


class OutletPlayer:
    """Streams the regular streams of a recording through real pylsl outlets, ``speed`` times faster than real time.

    Sample timestamps are ``base + t`` on the LSL clock, so the receiving session sees the recording clock.
    """

    def __init__(self, rec: Recording, prefix: str, speed: float = 30.0, chunk: float = 0.25) -> None:
        import pylsl

        self.rec, self.speed, self.chunk = rec, speed, chunk
        self.base = pylsl.local_clock()
        self.outlets = {}
        for name, s in rec.streams.items():
            if s.rate is None or s.kind not in LSL_TYPES:
                continue
            info = pylsl.StreamInfo(
                f"{prefix}{name}",
                LSL_TYPES[s.kind],
                s.n_channels,
                s.rate,
                pylsl.cf_double64,
                f"{prefix}{name}-uid",
            )
            self.outlets[name] = pylsl.StreamOutlet(info)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.done = threading.Event()
        self.sent = dict.fromkeys(self.outlets, 0)

    def start(self) -> OutletPlayer:
        self.thread.start()
        return self

    def _run(self) -> None:
        t0, t1 = self.rec.t_start, self.rec.t_end
        wall0 = time.perf_counter()
        edges = np.arange(t0, t1 + self.chunk, self.chunk)
        for a, b in zip(edges[:-1], edges[1:], strict=False):
            delay = wall0 + (b - t0) / self.speed - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            for name, out in self.outlets.items():
                s = self.rec.streams[name]
                i0, i1 = np.searchsorted(s.timestamps, [a, b])
                if i1 > i0:
                    vals = s.values[i0:i1].reshape(i1 - i0, -1)
                    for row, ts in zip(vals.tolist(), s.timestamps[i0:i1], strict=True):
                        out.push_sample(row, self.base + ts)
                    self.sent[name] += i1 - i0
        self.done.set()

    def close(self) -> None:
        self.thread.join(30)
        self.outlets.clear()


@pytest.fixture
def outlet_player() -> Iterator[type[OutletPlayer]]:
    yield OutletPlayer
