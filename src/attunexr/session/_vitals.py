"""The vital signs and per-stream signal quality of a live session: one tracker for the dashboard and the gating.

A :class:`~attunexr.session.LiveSession` feeds its :class:`VitalsTracker` every chunk it accepts; the clinician's
dashboard shows :meth:`VitalsTracker.read`, and the exposure controller's and safety monitors' inputs come from the
same reading, so what a clinician sees as "lost" or "poor" is what gates the AI.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from attunexr.recording import Chunk

__all__ = ["SignalStatus", "Vitals", "VitalsTracker"]

SignalStatus = Literal["good", "poor", "lost"]

#: Stream kinds whose presence and plausibility the tracker reports (besides heart rate and EDA).
_TRACKED = frozenset({"ppg", "ecg", "acc", "temp", "head_pose", "resp"})


@dataclass(frozen=True)
class Vitals:
    """One reading of the tracker at session time ``t``.

    Attributes
    ----------
    hr, eda
        Heart rate (bpm) and skin conductance (µS), ``None`` while the signal is lost.
    quality
        ``good``, ``poor`` or ``lost`` per signal (``hr``, ``eda`` first, then every other stream kind seen).
    last_sample_t
        Session time of each signal's last sample (what the signal-loss monitor measures gaps from).
    """

    t: float
    hr: float | None
    eda: float | None
    quality: dict[str, SignalStatus] = field(default_factory=dict)
    last_sample_t: dict[str, float] = field(default_factory=dict)

    @property
    def signals_ok(self) -> bool:
        """Heart rate and EDA, where the session has them, are both good (the AI may act on them)."""
        return all(self.quality.get(k) == "good" for k in ("hr", "eda") if k in self.quality)


class VitalsTracker:
    """Heart rate, skin conductance and signal-quality badges of one live session.

    Heart rate comes from an ``hr`` stream, else from the last ``beat_window_s`` seconds of ECG (or PPG) with the project's beat detectors (median RR), or until then from inter-beat intervals; EDA is the mean of the latest chunk. A
    signal is ``good`` when it delivered plausible values within the last ``stale_after`` seconds, ``poor`` when
    its values are out of physiological range (HR outside 30-220 bpm, EDA below 0.01 µS, a typical E4
    contact-loss floor), ``lost`` otherwise. Times are on the session clock (the chunks' timestamps), so a reading
    does not depend on when the chunks were delivered.

    Parameters
    ----------
    stale_after
        Seconds without samples after which a signal is lost.
    beat_window_s
        Seconds of ECG/PPG used for a heart rate from beats.
    """

    def __init__(self, stale_after: float = 3.0, beat_window_s: float = 8.0) -> None:
        self.stale_after = float(stale_after)
        self.beat_window_s = float(beat_window_s)
        self.last_seen: dict[str, float] = {}
        self.last_ok: dict[str, bool] = {}
        self.hr: float | None = None
        self.eda: float | None = None
        self.clock = -math.inf  # the latest sample time seen on any stream
        self._wave: dict[str, deque[tuple[NDArray[np.float64], NDArray[np.float64], float]]] = {
            "ecg": deque(), "ppg": deque()}
        self._has_hr_stream = False

    def push(self, chunk: Chunk) -> None:
        """Take one chunk into account (any stream kind; kinds the tracker does not report are ignored)."""
        if len(chunk) == 0:
            return
        t = float(chunk.t_last)
        self.clock = max(self.clock, t)
        v = np.asarray(chunk.values if chunk.values.ndim == 1 else chunk.values[:, 0], dtype=np.float64)
        if chunk.kind == "hr":
            self._has_hr_stream = True
            self.hr = float(np.nanmean(v))
            self._seen("hr", t, 30 <= self.hr <= 220)
        elif chunk.kind == "ibi" and self.hr is None:
            ibi = float(np.nanmean(v))
            self.hr = 60.0 / ibi if ibi > 0 else None
            self._seen("hr", t, self.hr is not None and 30 <= self.hr <= 220)
        elif chunk.kind == "eda":
            self.eda = float(np.nanmean(v))
            self._seen("eda", t, self.eda >= 0.01)
        elif chunk.kind in _TRACKED:
            self._seen(chunk.kind, t, bool(np.all(np.isfinite(v))))
            if chunk.kind in self._wave and chunk.rate:
                buf = self._wave[chunk.kind]
                buf.append((np.asarray(chunk.timestamps, dtype=np.float64), v, float(chunk.rate)))
                while buf and buf[-1][0][-1] - buf[0][0][0] > self.beat_window_s:
                    buf.popleft()

    def _seen(self, name: str, t: float, ok: bool) -> None:
        self.last_seen[name] = max(t, self.last_seen.get(name, -math.inf))
        self.last_ok[name] = ok

    def _hr_from_waveform(self, kind: str) -> float | None:
        """Heart rate from the last seconds of ECG (or PPG) with the project's beat detector (median RR)."""
        buf = self._wave[kind]
        if not buf:
            return None
        rate = buf[-1][2]
        x = np.concatenate([v for _, v, _ in buf])
        if len(x) < rate * 4:
            return None
        from attunexr.signals import ecg_peaks, ppg_peaks

        peaks = (ecg_peaks if kind == "ecg" else ppg_peaks)(x, float(rate))
        if len(peaks) < 3:
            return None
        rr = np.diff(peaks) / rate
        rr = rr[(rr > 0.27) & (rr < 2.0)]
        return float(60.0 / np.median(rr)) if len(rr) >= 2 else None

    def read(self, t: float) -> Vitals:
        """The vitals and quality badges at session time ``t``."""
        if not self._has_hr_stream:
            for kind in ("ecg", "ppg"):
                if kind in self.last_seen and t - self.last_seen[kind] <= self.stale_after:
                    hr = self._hr_from_waveform(kind)
                    if hr is not None:
                        self.hr = hr
                        self._seen("hr", self.last_seen[kind], 30 <= hr <= 220)
                    break
        quality: dict[str, SignalStatus] = {}
        for name in ("hr", "eda", *sorted(k for k in self.last_seen if k not in ("hr", "eda"))):
            seen = self.last_seen.get(name)
            if seen is None or t - seen > self.stale_after:
                quality[name] = "lost"
            else:
                quality[name] = "good" if self.last_ok.get(name, False) else "poor"
        return Vitals(t=t, hr=self.hr if quality["hr"] != "lost" else None,
                      eda=self.eda if quality["eda"] != "lost" else None, quality=quality,
                      last_sample_t=dict(self.last_seen))
