"""Interval cleaning, EDA decomposition and SCR detection, quality indices."""

from __future__ import annotations

import numpy as np

from attunexr.signals import (
    clean_intervals,
    clipping_fraction,
    eda_decompose,
    flatline_fraction,
    missing_fraction,
    motion_index,
    scr_detect,
    signal_quality,
)


def test_clean_intervals_rejects_missed_and_extra_beats() -> None:
    rr = np.full(40, 0.8)
    rr[10] = 1.6  # missed beat
    rr[20] = 0.4  # extra beat
    rr[30] = 2.5  # out of range
    rr[31] = 0.25
    ok = clean_intervals(rr)
    assert not ok[[10, 20, 30, 31]].any()
    assert ok.sum() == 36


def _scr(t: np.ndarray, onset: float, amp: float) -> np.ndarray:
    s = t - onset
    return np.where(s > 0, amp * (1 - np.exp(-s / 0.75)) * np.exp(-s / 4.0) / 0.6, 0.0)


def test_scr_detection_counts_responses_above_threshold() -> None:
    rate = 4.0
    t = np.arange(0, 120, 1 / rate)
    eda = 2.0 + 0.002 * t
    for onset in (10, 35, 60, 85):
        eda = eda + _scr(t, onset, 0.5)
    eda = eda + _scr(t, 110, 0.03)  # below the 0.1 uS threshold
    _, tonic, phasic = eda_decompose(eda, rate)
    scr = scr_detect(phasic, rate)
    assert len(scr) == 4
    assert np.all(scr.amplitudes > 0.2)
    assert np.all(np.abs(t[scr.peaks] - np.array([10, 35, 60, 85]) - 2.0) < 2.5)
    assert abs(tonic[-40:].mean() - eda[-40:].mean()) < 0.2
    assert len(scr_detect(phasic, rate, amplitude_min=0.01)) == 5


def test_quality_indices() -> None:
    rate = 64.0
    x = np.sin(np.arange(640) / 5.0)
    assert flatline_fraction(x, rate) == 0.0
    flat = x.copy()
    flat[100:300] = 0.3
    assert 0.3 < flatline_fraction(flat, rate) < 0.32
    clipped = np.clip(x, -0.5, 0.5)
    assert clipping_fraction(clipped) > 0.3
    assert clipping_fraction(x) == 0.0
    assert missing_fraction(320, 10.0, rate) == 0.5
    assert motion_index(np.ones(100)) == 0.0
    assert motion_index(1 + np.sin(np.arange(100))) > 0.9
    q = signal_quality(x, rate, 10.0)
    assert q.ok and q.score == 1.0
    bad = signal_quality(flat[:320], rate, 10.0, implausible_beats=0.5)
    assert not bad.ok and bad.score < 0.3
    for v in (bad.missing, bad.flatline, bad.clipping, bad.implausible_beats, bad.motion, bad.score):
        assert 0.0 <= v <= 1.0
