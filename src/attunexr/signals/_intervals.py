"""Beat-interval artifact rejection.

Two rules, applied in order:

1. **Physiological range**: intervals outside ``[low, high]`` seconds (default 0.3-2.0 s, i.e. 30-200 bpm) are
   missed or extra beats.
2. **Local-median rule**: an interval deviating from the median of its neighbours (``2 * k + 1`` in-range intervals)
   by more than ``max_deviation`` (default 20 %) is rejected, the "20 % rule" of Malik et al. (1989), in the
   median-filter form used by Berntson et al. (1990) and Kubios HRV (Tarvainen et al. 2014, threshold correction).

Rejected intervals are removed, never interpolated; successive differences (RMSSD, pNN50) only use pairs of
accepted intervals that follow each other without a gap.

References
----------
* M. Malik et al. "Heart rate variability in relation to prognosis after myocardial infarction: selection of optimal
  processing techniques." European Heart Journal 10(12):1060-1074, 1989.
* G. G. Berntson, K. S. Quigley, J. F. Jang, S. T. Boysen. "An approach to artifact identification: application to
  heart period data." Psychophysiology 27(5):586-598, 1990.
* M. P. Tarvainen et al. "Kubios HRV - heart rate variability analysis software." Comput Methods Programs Biomed
  113(1):210-220, 2014.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from attunexr.signals._types import BoolArray, FloatArray

__all__ = ["clean_intervals"]


def clean_intervals(
    intervals: FloatArray,
    low: float = 0.3,
    high: float = 2.0,
    max_deviation: float = 0.2,
    k: int = 5,
) -> BoolArray:
    """Mask of plausible beat intervals.

    Parameters
    ----------
    intervals
        Beat-to-beat intervals in seconds.
    low, high
        Physiological range in seconds.
    max_deviation
        Largest accepted relative deviation from the local median.
    k
        Half-width of the local-median window, in intervals.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` for accepted intervals.
    """
    rr = np.asarray(intervals, dtype=np.float64)
    ok = np.isfinite(rr) & (rr >= low) & (rr <= high)
    idx = np.flatnonzero(ok)
    if idx.size >= 3:
        inside = rr[idx]
        med = _running_median(inside, min(k, inside.size // 2))
        bad = np.abs(inside - med) > max_deviation * med
        ok[idx[bad]] = False
    return ok


def _running_median(x: FloatArray, half: int) -> FloatArray:
    """Median of each ``2 * half + 1`` neighbourhood, edges extended with the first/last value."""
    padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    windows = np.sort(sliding_window_view(padded, 2 * half + 1), axis=1)
    return np.asarray(windows[:, half], dtype=np.float64)
