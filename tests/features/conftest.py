"""Fixtures for feature tests: real recordings and a helper that replays them as random-sized chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attunexr.io.datasets import get_dataset
from attunexr.recording import Chunk, Recording


@pytest.fixture(scope="session")
def stress_recording(stress_predict_dir: Path) -> Recording:
    """Stress-Predict S05 (E4: BVP, EDA, TEMP, ACC, HR, IBI), first 20 minutes."""
    rec = get_dataset("stress-predict").load("S05", data_dir=stress_predict_dir.parent)
    return rec.crop(0.0, 1200.0)


@pytest.fixture(scope="session")
def vr_recording(vr_cybersickness_dir: Path) -> Recording:
    """VR-cybersickness train-3: E4 streams, Polar H10 ECG at 130 Hz, gaze and pupil."""
    return get_dataset("vr-cybersickness").load("train-3", data_dir=vr_cybersickness_dir.parent)


def random_chunks(
    rec: Recording, seed: int, max_seconds: float = 3.0, shuffle_neighbours: bool = False
) -> list[Chunk]:
    """Every stream cut into chunks of random sizes (1 sample to ``max_seconds``), interleaved by time."""
    rng = np.random.default_rng(seed)
    chunks: list[Chunk] = []
    for s in rec.streams.values():
        rate = s.rate or 50.0
        i = 0
        while i < s.n_samples:
            k = int(rng.integers(1, max(2, int(rate * max_seconds))))
            chunks.append(Chunk(s.name, s.kind, s.timestamps[i : i + k], s.values[i : i + k], s.rate))
            i += k
    chunks.sort(key=lambda c: c.t_first)
    if (
        shuffle_neighbours
    ):  # deliver some chunks of the same stream out of order (within the lateness allowance)
        by_stream: dict[str, list[int]] = {}
        for idx, c in enumerate(chunks):
            by_stream.setdefault(c.stream, []).append(idx)
        for idxs in by_stream.values():
            for a, b in zip(idxs[::2], idxs[1::2], strict=False):
                if chunks[b].t_last - chunks[a].t_first < 0.8 and rng.random() < 0.5:
                    chunks[a], chunks[b] = chunks[b], chunks[a]
    return chunks
