"""Lomb-Scargle power spectral density of unevenly sampled beat intervals.

References
----------
* N. R. Lomb. "Least-squares frequency analysis of unequally spaced data." Astrophys Space Sci 39:447-462, 1976.
* J. D. Scargle. "Studies in astronomical time series analysis. II." Astrophys J 263:835-853, 1982.
* G. D. Clifford, L. Tarassenko. "Quantifying errors in spectral estimates of HRV due to beat replacement and
  resampling." IEEE TBME 52(4):630-638, 2005 (Lomb-Scargle is preferable to resampling for RR series).
"""

from __future__ import annotations

import numpy as np

from attunexr.signals import FloatArray

__all__ = ["FREQS", "lomb_psd"]

#: frequency grid (Hz) for HRV spectra: 0.01 Hz steps from 0.04 Hz (start of LF) to 0.5 Hz; a 60-s window resolves
#: about 1/60 Hz, so the grid oversamples the spectrum 1.7 times
_F0 = 0.04
_DF = 0.01
FREQS: FloatArray = np.round(_F0 + _DF * np.arange(47, dtype=np.float64), 10)
_W = 2.0 * np.pi * FREQS
_TWO_PI = 2.0 * np.pi


def lomb_psd(t: FloatArray, y: FloatArray) -> FloatArray:
    """One-sided PSD (units of ``y`` squared per Hz) of samples ``y`` at times ``t`` on :data:`FREQS`.

    Normalised so that integrating over frequency gives the variance of ``y`` (Parseval for a full band).
    The time shift ``tau`` of Lomb's formulation is applied through trigonometric identities, so only one sine
    and one cosine matrix are evaluated. Phases are reduced modulo 2 pi in double precision and their sines and
    cosines taken in single precision (vectorised by NumPy, about 15 times faster; absolute error below 1e-6),
    then every sum is accumulated in double precision.
    """
    n = y.size
    yc = y - y.mean()
    wt = np.outer(_W, t - t[0])
    wt = (wt - _TWO_PI * np.floor(wt * (1.0 / _TWO_PI))).astype(np.float32)
    c = np.cos(wt).astype(np.float64)
    s = np.sin(wt).astype(np.float64)
    yc_c = np.einsum("ij,j->i", c, yc)  # einsum, not BLAS: no thread start-up for tiny products
    yc_s = np.einsum("ij,j->i", s, yc)
    cc = np.einsum("ij,ij->i", c, c)
    cs = np.einsum("ij,ij->i", c, s)
    ss = n - cc
    two_tau = np.arctan2(2.0 * cs, cc - ss)
    ct = np.cos(0.5 * two_tau)
    st = np.sin(0.5 * two_tau)
    num_c = ct * yc_c + st * yc_s
    num_s = ct * yc_s - st * yc_c
    den_c = ct * ct * cc + 2.0 * ct * st * cs + st * st * ss
    den_s = st * st * cc - 2.0 * ct * st * cs + ct * ct * ss
    p = 0.5 * (num_c * num_c / np.maximum(den_c, 1e-12) + num_s * num_s / np.maximum(den_s, 1e-12))
    span = float(t[-1] - t[0])
    return np.asarray(p * 2.0 * span / n, dtype=np.float64)
