"""Head-motion features: live = offline on real rides, and the pose-derived path measures what it should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.features import FEATURE_COLUMNS, FeatureStream, extract
from attunexr.io.datasets import get_dataset
from attunexr.recording import Recording, RecordingMeta, Stream

from .conftest import random_chunks

HEAD = [c for c in FEATURE_COLUMNS if c.startswith("head_")] + ["q_motion"]


def _live(rec: Recording, window: float, hop: float, seed: int) -> pd.DataFrame:
    fs = FeatureStream(window=window, hop=hop)
    rows: list[dict[str, object]] = []
    for chunk in random_chunks(rec, seed, max_seconds=6.0):
        rows.extend(fs.push(chunk))
    rows.extend(fs.flush())
    assert fs.dropped_samples == 0
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("session", "seed"), [("PA100_Reverse_Optical_Flow", 1), ("PA10_Base_1_32_26_PM", 2), ("PA201_Noise", 3)]
)
def test_real_rides_in_random_chunks_equal_batch(vr_fms_motion_dir: Path, session: str, seed: int) -> None:
    ds = get_dataset("vr-fms-motion")
    rec = ds.load_session(session, vr_fms_motion_dir.parent)
    batch = extract(rec, window=20.0, hop=5.0)
    live = _live(rec, 20.0, 5.0, seed)
    assert len(batch) == len(live) >= 40
    assert np.array_equal(batch["t_end"].to_numpy(), live["t_end"].to_numpy())
    a, b = batch[HEAD].to_numpy(dtype=float), live[HEAD].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    fin = ~np.isnan(a)
    assert np.allclose(a[fin], b[fin], rtol=1e-9, atol=1e-12)
    # the ride's windows do carry head-motion features (not an all-NaN comparison)
    ride = batch["t_end"] <= rec.intervals[0].end
    assert batch.loc[ride, "head_ang_speed_mean"].notna().mean() > 0.9
    assert batch.loc[ride, "head_jerk_mean"].notna().mean() > 0.9
    assert batch.loc[ride, "head_ang_power_fast"].notna().mean() > 0.9


def test_pose_derived_motion_measures_known_rotation() -> None:
    """A head turning at 0.5 rad/s about the vertical axis, sampled at 2 Hz, still and then turning."""
    t = np.arange(0.0, 60.0, 0.5)
    omega = np.where(t < 30.0, 0.0, 0.5)
    angle = np.concatenate([[0.0], np.cumsum(omega[1:] * 0.5)])
    quat = np.stack([np.zeros_like(t), np.sin(angle / 2), np.zeros_like(t), np.cos(angle / 2)], axis=1)
    pos = np.zeros((t.size, 3))
    rec = Recording(
        meta=RecordingMeta(subject="x"),
        streams={"head": Stream("head", "head_pose", np.concatenate([pos, quat], axis=1), t)},
    )
    df = extract(rec, window=20.0, hop=10.0)
    still = df[df["t_end"] <= 30.0]
    moving = df[df["t_start"] >= 30.0]
    assert (still["head_ang_speed_mean"] == 0.0).all() and (still["head_stillness"] == 1.0).all()
    assert np.allclose(moving["head_ang_speed_mean"], 0.5) and (moving["head_stillness"] == 0.0).all()
    assert np.allclose(moving["head_acc_mean"], 0.0)
