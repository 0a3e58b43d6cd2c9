"""Live = offline: FeatureStream fed random-sized chunks of real recordings reproduces extract()."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attunexr.features import FEATURE_COLUMNS, QUALITY_COLUMNS, FeatureStream, extract
from attunexr.recording import Recording, Stream

from .conftest import random_chunks

NUMERIC = list(FEATURE_COLUMNS) + [q for q in QUALITY_COLUMNS if q != "quality_ok"]


def _stream_rows(rec: Recording, window: float, hop: float, seed: int, shuffle: bool = False) -> pd.DataFrame:
    fs = FeatureStream(window=window, hop=hop, dataset=rec.meta.dataset, subject=rec.meta.subject)
    rows: list[dict[str, object]] = []
    for chunk in random_chunks(rec, seed, shuffle_neighbours=shuffle):
        rows.extend(fs.push(chunk))
    rows.extend(fs.flush())
    assert fs.dropped_samples == 0
    return pd.DataFrame(rows)


def _assert_same(batch: pd.DataFrame, live: pd.DataFrame) -> None:
    assert len(batch) == len(live) > 0
    assert np.array_equal(batch["t_end"].to_numpy(), live["t_end"].to_numpy())
    assert np.array_equal(batch["t_start"].to_numpy(), live["t_start"].to_numpy())
    a = batch[NUMERIC].to_numpy(dtype=float)
    b = live[NUMERIC].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    finite = ~np.isnan(a)
    assert np.all(np.abs(a[finite] - b[finite]) <= 1e-6 * np.maximum(np.abs(a[finite]), 1e-9))
    assert (batch["quality_ok"].to_numpy() == live["quality_ok"].to_numpy()).all()
    assert (batch["subject"] == live["subject"]).all()


def test_stress_predict_random_chunks_equal_batch(stress_recording: Recording) -> None:
    batch = extract(stress_recording, window=60.0, hop=10.0)
    assert batch["hr_mean"].notna().mean() > 0.9 and batch["scl_mean"].notna().all()
    _assert_same(batch, _stream_rows(stress_recording, 60.0, 10.0, seed=11))


def test_out_of_order_chunks_are_sorted_in(stress_recording: Recording) -> None:
    rec = stress_recording.crop(0.0, 400.0)
    batch = extract(rec, window=60.0, hop=10.0)
    _assert_same(batch, _stream_rows(rec, 60.0, 10.0, seed=5, shuffle=True))


def test_vr_polar_ecg_random_chunks_equal_batch(vr_recording: Recording) -> None:
    batch = extract(vr_recording, window=60.0, hop=5.0)
    # ECG is preferred over the wrist PPG, and a clean chest ECG gives high cardiac quality
    assert (batch["q_cardiac"] > 0.9).all()
    assert batch["pupil_mean"].between(1.5, 9.0).all()
    _assert_same(batch, _stream_rows(vr_recording, 60.0, 5.0, seed=3))


def test_windows_wait_for_every_stream(vr_recording: Recording) -> None:
    """No row is emitted before every stream has data past the window's end (plus the detector look-ahead)."""
    fs = FeatureStream(window=30.0, hop=10.0)
    seen_until: dict[str, float] = {}
    for chunk in random_chunks(vr_recording, seed=9):
        seen_until[chunk.stream] = max(seen_until.get(chunk.stream, -np.inf), chunk.t_last)
        for row in fs.push(chunk):
            t_end = float(row["t_end"])  # type: ignore[arg-type]
            regular = [n for n, s in vr_recording.streams.items() if s.kind not in ("ibi", "hr")]
            assert all(seen_until.get(n, -np.inf) >= t_end for n in regular)


def test_recording_with_nan_gaps_random_chunks_equal_batch(stress_recording: Recording) -> None:
    """Gaps read from BIDS ``n/a`` (NaN samples) give the same rows live and offline, and raise gap_fraction."""
    rec = stress_recording.crop(0.0, 600.0)
    streams = {}
    for name, s in rec.streams.items():
        values = s.values.astype(float).copy()
        t = s.timestamps - s.timestamps[0]
        lost = ((t >= 200.0) & (t < 275.0)) | ((t >= 400.0) & (t < 406.0))
        if s.rate is not None:
            values[lost] = np.nan
            streams[name] = Stream(s.name, s.kind, values, s.timestamps, s.rate, s.unit, s.channels, s.device)
        else:  # an irregular stream (beat intervals) has no samples where the gap is
            keep = ~lost
            streams[name] = Stream(s.name, s.kind, values[keep], s.timestamps[keep], None, s.unit, s.channels)
    gappy = Recording(rec.meta, streams, rec.intervals)
    batch = extract(gappy, window=60.0, hop=10.0)
    t_end = batch["t_end"].to_numpy()
    inside = (t_end - 60.0 >= 200.0) & (t_end <= 275.0)
    assert inside.any() and (batch.loc[inside, "gap_fraction"] == 1.0).all()
    assert (batch.loc[inside, ["q_cardiac", "q_eda"]] == 0.0).all().all()
    assert batch.loc[inside, ["hr_mean", "scl_mean"]].isna().all().all()
    clean = (t_end <= 200.0) & (t_end > 130.0)
    assert (batch.loc[clean, "gap_fraction"] < 0.01).all()
    _assert_same(batch, _stream_rows(gappy, 60.0, 10.0, seed=17))
