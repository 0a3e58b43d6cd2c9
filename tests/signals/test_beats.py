"""Beat detection on synthetic pulses with a known rate and on real Polar H10 ECG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attunexr.io.datasets import get_dataset
from attunexr.signals import ECG_PARAMS, PPG_PARAMS, BlockPeakDetector, clean_intervals, ecg_peaks, ppg_peaks


def _synthetic_ppg(rr: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    beats = np.cumsum(rr)
    t = np.arange(0, beats[-1] + 1.0, 1 / rate)
    x = np.zeros_like(t)
    for b in beats:
        x += np.exp(-0.5 * ((t - b) / 0.08) ** 2) + 0.3 * np.exp(-0.5 * ((t - b - 0.3) / 0.08) ** 2)
    return x, beats


def test_ppg_peaks_recover_a_known_rhythm() -> None:
    rng = np.random.default_rng(3)
    rr = 0.8 + 0.05 * np.sin(np.arange(150) / 3) + rng.normal(0, 0.01, 150)
    x, beats = _synthetic_ppg(rr, 64.0)
    peaks = ppg_peaks(x + rng.normal(0, 0.02, x.size), 64.0)
    found = np.diff(peaks) / 64.0
    assert abs(peaks.size - beats.size) <= 2
    assert abs(np.median(found) - np.median(rr)) < 0.02
    assert clean_intervals(found).mean() > 0.95


def test_ecg_peaks_on_real_polar_ecg_chunk_invariant(vr_cybersickness_dir: Path) -> None:
    rec = get_dataset("vr-cybersickness").load("train-3", data_dir=vr_cybersickness_dir.parent)
    ecg = rec.pick("ecg")
    assert ecg is not None and ecg.rate is not None
    peaks = ecg_peaks(ecg.values, ecg.rate)
    rr = np.diff(peaks) / ecg.rate
    hr = 60 / rr.mean()
    assert 50 < hr < 130  # a seated adult on a roller coaster
    assert clean_intervals(rr).mean() > 0.95
    det = BlockPeakDetector(ecg.rate, ECG_PARAMS)
    rng = np.random.default_rng(0)
    i = 0
    while i < ecg.n_samples:
        k = int(rng.integers(1, 300))
        det.update(ecg.timestamps[i : i + k], ecg.values[i : i + k])
        i += k
    assert np.array_equal(det.peak_times, ecg.timestamps[peaks])


def test_detector_restarts_after_gap_and_drops_nan() -> None:
    x, _ = _synthetic_ppg(np.full(80, 0.75), 64.0)
    t = np.arange(x.size) / 64.0
    t[x.size // 2 :] += 30.0  # a 30 s sensor gap
    x[100:110] = np.nan
    det = BlockPeakDetector(64.0, PPG_PARAMS)
    det.update(t, x)
    rr = np.diff(det.peak_times)
    assert np.any(rr > 25)  # the gap is visible as one long interval, which cleaning rejects
    assert not clean_intervals(rr)[rr > 25].any()


def _rmssd(times: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.diff(np.diff(times)) ** 2)))


def test_ppg_peak_times_are_sub_sample_and_undelayed() -> None:
    """At 64 Hz a sample is 15.6 ms; zero-phase filtering and interpolation time each pulse within a millisecond."""
    rng = np.random.default_rng(5)
    rr = 0.8 + 0.03 * np.sin(np.arange(200) / 2.0) + rng.normal(0, 0.02, 200)
    x, beats = _synthetic_ppg(rr, 64.0)
    det = BlockPeakDetector(64.0, PPG_PARAMS)
    det.update(np.arange(x.size) / 64.0, x)
    tp = det.peak_times
    assert abs(tp.size - beats.size) <= 1
    nearest = beats[np.abs(tp[:, None] - beats[None, :]).argmin(axis=1)]
    err = tp - nearest
    assert np.max(np.abs(err)) < 0.002  # no filter delay left, no whole-sample steps
    rounded = np.round(tp * 64.0) / 64.0
    assert abs(_rmssd(tp) - _rmssd(nearest)) < 0.4 * abs(_rmssd(rounded) - _rmssd(nearest))


def test_ppg_detector_on_real_wrist_ppg_chunk_invariant(stress_predict_dir: Path) -> None:
    rec = get_dataset("stress-predict").load("S13", data_dir=stress_predict_dir.parent)
    ppg = rec.pick("ppg")
    assert ppg is not None and ppg.rate is not None
    ppg = ppg.crop(800.0, 1400.0)
    whole = BlockPeakDetector(ppg.rate, PPG_PARAMS)
    whole.update(ppg.timestamps, ppg.values)
    rr = np.diff(whole.peak_times)
    assert 40 < 60 / rr.mean() < 140
    assert clean_intervals(rr).mean() > 0.8
    # peaks sit on the sample grid plus a sub-sample offset, not on it
    frac = (whole.peak_times - ppg.timestamps[0]) * ppg.rate % 1.0
    assert np.mean((frac > 0.05) & (frac < 0.95)) > 0.5
    pieces = BlockPeakDetector(ppg.rate, PPG_PARAMS)
    rng = np.random.default_rng(1)
    i = 0
    while i < ppg.n_samples:
        k = int(rng.integers(1, 200))
        pieces.update(ppg.timestamps[i : i + k], ppg.values[i : i + k])
        i += k
    assert np.array_equal(pieces.peak_times, whole.peak_times)
    # a live consumer waits for the FIR's delay before treating peaks as final
    assert whole.lookahead > PPG_PARAMS.zero_phase
