"""Resampling of irregularly timed samples onto a regular grid."""

from __future__ import annotations

import numpy as np

from attunexr.errors import SignalError
from attunexr.signals._types import FloatArray

__all__ = ["resample_irregular"]


def resample_irregular(
    timestamps: FloatArray,
    values: FloatArray,
    rate: float,
    t0: float | None = None,
    t1: float | None = None,
    max_gap: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Linearly interpolate irregular samples onto the grid ``t0 + k / rate``.

    Parameters
    ----------
    timestamps, values
        Sample times (s, non-decreasing) and values, shape ``(n,)`` or ``(n, c)``.
    rate
        Output rate in Hz.
    t0, t1
        Grid start and (exclusive) end; default to the first and last timestamp.
    max_gap
        Grid points inside a gap longer than this many seconds become NaN (a gap is never bridged by a straight
        line that would look like real data). ``None`` bridges every gap.

    Returns
    -------
    grid, resampled
        The grid times and the interpolated values (NaN outside the data and inside long gaps).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if ts.ndim != 1 or vs.shape[:1] != ts.shape:
        raise SignalError(f"resample: {vs.shape} values do not match {ts.shape} timestamps")
    if not (rate > 0 and np.isfinite(rate)):
        raise SignalError(f"resample: rate must be a positive number of Hz, got {rate!r}")
    if ts.size and np.any(np.diff(ts) < 0):
        raise SignalError("resample: timestamps must be non-decreasing; sort them first")
    if ts.size < 2:
        raise SignalError("resample: need at least two samples")
    start = float(ts[0]) if t0 is None else float(t0)
    stop = float(ts[-1]) if t1 is None else float(t1)
    grid = (
        start
        + np.arange(max(0, int(np.floor((stop - start) * rate + 1e-9)) + (1 if t1 is None else 0))) / rate
    )
    cols = vs.reshape(vs.shape[0], -1)
    out = np.empty((grid.size, cols.shape[1]), dtype=np.float64)
    for j in range(cols.shape[1]):
        out[:, j] = np.interp(grid, ts, cols[:, j], left=np.nan, right=np.nan)
    if max_gap is not None:
        gaps = np.flatnonzero(np.diff(ts) > max_gap)
        for g in gaps:
            out[(grid > ts[g]) & (grid < ts[g + 1])] = np.nan
    return grid, (out[:, 0] if vs.ndim == 1 else out)
