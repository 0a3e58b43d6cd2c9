"""Signal-quality indices per window: missing data, flat line, clipping, implausible beats, motion.

Each index is a fraction in ``[0, 1]`` (0 = perfect); :class:`SignalQuality` combines them into a score in
``[0, 1]`` (1 = perfect) and an ``ok`` flag. Thresholds follow common practice in wearable-signal quality work
(e.g. Orphanidou et al. 2015 for beat plausibility, Böttcher et al. 2022 for EDA/ACC data-quality checks).

References
----------
* C. Orphanidou et al. "Signal-quality indices for the electrocardiogram and photoplethysmogram: derivation and
  applications to wireless monitoring." IEEE J Biomed Health Inform 19(3):832-838, 2015.
* S. Böttcher et al. "Data quality evaluation in wearable monitoring." Scientific Reports 12:21412, 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attunexr.signals._types import FloatArray

__all__ = [
    "SignalQuality",
    "clipping_fraction",
    "flatline_fraction",
    "missing_fraction",
    "motion_index",
    "signal_quality",
]

#: acceleration-magnitude standard deviation (g) treated as full motion (index 1)
MOTION_FULL_SCALE_G = 0.2


@dataclass(frozen=True)
class SignalQuality:
    """Quality of one signal in one window. Every index is in ``[0, 1]``; 0 means no problem."""

    missing: float
    flatline: float
    clipping: float
    implausible_beats: float = 0.0
    motion: float = 0.0
    motion_weight: float = 0.5

    @property
    def score(self) -> float:
        """Combined quality in ``[0, 1]`` (1 = perfect): product of the complements of the indices."""
        s = (
            (1.0 - self.missing)
            * (1.0 - self.flatline)
            * (1.0 - self.clipping)
            * (1.0 - self.implausible_beats)
            * (1.0 - self.motion_weight * self.motion)
        )
        return float(min(1.0, max(0.0, s)))

    @property
    def ok(self) -> bool:
        """Usable: <= 20 % missing, flat or implausible, <= 5 % clipped, and not dominated by motion."""
        return bool(
            self.missing <= 0.2
            and self.flatline <= 0.2
            and self.clipping <= 0.05
            and self.implausible_beats <= 0.2
            and self.motion * self.motion_weight <= 0.4
        )


def missing_fraction(n_samples: int, duration: float, rate: float) -> float:
    """Fraction of the ``duration * rate`` expected samples that are absent."""
    expected = duration * rate
    if expected <= 0:
        return 1.0
    return float(min(1.0, max(0.0, 1.0 - n_samples / expected)))


def _runs_of_equal(x: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of runs of identical consecutive values."""
    change = np.flatnonzero(np.diff(x) != 0) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [x.size])))
    return starts, lengths


def _flat(lengths: np.ndarray, n: int, rate: float, min_duration: float) -> float:
    min_len = max(2, int(np.ceil(min_duration * rate)))
    return float(lengths[lengths >= min_len].sum() / n)


def _clip(x: FloatArray, starts: np.ndarray, lengths: np.ndarray, min_run: int) -> float:
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo == hi:
        return 1.0
    values = x[starts]
    clipped = (lengths >= min_run) & ((values == lo) | (values == hi))
    return float(lengths[clipped].sum() / x.size)


def flatline_fraction(x: FloatArray, rate: float, min_duration: float = 2.0) -> float:
    """Fraction of samples inside runs of identical values lasting at least ``min_duration`` seconds."""
    if x.size == 0:
        return 0.0
    _, lengths = _runs_of_equal(x)
    return _flat(lengths, x.size, rate, min_duration)


def clipping_fraction(x: FloatArray, min_run: int = 3) -> float:
    """Fraction of samples sitting on the window's minimum or maximum in plateaus of ``min_run`` or more samples.

    A saturated amplifier or analog-to-digital converter shows up as flat tops at the extremes of the range.
    """
    if x.size < min_run:
        return 0.0
    starts, lengths = _runs_of_equal(x)
    return _clip(x, starts, lengths, min_run)


def motion_index(acc_magnitude: FloatArray, full_scale: float = MOTION_FULL_SCALE_G) -> float:
    """Motion in ``[0, 1]``: standard deviation of the acceleration magnitude (g) relative to ``full_scale``."""
    if acc_magnitude.size < 2:
        return 0.0
    return float(min(1.0, float(np.std(acc_magnitude)) / full_scale))


def signal_quality(
    x: FloatArray,
    rate: float,
    duration: float,
    implausible_beats: float = 0.0,
    acc_magnitude: FloatArray | None = None,
    motion_weight: float = 0.5,
    flat_seconds: float = 2.0,
) -> SignalQuality:
    """All quality indices of one window of one signal.

    Parameters
    ----------
    x
        The window's raw samples (NaN samples count as missing).
    rate
        Nominal sampling rate in Hz.
    duration
        Window length in seconds.
    implausible_beats
        Fraction of rejected beat intervals (from :func:`attunexr.signals.clean_intervals`), for cardiac signals.
    acc_magnitude
        Accelerometer magnitude (g) over the same window, for the motion index.
    motion_weight
        How strongly motion lowers the score (0 for signals insensitive to motion).
    flat_seconds
        Shortest constant run counted as a flat line.
    """
    finite = x if x.size == 0 or np.isfinite(x.sum()) else x[np.isfinite(x)]
    flat = clip = 0.0
    if finite.size >= 3:
        starts, lengths = _runs_of_equal(finite)
        flat = _flat(lengths, finite.size, rate, flat_seconds)
        clip = _clip(finite, starts, lengths, 3)
    return SignalQuality(
        missing=missing_fraction(int(finite.size), duration, rate),
        flatline=flat,
        clipping=clip,
        implausible_beats=float(min(1.0, max(0.0, implausible_beats))),
        motion=motion_index(acc_magnitude) if acc_magnitude is not None else 0.0,
        motion_weight=motion_weight,
    )
