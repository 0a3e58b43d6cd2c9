"""Shared helpers of the live benchmarks: session data built from real recordings, a server process."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import numpy as np

from attunexr.recording import Chunk, Recording, Stream

E4_STREAMS = ("bvp", "eda", "temp", "acc", "hr", "ibi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def synth_head_pose(seconds: float, rate: float = 72.0, seed: int = 0) -> Stream:
    """Head pose at 72 Hz (x, y, z in m; quaternion qx, qy, qz, qw): slow sway plus smooth yaw/pitch turns."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    pos = np.stack(
        [
            0.02 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6)),
            1.6 + 0.01 * np.sin(2 * np.pi * 0.25 * t),
            0.02 * np.cos(2 * np.pi * 0.15 * t),
        ],
        axis=1,
    )
    pos += np.cumsum(rng.normal(0, 1e-4, (n, 3)), axis=0)
    yaw = 0.6 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 6)) + np.cumsum(rng.normal(0, 2e-3, n))
    pitch = 0.2 * np.sin(2 * np.pi * 0.07 * t)
    cy, sy, cp, sp = np.cos(yaw / 2), np.sin(yaw / 2), np.cos(pitch / 2), np.sin(pitch / 2)
    quat = np.stack([sp * cy, cp * sy, -sp * sy, cp * cy], axis=1)
    return Stream(
        "head",
        "head_pose",
        np.hstack([pos, quat]),
        t,
        rate=rate,
        channels=("x", "y", "z", "qx", "qy", "qz", "qw"),
    )


def _rebase(s: Stream, t0: float, seconds: float) -> Stream:
    c = s.crop(t0, t0 + seconds)
    return c.shifted(-t0)


def _tile_regular(s: Stream, seconds: float) -> Stream:
    n = int(seconds * s.rate)  # type: ignore[operator]
    reps = int(np.ceil(n / max(s.n_samples, 1)))
    vals = np.concatenate([s.values] * reps)[:n]
    return Stream.regular(s.name, s.kind, vals, s.rate, 0.0)  # type: ignore[arg-type]


def session_recording(e4: Recording, ecg: Stream, offset: float, seconds: float, seed: int) -> Recording:
    """E4 streams of a real Stress-Predict recording from ``offset``, real Polar ECG (130 Hz, looped if short)
    and synthesized head pose, all re-based to a session clock starting at 0."""
    rec = Recording(e4.meta)
    for name in E4_STREAMS:
        if name in e4.streams:
            rec.add_stream(_rebase(e4.streams[name], e4.t_start + offset, seconds))
    rec.add_stream(_tile_regular(ecg, seconds))
    rec.add_stream(synth_head_pose(seconds, seed=seed))
    return rec


@dataclass
class SecondFrames:
    """Per-second chunks of all streams of a session recording."""

    chunks: list[list[Chunk]]

    @classmethod
    def from_recording(cls, rec: Recording, seconds: int) -> SecondFrames:
        out: list[list[Chunk]] = [[] for _ in range(seconds)]
        for s in rec.streams.values():
            edges = np.searchsorted(s.timestamps, np.arange(seconds + 1, dtype=float))
            for k in range(seconds):
                i0, i1 = edges[k], edges[k + 1]
                if i1 > i0:
                    out[k].append(Chunk(s.name, s.kind, s.timestamps[i0:i1], s.values[i0:i1], s.rate))
        return cls(out)
