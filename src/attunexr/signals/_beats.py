"""Heart-beat detection: ECG R-peaks and PPG systolic peaks with Elgendi's two-moving-averages method.

Both detectors share one streaming core (:class:`BlockPeakDetector`): a Butterworth band-pass (state carried across
calls), an energy signal, two moving averages centred on each sample (a short one spanning a QRS complex or a
systolic wave, a long one spanning a beat), and "blocks of interest" where the short average exceeds the long one
plus an offset. Each block at least as wide as the short window yields one peak (the maximum of the filtered signal
inside it); a refractory period drops peaks that follow an accepted peak too closely.

The ECG detector filters causally (IIR); its R-peaks lag the raw ones by a constant group delay that cancels in
beat intervals. The PPG detector filters with the *zero-phase* form of its Butterworth band-pass, as Elgendi et al.
(2013) and NeuroKit2 do (forward-backward filtering), made causal with a bounded look-ahead: a linear-phase FIR whose
taps are the forward-backward impulse response (the autocorrelation of the Butterworth impulse response) truncated
to +-1 s, so its output is the zero-phase output delayed by exactly 1 s, which is compensated. A causal IIR
band-pass would reshape each pulse depending on the preceding beats and move the maximum; at 64 Hz (Empatica E4) a
sample is 15.6 ms, so each systolic peak is also interpolated to sub-sample precision (vertex of the parabola
through the maximum and its two neighbours).

References
----------
* M. Elgendi, M. Jonkman, F. De Boer. "Frequency bands effects on QRS detection." BIOSIGNALS 2010, 428-431.
  (ECG: 8-20 Hz band, 97 ms QRS window, 611 ms beat window, offset 0.08 * mean energy.)
* M. Elgendi, I. Norton, M. Brearley, D. Abbott, D. Schuurmans. "Systolic peak detection in acceleration
  photoplethysmograms measured from emergency responders in tropical conditions." PLoS ONE 8(10): e76585, 2013.
  (PPG: 0.5-8 Hz zero-phase band, clipped squared signal, 111 ms peak window, 667 ms beat window, offset
  0.02 * mean energy.)
* J. Pan, W. J. Tompkins. "A real-time QRS detection algorithm." IEEE TBME 32(3):230-236, 1985 (refractory period).
* F. Gustafsson. "Determining the initial states in forward-backward filtering." IEEE TSP 44(4):988-992, 1996
  (forward-backward filtering = filtering with the autocorrelation of the impulse response).
* T. Bragge, M. P. Tarvainen, P. A. Karjalainen. "High-resolution QRS fiducial point corrections in sparsely
  sampled ECG recordings." Physiol. Meas. 26(5):743-751, 2005 (sub-sample interpolation of fiducial points).

attunexr differs from the papers in one deliberate way: the offset uses the mean energy of the *last 10 s* instead
of the whole recording, so that the detector is causal (with a bounded look-ahead) and gives the same peaks
whether the signal arrives whole or in pieces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from attunexr.errors import SignalError
from attunexr.signals._filters import CausalFilter, butter_sos
from attunexr.signals._ring import ArrayBuffer
from attunexr.signals._types import FloatArray, IntArray

__all__ = ["BlockPeakDetector", "DetectorParams", "ECG_PARAMS", "PPG_PARAMS", "ecg_peaks", "ppg_peaks"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorParams:
    """Parameters of :class:`BlockPeakDetector` (times in seconds, frequencies in Hz).

    ``zero_phase`` > 0 filters with the linear-phase FIR equivalent of forward-backward (zero-phase) filtering,
    truncated to +-``zero_phase`` seconds (that much extra look-ahead); 0 filters causally. ``interpolate``
    refines each peak time to sub-sample precision by parabolic interpolation.
    """

    band: tuple[float, float]
    order: int
    w_peak: float
    w_beat: float
    beta: float
    positive_only: bool
    refractory: float
    max_block: float
    offset_window: float = 10.0
    gap: float = 0.5
    zero_phase: float = 0.0
    interpolate: bool = False


#: Elgendi et al. (2010) QRS detector; refractory 0.25 s (240 bpm).
ECG_PARAMS = DetectorParams(
    band=(8.0, 20.0),
    order=3,
    w_peak=0.097,
    w_beat=0.611,
    beta=0.08,
    positive_only=False,
    refractory=0.25,
    max_block=0.5,
)
#: Elgendi et al. (2013) systolic-peak detector on the zero-phase 0.5-8 Hz band-pass (order 2, as NeuroKit2's
#: ``ppg_clean``); refractory 0.3 s as in NeuroKit2's implementation. The +-1 s truncation keeps the FIR's gain
#: within 2 % of the forward-backward filter's above 0.5 Hz (the heart-rate band); peaks are interpolated.
PPG_PARAMS = DetectorParams(
    band=(0.5, 8.0),
    order=2,
    w_peak=0.111,
    w_beat=0.667,
    beta=0.02,
    positive_only=True,
    refractory=0.3,
    max_block=1.2,
    zero_phase=1.0,
    interpolate=True,
)


def zero_phase_kernel(sos: FloatArray, rate: float, half_span: float) -> FloatArray:
    """Taps of the linear-phase FIR equivalent of forward-backward filtering with ``sos``, truncated to +-half_span s.

    Forward-backward filtering has the impulse response ``k(n) = sum_m h(m) h(m + n)`` (the autocorrelation of the
    filter's impulse response ``h``; Gustafsson 1996), i.e. the magnitude response squared and zero phase. Applied
    causally, the truncated ``k`` delays its output by exactly ``half_span`` (rounded to samples).
    """
    m = int(round(half_span * rate))
    imp = np.zeros(m + int(round(30.0 * rate)))
    imp[0] = 1.0
    h = sps.sosfilt(sos, imp)
    return np.asarray(np.correlate(h, h, mode="full")[h.size - 1 - m : h.size + m], dtype=np.float64)


class BlockPeakDetector:
    """Streaming two-moving-averages peak detector; feed samples with :meth:`update`, read :attr:`peak_times`.

    The result depends only on the samples and their timestamps, never on how they were split across calls.
    A gap longer than ``params.gap`` seconds restarts the band-pass filter on the first sample after it.

    Parameters
    ----------
    rate
        Nominal sampling rate in Hz.
    params
        :data:`ECG_PARAMS`, :data:`PPG_PARAMS` or your own.
    """

    def __init__(self, rate: float, params: DetectorParams) -> None:
        high = min(params.band[1], 0.45 * rate)
        self.rate = float(rate)
        self.params = params
        self.filter = CausalFilter(butter_sos("bandpass", (params.band[0], high), rate, params.order))
        self._h1 = max(1, int(round(params.w_peak * rate)) // 2)
        self._h2 = max(1, int(round(params.w_beat * rate)) // 2)
        self._wm = max(1, int(round(params.offset_window * rate)))
        self._min_width = max(1, int(round(params.w_peak * rate)))
        self._max_width = max(self._min_width + 1, int(round(params.max_block * rate)))
        self._fir = np.zeros(0, dtype=np.float64)
        self._fir_hist: FloatArray | None = None
        if params.zero_phase > 0.0:
            self._fir = zero_phase_kernel(self.filter.sos, rate, params.zero_phase)
        # output sample j of the FIR is centred on input sample j - shift
        self._shift = (self._fir.size - 1) // 2 if self._fir.size else 0
        # samples needed after a block's maximum before its peak is final (the interpolation's right neighbour)
        self._reach = 2 if params.interpolate else 0
        self._history = self._wm + 2 * self._h2 + 8 + self._shift
        # buffers of recent samples; the global index of the first live sample is _base
        self._tb = ArrayBuffer()
        self._sb = ArrayBuffer()
        self._cb = ArrayBuffer()
        self._t = self._tb.view
        self._s = self._sb.view
        self._c = self._cb.view
        self._base = 0
        self._n = 0
        self._c_last = 0.0
        self._t_last: float | None = None
        self._next = 0
        self._open: int | None = None
        self._pending: list[tuple[int, float]] = []
        self._seg_starts: list[int] = [0]
        self._last_peak_t = -np.inf
        self._peaks: list[float] = []
        self._amps: list[float] = []
        self._peak_arr = np.empty(0, dtype=np.float64)
        self._amp_arr = np.empty(0, dtype=np.float64)
        self._dirty = False

    # --- public ----------------------------------------------------------------------------------
    @property
    def lookahead(self) -> float:
        """Seconds of data needed after a time before every peak up to that time is final."""
        return (self._shift + max(self._h2, self._reach) + self._max_width + 2) / self.rate

    @property
    def processed_until(self) -> float:
        """Timestamp up to which blocks have been evaluated (peaks before ``processed_until - max_block`` are final)."""
        k = self._next - 1 - self._shift - self._base
        return float(self._t[k]) if 0 <= k < self._t.size else -np.inf

    @property
    def peak_times(self) -> FloatArray:
        """Times (s) of the accepted peaks so far, increasing."""
        self._materialize()
        return self._peak_arr

    @property
    def peak_amplitudes(self) -> FloatArray:
        """Filtered-signal value at each accepted peak."""
        self._materialize()
        return self._amp_arr

    def discard_peaks_before(self, t: float) -> None:
        """Forget peaks earlier than ``t`` (live use keeps only what open windows need)."""
        self._materialize()
        k = int(np.searchsorted(self._peak_arr, t, side="left"))
        if k:
            self._peak_arr = self._peak_arr[k:]
            self._amp_arr = self._amp_arr[k:]

    def update(self, t: FloatArray, x: FloatArray) -> None:
        """Feed the next samples (timestamps ``t`` in seconds, increasing; NaN samples are dropped)."""
        t = np.asarray(t, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        if t.shape != x.shape or t.ndim != 1:
            raise SignalError(f"beat detector: {x.shape} samples do not match {t.shape} timestamps")
        finite = np.isfinite(x)
        if not finite.all():
            t, x = t[finite], x[finite]
        if t.size == 0:
            return
        s = self._filter_with_gaps(t, x)
        z = np.maximum(s, 0.0) if self.params.positive_only else s
        z = z * z
        c = np.cumsum(np.concatenate(([self._c_last], z)))[1:]
        self._c_last = float(c[-1])
        self._tb.append(t)
        self._sb.append(s)
        self._cb.append(c)
        self._views()
        self._n += t.size
        self._evaluate()
        self._drain()
        self._trim()

    # --- internals -------------------------------------------------------------------------------
    def _fir_process(self, x: FloatArray) -> FloatArray:
        """Causal linear-phase FIR with carried history; output ``n`` is centred on input ``n - shift``.

        Each output is one dot product of the same taps over the same inputs, so it does not depend on chunking.
        A (re)started filter assumes the first sample extended to the past.
        """
        m = self._fir.size
        if self._fir_hist is None:
            self._fir_hist = np.full(m - 1, x[0])
        xx = np.concatenate((self._fir_hist, x))
        y = np.convolve(xx, self._fir, mode="valid")
        self._fir_hist = xx[-(m - 1) :].copy()
        return np.asarray(y, dtype=np.float64)

    def _band(self, x: FloatArray) -> FloatArray:
        return self._fir_process(x) if self._shift else self.filter.process(x)

    def _filter_with_gaps(self, t: FloatArray, x: FloatArray) -> FloatArray:
        prev = self._t_last if self._t_last is not None else t[0]
        steps = np.diff(np.concatenate(([prev], t)))
        cuts = np.flatnonzero(steps > self.params.gap)
        self._t_last = float(t[-1])
        if cuts.size == 0:
            return self._band(x)
        out = np.empty_like(x)
        # a chunk may start right after a gap (cut at 0): each segment once, never an empty one
        bounds = sorted({0, *cuts.tolist(), x.size})
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if a in cuts:
                self.filter.reset()
                self._fir_hist = None
                self._seg_starts.append(self._n + a)
                del self._seg_starts[:-8]
            out[a:b] = self._band(x[a:b])
        return out

    def _csum(self, hi: IntArray, lo: IntArray) -> FloatArray:
        """Sum of energy over global indices ``[lo, hi]`` (``lo`` clamped at 0)."""
        lo = np.maximum(lo, 0)
        upper = self._c[hi - self._base]
        below = lo - 1 - self._base
        lower = np.where(lo > 0, self._c[np.maximum(below, 0)], 0.0)
        return np.asarray(upper - lower, dtype=np.float64)

    def _evaluate(self) -> None:
        stop = self._n - self._h2  # centres c with c + h2 <= n - 1
        if stop <= self._next:
            return
        h1, h2, wm = self._h1, self._h2, self._wm
        if self._next >= max(h2 + 1, wm - h2):
            # steady state: every average spans its full width, so plain slices of the cumulative sum suffice
            # (the same subtractions and divisions as the general branch, hence identical values)
            cs = self._c
            k0, k1 = self._next - self._base, stop - self._base
            up2 = cs[k0 + h2 : k1 + h2]
            ma_peak = (cs[k0 + h1 : k1 + h1] - cs[k0 - h1 - 1 : k1 - h1 - 1]) / float(2 * h1 + 1)
            ma_beat = (up2 - cs[k0 - h2 - 1 : k1 - h2 - 1]) / float(2 * h2 + 1)
            offset = self.params.beta * (up2 - cs[k0 + h2 - wm : k1 + h2 - wm]) / float(wm)
        else:
            c = np.arange(self._next, stop, dtype=np.int64)
            n1 = (c + h1) - np.maximum(c - h1, 0) + 1
            n2 = (c + h2) - np.maximum(c - h2, 0) + 1
            nm = (c + h2) - np.maximum(c + h2 - wm + 1, 0) + 1
            ma_peak = self._csum(c + h1, c - h1) / n1
            ma_beat = self._csum(c + h2, c - h2) / n2
            offset = self.params.beta * self._csum(c + h2, c + h2 - wm + 1) / nm
        mask = ma_peak > ma_beat + offset
        prev = np.int8(1 if self._open is not None else 0)
        d = np.diff(np.concatenate(([prev], mask.astype(np.int8))))
        starts = (np.flatnonzero(d == 1) + self._next).tolist()
        ends = (np.flatnonzero(d == -1) + self._next).tolist()
        si = 0
        for e in ends:
            if self._open is None:
                self._open = starts[si]
                si += 1
            self._close_block(self._open, e)
            self._open = None
        if si < len(starts):
            self._open = starts[si]
        self._next = stop

    def _close_block(self, start: int, end: int) -> None:
        width = end - start
        if width < self._min_width or width > self._max_width:
            return
        seg = self._s[start - self._base : end - self._base]
        k = int(np.argmax(seg))
        self._pending.append((start + k, float(seg[k])))

    def _drain(self) -> None:
        """Finalise the block maxima whose neighbours have arrived, in order (for the refractory period)."""
        while self._pending and self._pending[0][0] + self._reach < self._n:
            g, amp = self._pending.pop(0)
            seg0 = max(v for v in self._seg_starts if v <= g) if self._seg_starts[0] <= g else 0
            if g - self._shift < seg0:
                continue  # the FIR output is centred on the padding before the segment's first sample
            j = g - self._base  # filtered sample
            i = j - self._shift  # input sample it is centred on
            tp = float(self._t[i])
            if self.params.interpolate:
                tp = self._interpolate(i, j, tp)
            if tp - self._last_peak_t < self.params.refractory:
                continue
            self._last_peak_t = tp
            self._peaks.append(tp)
            self._amps.append(amp)
            self._dirty = True

    def _interpolate(self, i: int, j: int, tp: float) -> float:
        """Sub-sample peak time: vertex of the parabola through the filtered maximum and its two neighbours.

        Parabolic interpolation of a sampled maximum (Bragge et al. 2005); the offset is limited to half a sample on
        either side; a neighbour across a gap (or missing) leaves the sample time unchanged.
        """
        if i < 1 or j + 1 >= self._s.size or i + 1 >= self._t.size:
            return tp
        t0, t2 = float(self._t[i - 1]), float(self._t[i + 1])
        if tp - t0 > self.params.gap or t2 - tp > self.params.gap:
            return tp
        y0, y1, y2 = float(self._s[j - 1]), float(self._s[j]), float(self._s[j + 1])
        denom = y0 - 2.0 * y1 + y2
        if not denom < 0.0:
            return tp
        d = min(0.5, max(-0.5, 0.5 * (y0 - y2) / denom))
        return tp + d * ((t2 - tp) if d >= 0.0 else (tp - t0))

    def _views(self) -> None:
        self._t = self._tb.view
        self._s = self._sb.view
        self._c = self._cb.view

    def _materialize(self) -> None:
        if self._dirty:
            self._peak_arr = np.concatenate((self._peak_arr, np.asarray(self._peaks, dtype=np.float64)))
            self._amp_arr = np.concatenate((self._amp_arr, np.asarray(self._amps, dtype=np.float64)))
            self._peaks.clear()
            self._amps.clear()
            self._dirty = False

    def _trim(self) -> None:
        keep_from = self._next - self._history
        if self._open is not None and self._next - self._open <= self._max_width:
            keep_from = min(keep_from, self._open)
        if self._pending:
            keep_from = min(keep_from, self._pending[0][0] - self._shift - 2)
        cut = keep_from - self._base
        if cut > 0:
            self._tb.drop_front(cut)
            self._sb.drop_front(cut)
            self._cb.drop_front(cut)
            self._base += cut
            self._views()


def _detect(x: FloatArray, rate: float, params: DetectorParams) -> IntArray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise SignalError(f"peak detection needs a one-dimensional signal, got shape {x.shape}")
    det = BlockPeakDetector(rate, params)
    t = np.arange(x.size, dtype=np.float64) / rate
    det.update(t, x)
    return np.asarray(np.rint(det.peak_times * rate), dtype=np.int64)


def ecg_peaks(ecg: FloatArray, rate: float) -> IntArray:
    """Sample indices of the R-peaks of an ECG (Elgendi et al. 2010 two-moving-averages detector).

    The returned positions are maxima of the causally 8-20 Hz band-passed ECG, so they lag the raw R-peak by the
    filter's group delay (a few tens of milliseconds, constant for a given rate); intervals are unaffected.
    """
    return _detect(ecg, rate, ECG_PARAMS)


def ppg_peaks(ppg: FloatArray, rate: float) -> IntArray:
    """Sample indices of the systolic peaks of a PPG (Elgendi et al. 2013 two-moving-averages detector).

    Peaks are maxima of the zero-phase 0.5-8 Hz band-passed pulse wave (no delay), rounded to the nearest sample;
    :class:`BlockPeakDetector` gives the sub-sample times.
    """
    return _detect(ppg, rate, PPG_PARAMS)
