"""Causal filters: chunk invariance, design checks, resampling."""

from __future__ import annotations

import numpy as np
import pytest

from attunexr.errors import SignalError
from attunexr.signals import CausalFilter, butter_sos, filter_causal, resample_irregular


def test_causal_filter_gives_identical_output_in_pieces() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=5000))
    sos = butter_sos("bandpass", (0.5, 8.0), 64.0, 2)
    whole = filter_causal(x, sos)
    filt = CausalFilter(sos)
    cuts = np.sort(rng.choice(np.arange(1, x.size), size=60, replace=False))
    pieces = np.concatenate([filt.process(p) for p in np.split(x, cuts)])
    assert np.array_equal(whole, pieces)


def test_lowpass_removes_high_frequency() -> None:
    t = np.arange(0, 60, 1 / 64)
    slow, fast = np.sin(2 * np.pi * 0.2 * t), np.sin(2 * np.pi * 10 * t)
    sos = butter_sos("lowpass", 1.0, 64.0, 4)
    y = filter_causal(slow + fast, sos)
    tail = slice(640, None)
    assert np.std(y[tail] - filter_causal(slow, sos)[tail]) < 0.01  # the 10 Hz component is gone
    assert np.std(y[tail]) > 0.6  # the 0.2 Hz component passes


@pytest.mark.parametrize("cutoff", [0.0, 32.0, 50.0, (1.0, 40.0)])
def test_butter_rejects_cutoffs_outside_nyquist(cutoff: float | tuple[float, float]) -> None:
    with pytest.raises(SignalError, match="Nyquist"):
        butter_sos("bandpass" if isinstance(cutoff, tuple) else "lowpass", cutoff, 64.0)


def test_resample_irregular_interpolates_and_marks_gaps() -> None:
    ts = np.array([0.0, 0.5, 1.0, 1.5, 5.0, 5.5])
    vs = 2.0 * ts
    grid, out = resample_irregular(ts, vs, rate=2.0, max_gap=1.0)
    assert grid[0] == 0.0 and np.isclose(grid[1] - grid[0], 0.5)
    finite = np.isfinite(out)
    assert np.allclose(out[finite], 2.0 * grid[finite])
    inside_gap = (grid > 1.5) & (grid < 5.0)
    assert inside_gap.any() and np.all(np.isnan(out[inside_gap]))


def test_resample_rejects_unsorted() -> None:
    with pytest.raises(SignalError, match="non-decreasing"):
        resample_irregular(np.array([0.0, 2.0, 1.0]), np.zeros(3), rate=1.0)
