"""FeatureStream behaviour beyond equality with extract(): lateness, stalls, bad chunks."""

from __future__ import annotations

import numpy as np
import pytest

from attunexr.errors import SignalError
from attunexr.features import FeatureStream, extract
from attunexr.recording import Chunk, Recording, RecordingMeta, Stream


def _temp_and_eda(seconds: float = 200.0) -> Recording:
    t = np.arange(0, seconds, 0.25)
    temp = 33.0 + 0.001 * t
    eda = 1.0 + 0.1 * np.sin(t / 7.0)
    return Recording(
        RecordingMeta("synthetic"),
        {"temp": Stream("temp", "temp", temp, t, 4.0), "eda": Stream("eda", "eda", eda, t, 4.0)},
    )


def test_late_samples_beyond_allowance_are_dropped_and_counted() -> None:
    fs = FeatureStream(window=30.0, hop=10.0, lateness=1.0)
    t = np.arange(0, 20, 0.25)
    fs.push(Chunk("temp", "temp", t[40:], np.full(40, 33.0), 4.0))  # 10-20 s first
    fs.push(Chunk("temp", "temp", t[:40], np.full(40, 33.0), 4.0))  # 0-10 s arrives 10 s late
    assert fs.dropped_samples == 40


def test_stalled_stream_stops_holding_back_windows() -> None:
    rec = _temp_and_eda()
    fs = FeatureStream(window=30.0, hop=10.0, stall_timeout=10.0)
    rows = []
    for chunk in rec.iter_chunks(1.0):
        if chunk.stream == "eda" and chunk.t_first >= 50.0:
            continue  # the EDA sensor stops at 50 s
        rows.extend(fs.push(chunk))
    ends = [r["t_end"] for r in rows]
    assert max(ends) >= 180.0  # temperature kept windows flowing
    late = [r for r in rows if r["t_start"] >= 50.0]
    assert late and all(np.isnan(r["scl_mean"]) and r["q_eda"] == 0.0 for r in late)
    assert all(r["q_temp"] > 0.9 for r in late)


def test_rows_before_flush_match_batch_on_synthetic_data() -> None:
    rec = _temp_and_eda()
    fs = FeatureStream(window=30.0, hop=10.0, lateness=0.0)
    rows = []
    for chunk in rec.iter_chunks(0.7):
        rows.extend(fs.push(chunk))
    rows.extend(fs.flush())
    batch = extract(rec, 30.0, 10.0)
    assert [r["t_end"] for r in rows] == batch["t_end"].tolist()
    assert np.allclose([r["temp_slope"] for r in rows], batch["temp_slope"], rtol=1e-9)
    assert fs.next_window_end == batch["t_end"].iloc[-1] + 10.0


def test_chunk_without_rate_for_a_waveform_is_refused() -> None:
    fs = FeatureStream()
    with pytest.raises(SignalError, match="sampling rate"):
        fs.push(Chunk("ecg", "ecg", np.arange(10) / 130.0, np.zeros(10), None))
    assert fs.push(Chunk("m", "marker", np.array([1.0]), np.array([1.0]))) == []
