"""Butterworth filters in second-order sections, applied causally with carried state.

A causal filter whose state is carried from one call to the next gives bit-identical output whether a signal is
filtered whole or in pieces; this is what lets :class:`attunexr.features.FeatureStream` reproduce
:func:`attunexr.features.extract` exactly.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from scipy import signal as sps

from attunexr.errors import SignalError
from attunexr.signals._types import FloatArray

try:  # the compiled kernel behind scipy.signal.sosfilt; calling it directly skips ~0.1 ms of checks per call
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - other SciPy layouts fall back to the public function
    _sosfilt_kernel = None

__all__ = ["CausalFilter", "butter_sos", "filter_causal", "filter_zero_phase"]

logger = logging.getLogger(__name__)

BandType = Literal["lowpass", "highpass", "bandpass", "bandstop"]


def butter_sos(
    btype: BandType, cutoff: float | tuple[float, float], rate: float, order: int = 2
) -> FloatArray:
    """Design a digital Butterworth filter as second-order sections.

    Parameters
    ----------
    btype
        ``"lowpass"``, ``"highpass"``, ``"bandpass"`` or ``"bandstop"``.
    cutoff
        Cut-off frequency in Hz, or ``(low, high)`` for band filters.
    rate
        Sampling rate in Hz.
    order
        Filter order (per edge).

    Returns
    -------
    numpy.ndarray
        SOS matrix of shape ``(n_sections, 6)``.

    Raises
    ------
    SignalError
        If a cut-off is not strictly between 0 and the Nyquist frequency.
    """
    if not (rate > 0 and np.isfinite(rate)):
        raise SignalError(f"sampling rate must be a positive number of Hz, got {rate!r}")
    nyq = rate / 2.0
    edges = np.atleast_1d(np.asarray(cutoff, dtype=np.float64))
    if np.any(edges <= 0) or np.any(edges >= nyq):
        raise SignalError(
            f"{btype} cut-off {cutoff!r} Hz must lie strictly between 0 and the Nyquist frequency {nyq:g} Hz"
        )
    wn: float | FloatArray = float(edges[0]) if edges.size == 1 else edges
    sos = sps.butter(order, wn, btype=btype, fs=rate, output="sos")
    return np.asarray(sos, dtype=np.float64)


def filter_zero_phase(x: FloatArray, sos: FloatArray) -> FloatArray:
    """Forward-backward (zero-phase) filtering; offline only, for reference and plots."""
    return np.asarray(sps.sosfiltfilt(sos, x), dtype=np.float64)


def filter_causal(x: FloatArray, sos: FloatArray) -> FloatArray:
    """Causal filtering of a whole signal, started in steady state on its first sample."""
    return CausalFilter(sos).process(np.asarray(x, dtype=np.float64))


class CausalFilter:
    """A causal SOS filter that carries its state across calls.

    The state is initialised in steady state for the first sample it sees (``sosfilt_zi * x[0]``), so the output
    depends only on the samples, never on how they were split into calls.

    Parameters
    ----------
    sos
        Second-order sections, e.g. from :func:`butter_sos`.
    """

    def __init__(self, sos: FloatArray) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._zi_unit = np.asarray(sps.sosfilt_zi(self.sos), dtype=np.float64)
        self._zi: FloatArray | None = None  # shape (1, n_sections, 2)

    def reset(self) -> None:
        """Forget the state; the next sample restarts the filter in steady state (used after a gap)."""
        self._zi = None

    def process(self, x: FloatArray) -> FloatArray:
        """Filter the next samples; returns as many samples as given."""
        if x.size == 0:
            return np.empty(0, dtype=np.float64)
        if self._zi is None:
            self._zi = np.ascontiguousarray((self._zi_unit * float(x[0]))[None, :, :])
        if _sosfilt_kernel is not None:
            y = np.array(x, dtype=np.float64, order="C").reshape(1, -1)
            _sosfilt_kernel(self.sos, y, self._zi)  # filters y and updates the state in place
            return np.asarray(y[0], dtype=np.float64)
        out, zf = sps.sosfilt(self.sos, x, zi=self._zi[0])
        self._zi = np.ascontiguousarray(np.asarray(zf, dtype=np.float64)[None, :, :])
        return np.asarray(out, dtype=np.float64)
